"""Benchmark: how far interval bound propagation proves each bundled model robust, and how long the proof takes
(run by hand; prints a table, asserts nothing).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/certified_radii.py [--n 500] [--models base robust ...]

For the first ``--n`` test images: each model's clean accuracy, the median and the 90th percentile of the largest
L-inf radius IBP certifies per image (``advdemo.certificates.certified_radius``, bisection on [0, 0.5]; 0 for an
image the model gets wrong), the share certified at L-inf 0.1, 0.2 and 0.3, and the time of one image's radius as
the app computes it (the median of 20 images, after a first call that builds the graph).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo import PRETRAINED_DIR  # noqa: E402
from advdemo.certificates import ibp  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.demo.analysis import certified_radius  # noqa: E402
from advdemo.models import load_model, predictions  # noqa: E402
from advdemo.models.bundled import BUNDLED_NAMES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="test images (default 500)")
    parser.add_argument("--models", nargs="+", default=list(BUNDLED_NAMES), help="bundled models to measure")
    args = parser.parse_args()
    _, test = load_mnist()
    images, labels = test.images[:args.n], test.labels[:args.n]
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}; {args.n} test images")
    print("| model | clean | median certified radius | 90th percentile | certified 0.1 | 0.2 | 0.3 | one digit |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        path = PRETRAINED_DIR / f"{name}.keras"
        if not path.is_file():
            print(f"| {name} | (no {path.name}) |")
            continue
        model = load_model(path)
        radii = ibp.certified_radius(model, images, labels)
        shares = [np.mean(ibp.certified(model, images, labels, eps)) for eps in (0.1, 0.2, 0.3)]
        clean = np.mean(predictions(model, images) == labels)
        certified_radius(model, images[0, ..., 0], int(labels[0]))  # builds what the first call builds
        seconds = []
        for index in range(20):
            start = time.perf_counter()
            certified_radius(model, images[index, ..., 0], int(labels[index]))
            seconds.append(time.perf_counter() - start)
        print(f"| {name} | {clean:.1%} | {np.median(radii):.4f} | {np.percentile(radii, 90):.4f} | "
              + " | ".join(f"{share:.1%}" for share in shares) + f" | {1000 * statistics.median(seconds):.0f} ms |")


if __name__ == "__main__":
    main()
