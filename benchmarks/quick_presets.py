"""Benchmark: the sidebar's presets, trained and measured as the app does it (run by hand, prints numbers).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/quick_presets.py [--presets quick quick-robust] [--write]

For each preset, one whole job as the sidebar runs it (``TrainingJob``: training with the live view's measurement
after every epoch, then the new model's evaluation on 1,000 test images and its L-inf curve on 300):

* the training time and the measurement time (wall clock, data loading excluded), and each figure's seconds;
* how good the job's ETA was: from 20% of each stage on, the largest error of the ETA shown against the time the
  stage really took (``ETA error``); the app promises 25%;
* the clean accuracy on the 10,000 test images, and white-box PGD-40 (step eps/10, random start, one restart) at
  L-inf 0.2 on the fixed random sample of 1,000 test images the cards use (seed 0). Targets: each quick model
  trained in <= 2 minutes on 2 cores with clean >= 97.5%; the quick robust one >= 70% under that PGD-40.

``--write`` stores the times in ``pretrained/preset-times.json``, which the sidebar reads to say how long each
preset takes on the machine it was measured on (``advdemo.training.presets.preset_times``). Run it on an
otherwise idle machine; it prints the CPU it ran on.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.attacks.gradient import attack  # noqa: E402
from advdemo.configs import AttackConfig, Norm  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.models import predictions  # noqa: E402
from advdemo.models.cards import cpu_name, write_json_atomically  # noqa: E402
from advdemo.training.jobs import Snapshot, State, TrainingJob  # noqa: E402
from advdemo.training.presets import PRESET_TIMES_PATH, PRESETS, read_preset_times  # noqa: E402


def eta_error(trace: list[tuple[float, State, float, float | None]], state: State) -> float | None:
    """The largest |ETA shown - time really left| / stage length from 20% of ``state``'s stage on."""
    points = [(at, fraction, eta) for at, seen, fraction, eta in trace if seen is state]
    if len(points) < 2:
        return None
    start, end = points[0][0], points[-1][0]
    errors = [abs(eta - (end - at)) / (end - start) for at, fraction, eta in points
              if fraction >= 0.2 and eta is not None and end > start]
    return max(errors) if errors else None


def run_preset(key: str, train, test) -> dict:
    preset = PRESETS[key]
    saved: dict = {}
    trace: list[tuple[float, State, float, float | None]] = []
    stages: dict[State, float] = {}
    figures: list[dict] = []
    figure_started = [0.0]

    def on_update(snapshot: Snapshot) -> None:
        now = time.perf_counter()
        stages.setdefault(snapshot.state, now)
        trace.append((now, snapshot.state, snapshot.fraction, snapshot.eta_seconds))
        if len(snapshot.figures) > len(figures):
            description, value = snapshot.figures[-1]
            figures.append({"figure": description, "seconds": round(now - figure_started[0], 2),
                            "accuracy": round(value, 4)})
            figure_started[0] = now
        elif snapshot.state is State.EVALUATING and not figures and not figure_started[0]:
            figure_started[0] = now

    job = TrainingJob(preset.request(key), load_data=lambda: (train, test),
                      save=lambda model, card: saved.update(model=model, card=card),
                      update_card=lambda card: None, on_update=on_update)
    final = job.run()
    ended = time.perf_counter()
    if final.state is not State.DONE:
        raise RuntimeError(f"{key}: {final.state.value}: {final.message}")
    train_seconds = stages[State.EVALUATING] - stages[State.TRAINING]
    measure_seconds = ended - stages[State.EVALUATING]
    model, card = saved["model"], saved["card"]
    return {"train_seconds": round(train_seconds, 1), "measure_seconds": round(measure_seconds, 1),
            "epoch_seconds": card["training"]["epoch_seconds"], "figures": figures,
            "eta_error": {"training": eta_error(trace, State.TRAINING),
                          "measuring": eta_error(trace, State.EVALUATING)},
            "model": model}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["quick", "quick-robust"], choices=sorted(PRESETS))
    parser.add_argument("--write", action="store_true", help=f"store the times in {PRESET_TIMES_PATH}")
    args = parser.parse_args()
    train, test = load_mnist()
    chosen = np.sort(np.random.default_rng(0).permutation(len(test))[:1000])
    x, y = test.images[chosen], test.labels[chosen]
    cpu = f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores"
    print(f"CPU: {cpu}", flush=True)
    times = read_preset_times()
    for key in args.presets:
        load_before = os.getloadavg()[0]
        result = run_preset(key, train, test)
        load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        model = result.pop("model")
        clean = np.mean(predictions(model, test.images) == test.labels)
        pgd = np.mean(predictions(model, attack(model, x, y, AttackConfig.pgd(0.2, Norm.LINF, steps=40))) == y)
        errors = {stage: "n/a" if error is None else f"{error:.0%}" for stage, error in result["eta_error"].items()}
        epochs = ", ".join(f"{seconds:.0f}" for seconds in result["epoch_seconds"])
        per_figure = ", ".join(f"{figure['figure']} {figure['seconds']:.0f} s" for figure in result["figures"])
        print(f"{key}: training {result['train_seconds']:.0f} s (epochs {epochs} s), measuring "
              f"{result['measure_seconds']:.0f} s ({per_figure}); ETA error from 20% on: training "
              f"{errors['training']}, measuring {errors['measuring']}; clean {clean:.2%} (10,000 test images); "
              f"PGD-40 L-inf 0.2 {pgd:.2%} (1,000)", flush=True)
        times[key] = {**result, "clean": round(float(clean), 4), "pgd40_linf_0.2": round(float(pgd), 4),
                      "cpu": cpu, "conditions": load, "date": datetime.date.today().isoformat(),
                      "command": "python benchmarks/quick_presets.py --presets " + key + " --write"}
    if args.write:
        write_json_atomically(PRESET_TIMES_PATH, times)
        print(f"wrote {PRESET_TIMES_PATH}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
