"""Benchmark: seconds per training epoch on full MNIST at batch 128 (run by hand, prints medians).

    ADVDEMO_MNIST=../shared/datasets/mnist.npz python benchmarks/train_epoch.py [--epochs 3]

Measures normal training and the tutorial's FGSM adversarial regularization (and, with --trades,
the robust recipe's TRADES with PGD-10 neighbours) through advdemo.training.train_model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.config import TrainConfig  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.recipes import RECIPES  # noqa: E402
from advdemo.training import train_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="mnist.npz (else $ADVDEMO_MNIST)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per setting; the first includes tracing")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--trades", action="store_true", help="also time the robust recipe (slow)")
    args = parser.parse_args()
    train, _ = load_mnist(args.data)
    settings = {"normal": None, "fgsm-adversarial (tutorial)": RECIPES["tutorial"].adv_config}
    if args.trades:
        settings["trades pgd-10 (robust)"] = RECIPES["robust"].adv_config
    for name, adv_config in settings.items():
        result = train_model(train, TrainConfig(epochs=args.epochs, batch_size=args.batch_size), adv_config)
        times = result.epoch_seconds
        print(f"{name:<30} batch {args.batch_size}: epochs {', '.join(f'{t:.1f}' for t in times)} s; "
              f"median {statistics.median(times):.1f} s; "
              f"median after the first {statistics.median(times[1:] or times):.1f} s",
              flush=True)


if __name__ == "__main__":
    main()
