"""Benchmark: our training epoch against the NSL tutorial's own code, side by side (run by hand, prints ratios).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/vs_nsl.py --nsl-python ~/nsl-venv/bin/python \
        [--rounds 3] [--epochs 3] [--examples 60000] [--modes normal fgsm]

Each run is a fresh subprocess: benchmarks/ours_side.py under this interpreter (advdemo's train_model,
Keras 3) and benchmarks/nsl_side.py under the NSL virtual environment's (the tutorial's Keras 2 code with
tensorflow-cpu 2.15.1, keras 2.15.0, neural-structured-learning 1.4.0, numpy 1.26.4; benchmarks/README.md says
how to make it). The two sides alternate within every round and mode, the first side swapping from round to
round (ours, nsl, then nsl, ours, ...), so that the machine's load falls on both alike. Batch 128 (--batch-size),
float32, the first --examples training images. A run's figure is its median epoch after the first (the first
traces the graphs); a side's figure is the median of its runs' figures; the ratio is ours / NSL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

HERE = Path(__file__).resolve().parent
SIDES = {"ours": HERE / "ours_side.py", "nsl": HERE / "nsl_side.py"}
#: The targets for ours / NSL, float32.
TARGETS = {"normal": 0.9, "fgsm": 0.8}
#: The NSL side's pinned versions.
NSL_PINS = {"tensorflow-cpu": "2.15.1", "keras": "2.15.0", "neural-structured-learning": "1.4.0", "numpy": "1.26.4"}
MAKE_NSL_VENV = ("python3.11 -m venv ~/nsl-venv && ~/nsl-venv/bin/pip install tensorflow-cpu==2.15.1 keras==2.15.0 "
                 "neural-structured-learning==1.4.0 numpy==1.26.4")


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"vs_nsl: {message}", file=sys.stderr)
    sys.exit(code)


def nsl_venv_error(reason: str) -> NoReturn:
    fail(f"{reason}\nThe NSL side needs its own virtual environment (Keras 2; advdemo's Keras 3 cannot run NSL). "
         f"Make it once (needs internet or a wheel mirror):\n    {MAKE_NSL_VENV}\n"
         "then pass --nsl-python ~/nsl-venv/bin/python (see benchmarks/README.md).")


def cpu_description() -> dict[str, object]:
    """The CPU model, logical CPUs usable here, and the ISA flags that decide float32/bfloat16 speed."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    if (model == "unknown" or not flags) and shutil.which("lscpu"):
        output = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in output.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "Flags" and not flags:
                flags = set(value.split())
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "cpus": cpus, "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx": sorted(flag for flag in flags if flag.startswith("amx")), "flags_known": bool(flags)}


def side_env(side: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if side == "nsl":  # nothing of this venv may leak into the other interpreter
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
    return env


def run_json(command: list[str], side: str, timeout: float | None = None) -> tuple[int, dict | None, str]:
    """Runs ``command``; returns its exit code, its last stdout line that is a JSON object, and its stderr."""
    completed = subprocess.run(command, capture_output=True, text=True, env=side_env(side), timeout=timeout)
    parsed = None
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                continue
            break
    return completed.returncode, parsed, completed.stderr


def check_nsl_python(nsl_python: str | None) -> dict[str, str]:
    """The NSL interpreter's versions; exits 2 with how to make the venv if it is missing or lacks NSL."""
    if not nsl_python:
        nsl_venv_error("--nsl-python is missing.")
    path = Path(nsl_python).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        nsl_venv_error(f"--nsl-python {nsl_python} is not an executable file.")
    try:
        code, parsed, stderr = run_json([str(path), str(SIDES["nsl"]), "--versions"], "nsl", timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        nsl_venv_error(f"could not run {path}: {error}")
    if code != 0 or parsed is None:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code}"
        nsl_venv_error(f"{path} cannot run the NSL side: {last}")
    found = parsed["versions"]
    off = {name: found.get(name, "absent") for name, pin in NSL_PINS.items() if found.get(name) != pin}
    if off:
        print(f"warning: the NSL venv differs from the pinned versions: "
              f"{', '.join(f'{name} {version} (pinned {NSL_PINS[name]})' for name, version in off.items())}",
              flush=True)
    return found


def run_side(side: str, python: str, mode: str, args: argparse.Namespace) -> dict:
    command = [python, str(SIDES[side]), "--data", str(args.data), "--mode", mode, "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--examples", str(args.examples), "--seed", str(args.seed)]
    code, parsed, stderr = run_json(command, side)
    if code != 0 or parsed is None or len(parsed.get("epoch_seconds", [])) != args.epochs:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        fail(f"the {side} side failed (exit code {code}): {' '.join(command)}\n{tail}", code=1)
    return parsed


def after_first(epoch_seconds: list[float]) -> float:
    """A run's figure: the median epoch after the first (which traces the graphs)."""
    return statistics.median(epoch_seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsl-python", help="the NSL venv's interpreter, e.g. ~/nsl-venv/bin/python")
    parser.add_argument("--data", default=os.environ.get("ADVDEMO_MNIST"),
                        help="Keras-format mnist.npz (default $ADVDEMO_MNIST)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side per mode")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2: the first is not counted)")
    parser.add_argument("--examples", type=int, default=60000, help="training images per epoch (the first N)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--modes", nargs="+", choices=tuple(TARGETS), default=list(TARGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write every run's epoch times and the summary here")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2: the first epoch (graph tracing) is not counted")
    if args.rounds < 1 or args.examples < 1 or args.batch_size < 1:
        parser.error("--rounds, --examples and --batch-size must be >= 1")
    nsl_versions = check_nsl_python(args.nsl_python)
    if not args.data:
        fail("no MNIST file: pass --data mnist.npz or set ADVDEMO_MNIST (Keras format: x_train, y_train, x_test, "
             "y_test, uint8)")
    if not Path(args.data).is_file():
        fail(f"MNIST file {args.data} does not exist")
    pythons = {"ours": sys.executable, "nsl": str(Path(args.nsl_python).expanduser())}
    cpu = cpu_description()
    load_before = os.getloadavg()
    print(f"CPU: {cpu['model']}, {cpu['cpus']} logical CPUs; avx512f: {'yes' if cpu['avx512f'] else 'no'}, "
          f"amx: {', '.join(cpu['amx']) or 'no'}; load average {load_before[0]:.2f}", flush=True)
    runs: dict[str, dict[str, list[dict]]] = {mode: {"ours": [], "nsl": []} for mode in args.modes}
    started = time.perf_counter()
    for round_index in range(args.rounds):
        order = ("ours", "nsl") if round_index % 2 == 0 else ("nsl", "ours")
        for mode in args.modes:
            for side in order:
                result = run_side(side, pythons[side], mode, args)
                runs[mode][side].append(result)
                print(f"round {round_index + 1}/{args.rounds} {mode:<6} {side:<4}: epochs "
                      f"{', '.join(f'{t:.2f}' for t in result['epoch_seconds'])} s; "
                      f"median after the first {after_first(result['epoch_seconds']):.2f} s", flush=True)
    load_after = os.getloadavg()
    ours_versions = runs[args.modes[0]]["ours"][0]["versions"]

    print()
    print(f"{cpu['model']} ({cpu['cpus']} logical CPUs, avx512f {'yes' if cpu['avx512f'] else 'no'}, "
          f"amx {', '.join(cpu['amx']) or 'no'}); load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {time.perf_counter() - started:.0f} s in all")
    print("ours: " + ", ".join(f"{name} {version}" for name, version in ours_versions.items()))
    print("NSL:  " + ", ".join(f"{name} {version}" for name, version in nsl_versions.items()))
    print(f"batch {args.batch_size}, float32, {args.examples:,} images, {args.epochs} epochs per run, "
          f"{args.rounds} rounds; s/epoch = median over rounds of each run's median epoch after the first")
    print()
    print(f"{'mode':<8} {'ours s/epoch':>12} {'NSL s/epoch':>12} {'ours/NSL':>9} {'target':>8}  {'':<7}  per round")
    summary = {}
    for mode in args.modes:
        ours = [after_first(run["epoch_seconds"]) for run in runs[mode]["ours"]]
        nsl = [after_first(run["epoch_seconds"]) for run in runs[mode]["nsl"]]
        ratio = statistics.median(ours) / statistics.median(nsl)
        per_round = [o / n for o, n in zip(ours, nsl)]
        met = "met" if ratio <= TARGETS[mode] else "not met"
        print(f"{mode:<8} {statistics.median(ours):>12.2f} {statistics.median(nsl):>12.2f} {ratio:>8.2f}x "
              f"{f'<= {TARGETS[mode]:.2f}x':>8}  {met:<7}  {', '.join(f'{r:.2f}x' for r in per_round)}")
        summary[mode] = {"ours_seconds": statistics.median(ours), "nsl_seconds": statistics.median(nsl),
                         "ratio": ratio, "target": TARGETS[mode], "per_round_ratios": per_round}
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, "load_average": [load_before[0], load_after[0]],
                                         "settings": {k: str(v) for k, v in vars(args).items()},
                                         "versions": {"ours": ours_versions, "nsl": nsl_versions},
                                         "summary": summary, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
