"""Benchmark: how much the cards' scaled-down strongest attack loses against AutoAttack's standard budget (run by
hand, prints numbers).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/budget_check.py [--model pretrained/tutorial.keras]

On the first 500 test images and on a random 500 (seed 0), at L-inf 0.2: accuracy under ``EVALUATION_BUDGET``
(APGD-CE 100 + APGD-T 1x100 + Square 300) and under the standard budget (APGD-T 9x100 + Square 5000), with the
seconds each took. On 2 Zen 4 cores (2026-11-27, tutorial model): 59.2% vs 59.2% (first 500, 71 s vs 420 s),
69.4% vs 68.6% (random 500, 54 s vs 442 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.config import Norm  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.models import load_model, predictions  # noqa: E402
from advdemo.strongest import EVALUATION_BUDGET, strongest_attack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pretrained/tutorial.keras")
    parser.add_argument("--eps", type=float, default=0.2)
    args = parser.parse_args()
    model = load_model(args.model)
    _, test = load_mnist()
    ours = dataclasses.replace(EVALUATION_BUDGET, norm=Norm.LINF, epsilon=args.eps)
    standard = dataclasses.replace(ours, target_classes=9, square_queries=5000)
    samples = (("first 500", np.arange(500)), ("random 500", np.random.default_rng(0).permutation(len(test))[:500]))
    for label, chosen in samples:
        images, labels = test.images[chosen], test.labels[chosen]
        for name, config in (("ours", ours), ("standard", standard)):
            started = time.perf_counter()
            adversarial = strongest_attack(model, images, labels, config)
            accuracy = np.mean(predictions(model, adversarial) == labels)
            print(f"{label}: {name} ({config.describe()}): {accuracy:.1%} ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
