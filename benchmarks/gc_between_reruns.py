"""Benchmark: what Python's garbage collector costs the app between reruns, with and without ``gc.freeze``
(run by hand; prints medians in ms, asserts nothing).

    python benchmarks/gc_between_reruns.py [--reruns 40]

Builds the heap the app has after its first page (TensorFlow and Keras imported, the bundled base and robust
models loaded, their FGSM and strongest attacks compiled on one gallery digit), then measures, in one process:

1. ``gc.collect(2)``, the full collection Streamlit runs after every script run (``runner.postScriptGC``, on by
   default), on that heap as it is;
2. ``--reruns`` simulated reruns (the attack and predictions on one digit, as a slider move with a warm cache
   does), counting the full collections Python starts by itself and their total time: what remains when
   ``runner.postScriptGC`` is turned off;
3. the same two after ``gc.freeze()`` on that heap.

If Python's own full collections stay rare, turning ``runner.postScriptGC`` off (what the project's
``.streamlit/config.toml`` does) removes the cost as well as ``gc.freeze`` would, without code. Compare the
rows within one run; absolute times depend on the CPU and its load.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo import PRETRAINED_DIR  # noqa: E402
from advdemo.data import load_gallery  # noqa: E402
from advdemo.demo import analysis  # noqa: E402
from advdemo.demo.analysis import Method, Scenario  # noqa: E402
from advdemo.models import load_model  # noqa: E402


def full_collections(work, reruns: int) -> tuple[int, float]:
    """(how many generation-2 collections Python started during ``reruns`` calls of ``work``, their total ms)."""
    started: dict[str, float] = {}
    count, total = 0, 0.0

    def watch(phase: str, info: dict) -> None:
        nonlocal count, total
        if info["generation"] != 2:
            return
        if phase == "start":
            started["at"] = time.perf_counter()
        else:
            count += 1
            total += (time.perf_counter() - started.pop("at")) * 1000

    gc.callbacks.append(watch)
    try:
        for _ in range(reruns):
            work()
    finally:
        gc.callbacks.remove(watch)
    return count, total


def collect_ms(times: int = 7) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        gc.collect(2)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reruns", type=int, default=40, help="simulated reruns per variant (default 40)")
    args = parser.parse_args()
    models = {name: load_model(PRETRAINED_DIR / f"{name}.keras") for name in ("base", "robust")}
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    image, label = gallery.images[0, ..., 0], int(gallery.labels[0])
    for method in (Method.FGSM, Method.STRONGEST):  # compile what the first page compiles
        analysis.analyse(models, list(models), image, label, Scenario(method=method))

    def rerun() -> None:
        analysis.analyse(models, list(models), image, label, Scenario(method=Method.FGSM))

    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"objects tracked after the first page: {len(gc.get_objects()):,}")
    for variant in ("as it is", "after gc.freeze()"):
        if variant != "as it is":
            gc.collect()
            gc.freeze()
        collect = collect_ms()
        count, total = full_collections(rerun, args.reruns)
        print(f"{variant:>18}: gc.collect(2) {collect:7.1f} ms per rerun (runner.postScriptGC on); "
              f"{count} automatic full collections in {args.reruns} reruns, {total:7.1f} ms in all "
              f"(what runner.postScriptGC off leaves)")


if __name__ == "__main__":
    main()
