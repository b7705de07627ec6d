"""Benchmark: gradient attacks against the gradient-free Sparse-RS in L1 (run by hand, prints numbers).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/l1_search.py [--model pretrained/robust.keras]

On 200 random test images (seed 0): accuracy under APGD-CE-100 in L1 with sparse L1 descent at several sparsities
(the top 1, 5, 10, 20% of the movable pixels) and under Sparse-RS with 300 and 1,000 queries, at L1 eps 10 and
50. On the robust model (2 Zen 4 cores, 2026-11-27): APGD 82-85% at eps 10 and 21.5-24% at eps 50 whatever the
sparsity; Sparse-RS 20.0% (300 queries) and 6.5% (1,000) at eps 10, 0.0% at eps 50: the L-inf-trained model
masks L1 gradients.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.attacks.gradient import (
    attack,  # noqa: E402
    norms,  # noqa: E402
)
from advdemo.attacks.sparse_rs import sparse_rs_attack  # noqa: E402
from advdemo.configs import AttackConfig, Norm  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.models import load_model, predictions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pretrained/robust.keras")
    args = parser.parse_args()
    model = load_model(args.model)
    _, test = load_mnist()
    chosen = np.random.default_rng(0).choice(len(test), 200, replace=False)
    images, labels = test.images[chosen], test.labels[chosen]

    def accuracy(adversarial: np.ndarray) -> str:
        return f"{np.mean(predictions(model, adversarial) == labels):.1%}"

    print(f"clean {accuracy(images)}", flush=True)
    defaults = norms.sparse_l1_direction.__defaults__
    for eps in (10.0, 50.0):
        for quantile in (0.99, 0.95, 0.9, 0.8):
            norms.sparse_l1_direction.__defaults__ = (quantile,)  # the attacks' sparsity, for this run only
            print(f"L1 {eps:g}: APGD-CE-100, top {1 - quantile:.0%} of movable pixels: "
                  f"{accuracy(attack(model, images, labels, AttackConfig.apgd(eps, Norm.L1, 100)))}", flush=True)
        norms.sparse_l1_direction.__defaults__ = defaults
        for queries in (300, 1000):
            print(f"L1 {eps:g}: Sparse-RS {queries} queries: "
                  f"{accuracy(sparse_rs_attack(model, images, labels, eps, queries))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
