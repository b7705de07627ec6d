"""Benchmark: accuracy under the strongest attack as its random search gets more queries, for every bundled model
and every eps of the cards' strongest figures: where does doubling the budget stop moving the figure?

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/budget_study.py [--n 200] [--models robust tutorial ...] \
        [--json docs/budget_study.json]

On a fixed random sample of the test set (the first ``--n`` of the permutation with seed 0, the same images the
cards' 1,000-image sample starts with), for each model and (norm, eps):

1. APGD-CE 100 + APGD-T 9x100 (AutoAttack's gradient members at its standard budget);
2. on the images they leave standing, the random search (Square in L-inf and L2, Sparse-RS in L1) with 1,250,
   2,500, 5,000, 10,000, ... queries, each run on its own (each budget has its own schedule), until doubling the
   queries moves the figure by less than ``--tolerance`` points or ``--max-queries`` is reached;
3. the gradient members doubled (APGD-CE 200 + APGD-T 9x200, another random start) on what the largest search
   left: what more steps would have added.

Prints one line per measurement, with seconds, and writes every figure to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo import PRETRAINED_DIR  # noqa: E402
from advdemo.attacks.gradient import attack  # noqa: E402
from advdemo.attacks.sparse_rs import sparse_rs_attack  # noqa: E402
from advdemo.attacks.square import square_attack  # noqa: E402
from advdemo.configs import AttackConfig, AttackLoss, Norm  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.evaluation import HEADLINE_EPSILONS  # noqa: E402
from advdemo.models import load_model, predictions  # noqa: E402


def gradient_members(model, images, labels, norm: Norm, eps: float, steps: int, seed: int) -> np.ndarray:
    """Per image, whether it survives APGD-CE ``steps`` and APGD-T 9x``steps`` (each run on the survivors)."""
    standing = predictions(model, images) == labels
    members = [AttackConfig.apgd(eps, norm, steps)] + [
        AttackConfig.apgd(eps, norm, steps, loss=AttackLoss.DLR, target_rank=rank) for rank in range(2, 11)]
    for number, config in enumerate(members):
        chosen = np.flatnonzero(standing)
        if chosen.size == 0:
            break
        adversarial = attack(model, images[chosen], labels[chosen], config, seed=seed * 100 + number)
        standing[chosen] = predictions(model, adversarial) == labels[chosen]
    return standing


def search(model, images, labels, norm: Norm, eps: float, queries: int, seed: int) -> np.ndarray:
    """Per image, whether it survives the random search of ``norm`` with ``queries`` queries."""
    if norm is Norm.L1:
        adversarial = sparse_rs_attack(model, images, labels, eps, queries=queries, seed=seed)
    else:
        adversarial = square_attack(model, images, labels, eps, norm, queries=queries, seed=seed)
    return predictions(model, adversarial) == labels


def study(model, images, labels, norm: Norm, eps: float, args) -> dict:
    n = len(labels)
    started = time.perf_counter()
    standing = gradient_members(model, images, labels, norm, eps, 100, seed=0)
    row = {"norm": norm.value, "eps": eps, "n": n, "clean": float(np.mean(predictions(model, images) == labels)),
           "apgd": float(standing.mean()), "apgd_seconds": round(time.perf_counter() - started, 1), "search": []}
    print(f"  {norm.label} {eps:g}: APGD-CE 100 + APGD-T 9x100: {standing.mean():.1%} "
          f"({row['apgd_seconds']:.0f} s)", flush=True)
    chosen = np.flatnonzero(standing)
    queries, previous, last = args.first_queries, None, standing
    while chosen.size and queries <= args.max_queries:
        started = time.perf_counter()
        survived = standing.copy()
        survived[chosen] = search(model, images[chosen], labels[chosen], norm, eps, queries, seed=0)
        seconds = time.perf_counter() - started
        moved = None if previous is None else 100 * (previous - survived.mean())
        row["search"].append({"queries": queries, "accuracy": float(survived.mean()), "seconds": round(seconds, 1),
                              "moved_by_doubling": None if moved is None else round(moved, 2)})
        print(f"    + {'Sparse-RS' if norm is Norm.L1 else 'Square'} {queries}: {survived.mean():.1%} "
              f"({seconds:.0f} s{'' if moved is None else f'; doubling moved it {moved:.1f} points'})", flush=True)
        last = survived
        if moved is not None and abs(moved) < args.tolerance:
            break
        previous, queries = survived.mean(), queries * 2
    left = np.flatnonzero(last)
    if left.size:
        started = time.perf_counter()
        doubled = last.copy()
        doubled[left] = gradient_members(model, images[left], labels[left], norm, eps, 200, seed=1)
        row["doubled_apgd"] = {"accuracy": float(doubled.mean()), "seconds": round(time.perf_counter() - started, 1)}
        last = doubled
        print(f"    then APGD-CE 200 + APGD-T 9x200 on what is left: {doubled.mean():.1%} "
              f"({row['doubled_apgd']['seconds']:.0f} s)", flush=True)
    # the images nothing above fooled: the per-image verdict of the strongest attack this study ran
    row["standing"] = np.flatnonzero(last).tolist()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="test images (a fixed random sample, seed 0)")
    parser.add_argument("--models", nargs="*", default=["robust", "tutorial", "base", "masked"])
    parser.add_argument("--first-queries", type=int, default=1250)
    parser.add_argument("--max-queries", type=int, default=40000)
    parser.add_argument("--tolerance", type=float, default=0.5, help="points")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    _, test = load_mnist()
    chosen = np.random.default_rng(0).permutation(len(test))[:args.n]
    images, labels = test.images[chosen], test.labels[chosen]
    results = {"n": args.n, "sample": "np.random.default_rng(0).permutation(10000)[:n]",
               "processor": platform.processor() or platform.machine(), "models": {}}
    for name in args.models:
        model = load_model(PRETRAINED_DIR / f"{name}.keras")
        print(f"{name}:", flush=True)
        results["models"][name] = [study(model, images, labels, norm, eps, args)
                                   for norm, epsilons in HEADLINE_EPSILONS.items() for eps in epsilons]
        if args.json:
            args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
