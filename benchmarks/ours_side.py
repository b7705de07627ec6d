"""Our side of benchmarks/vs_nsl.py: advdemo's train_model, timed per epoch, as nsl_side.py times NSL's.

    python benchmarks/ours_side.py --data mnist.npz --mode fgsm [--epochs 3] [--examples 60000]

``--mode normal`` trains the tutorial's CNN with no adversarial term; ``--mode fgsm`` with the "tutorial"
recipe's adversarial regularization (CE(x) + 0.2 * CE(x_adv), one FGSM step of 0.2 in L-inf), both through
``train_model`` exactly as the app and the CLI call it: adam 1e-3, float32, a progress callback after every
batch and a stop flag polled after every batch (both do nothing here, but they cost what they cost).
The epoch times are ``TrainResult.epoch_seconds`` (on_epoch_begin to on_epoch_end, like nsl_side.py's).

Prints one JSON line: {"side": "ours", "mode": ..., "epoch_seconds": [...], "versions": {...}}.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.configs import TrainConfig  # noqa: E402
from advdemo.configs.recipes import RECIPES  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.training.adversarial import train_model  # noqa: E402

MODES = {"normal": None, "fgsm": RECIPES["tutorial"].adv_config}


def versions() -> dict[str, str]:
    """Installed versions of what this side runs on."""
    found = {"python": platform.python_version()}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "numpy"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="mnist.npz (else $ADVDEMO_MNIST)")
    parser.add_argument("--mode", choices=tuple(MODES), default="normal",
                        help="normal training, or the tutorial recipe's adversarial regularization (FGSM neighbours)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--examples", type=int, default=60000, help="train on the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, _ = load_mnist(args.data)
    train = train.head(args.examples)
    calls = {"progress": 0, "stop": 0}

    def on_progress(_progress) -> None:
        calls["progress"] += 1

    def should_stop() -> bool:
        calls["stop"] += 1
        return False

    result = train_model(train, TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed),
                         MODES[args.mode], on_progress=on_progress, should_stop=should_stop)
    print(json.dumps({"side": "ours", "mode": args.mode, "batch_size": args.batch_size, "examples": len(train),
                      "epoch_seconds": result.epoch_seconds, "callbacks": calls, "versions": versions()}),
          flush=True)


if __name__ == "__main__":
    main()
