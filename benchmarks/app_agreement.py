"""Benchmark: does the app's strongest attack (``APP_BUDGET``, one digit at a time) give the same verdict per image
as the cards' converged budget, and how long does it take per model and digit?

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/app_agreement.py \
        --verdicts robust=runs/robust.npz tutorial=runs/tutorial.npz ... [--n 100] [--chains 8 ...]

The reference verdicts are the per-image results that ``python -m advdemo.evaluate ... --verdicts FILE`` wrote
while measuring a card's strongest figures (the budget doubled until a doubling moved the figure by less than
half a point). For each figure in those files, the app's attack runs on the first ``--n`` of its images, one
at a time as the page runs it (after one warm-up call that traces the compiled loops). Prints, per model and
(norm, eps): the agreement, the images the app calls HELD that the reference fools (the app too weak) and the
other way round, and the median and 95th percentile seconds per image; then the lowest agreement.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo import PRETRAINED_DIR  # noqa: E402
from advdemo.attacks.strongest import strongest_attack
from advdemo.configs import (
    APP_BUDGET,  # noqa: E402
    Norm,  # noqa: E402
)
from advdemo.data import load_mnist  # noqa: E402
from advdemo.models import load_model, predictions  # noqa: E402

LABELS = {norm.label: norm for norm in Norm}


def figures(path: Path) -> list[tuple[Norm, float, np.ndarray, np.ndarray]]:
    """(norm, eps, test-set indices, held) of each strongest figure in a ``--verdicts`` file."""
    found = []
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            if key.startswith("held/"):
                label, eps = key.removeprefix("held/strongest ").rsplit(" ", 1)
                found.append((LABELS[label], float(eps), data[f"images/{key[5:]}"], data[key]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", nargs="+", required=True, metavar="MODEL=FILE",
                        help="the bundled model and the .npz that evaluate --verdicts wrote for it")
    parser.add_argument("--n", type=int, default=100, help="the first N images of each figure's sample")
    parser.add_argument("--only", nargs="*", default=None, metavar="NORM:EPS", help="e.g. linf:0.3 l2:2")
    for field in ("apgd_steps", "target_classes", "square_queries", "sparse_rs_queries", "chains"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(APP_BUDGET, field))
    args = parser.parse_args()
    budget = dataclasses.replace(APP_BUDGET, apgd_steps=args.apgd_steps, target_classes=args.target_classes,
                                 square_queries=args.square_queries, sparse_rs_queries=args.sparse_rs_queries,
                                 chains=args.chains)
    _, test = load_mnist()
    print(f"app budget {budget.describe()} (L1: {dataclasses.replace(budget, norm=Norm.L1).describe()}), "
          f"the first {args.n} images of each figure's sample, one at a time; {platform.processor() or ''} "
          f"{os.cpu_count()} cores", flush=True)
    worst = 1.0
    for pair in args.verdicts:
        name, path = pair.split("=", 1)
        model = load_model(PRETRAINED_DIR / f"{name}.keras")
        for norm, eps, indices, held_reference in sorted(figures(Path(path)), key=lambda item: (item[0], item[1])):
            if args.only and f"{norm.value}:{eps:g}" not in args.only:
                continue
            indices, held_reference = indices[:args.n], held_reference[:args.n]
            images, labels = test.images[indices], test.labels[indices]
            config = dataclasses.replace(budget, norm=norm, epsilon=eps)
            strongest_attack(model, images[:1], labels[:1], config)  # traces the compiled loops
            held, seconds = np.zeros(len(indices), bool), []
            for i in range(len(indices)):
                started = time.perf_counter()
                adversarial = strongest_attack(model, images[i:i + 1], labels[i:i + 1], config)
                seconds.append(time.perf_counter() - started)
                held[i] = predictions(model, adversarial)[0] == labels[i]
            agreement = float(np.mean(held == held_reference))
            worst = min(worst, agreement)
            print(f"{name:9} {norm.label:5} {eps:<4g}: agreement {agreement:.1%} of {len(held)}; app HELD where "
                  f"the cards fool: {int(np.sum(held & ~held_reference))}, app FOOLED where the cards hold: "
                  f"{int(np.sum(~held & held_reference))}; accuracy app {held.mean():.1%}, cards "
                  f"{held_reference.mean():.1%}; seconds per image: median {np.median(seconds):.2f}, "
                  f"p95 {np.percentile(seconds, 95):.2f}", flush=True)
    print(f"lowest agreement: {worst:.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
