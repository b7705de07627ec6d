"""Benchmark: where the app's start goes, step by step, in one fresh process (run by hand; prints seconds).

    python benchmarks/start_breakdown.py [--repeats 3]

The README's run command reaches its first prediction after: Streamlit's own start, then the first page's run,
which imports the app's modules (TensorFlow among them), loads the default models and the gallery, and
computes the first attack, the per-image ε sweep and the smallest flipping ε. This script does the same work
in the same order without the server, in a fresh interpreter per repeat (the disk cache warm after the first),
and times each step:

1. ``import streamlit`` (the server's own start imports it; Tornado and the websocket are not counted);
2. ``import tensorflow`` and ``keras``;
3. the app's own modules (``advdemo.ui.*``, which also import Altair, pandas and matplotlib);
4. loading the default models (``advdemo.models.load_model``) and the gallery;
5. the first attack on the default digit (FGSM, L-inf 0.2; ``analysis.analyse``: traces the attack per model);
6. the per-image sweep (``analysis.sweep_point`` at each of ``sweep_epsilons``: the same compiled attacks at new ε).

Compare the total with ``python benchmarks/app_latency.py --repeats 1`` (the real server and a browser:
server start to the first verdict on screen).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import streamlit
mark("import streamlit")
import tensorflow, keras
mark("import tensorflow + keras")
sys.path.insert(0, sys.argv[1])
from advdemo import PRETRAINED_DIR
from advdemo.data import load_gallery
from advdemo.models import load_model
from advdemo.models.registry import DEFAULT_MODELS
from advdemo.demo import analysis
from advdemo.ui import explain, inputs, resources, results, state, style, tour, training
mark("import the app's modules")
models = {name: load_model(PRETRAINED_DIR / f"{name}.keras") for name in DEFAULT_MODELS}
gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
mark("load the default models and the gallery")
index = inputs.default_gallery_index(gallery)
image, label = gallery.images[index, :, :, 0], int(gallery.labels[index])
scenario = analysis.Scenario()
analysis.analyse(models, list(models), image, label, scenario)
mark("first attack (FGSM L-inf 0.2, traced per model)")
for eps in analysis.sweep_epsilons(scenario.norm, scenario.epsilon):
    analysis.sweep_point(models, list(models), image, label, dataclasses.replace(scenario, epsilon=float(eps)))
mark("per-image eps sweep")
print(json.dumps([(name, at - marks[0][1]) for name, at in marks[1:]]))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    runs = []
    for repeat in range(args.repeats):
        began = time.perf_counter()
        output = subprocess.run([sys.executable, "-c", CHILD, str(REPO)], env=env, capture_output=True, text=True,
                                check=True).stdout
        total = time.perf_counter() - began
        marks = json.loads(output.strip().splitlines()[-1])
        runs.append(marks)
        print(f"repeat {repeat + 1}: {total:.2f} s including the interpreter's start", flush=True)
    print(f"\n{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'step':<52} {'median s':>9} {'cumulative':>11}")
    previous = [0.0] * len(runs)
    for step, (name, _) in enumerate(runs[0]):
        cumulative = sorted(run[step][1] for run in runs)[len(runs) // 2]
        own = sorted(run[step][1] - prev for run, prev in zip(runs, previous))[len(runs) // 2]
        previous = [run[step][1] for run in runs]
        print(f"{name:<52} {own:>9.2f} {cumulative:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
