"""Command line: build ``pretrained/gallery.npz``, the MNIST test digits bundled so the app works offline.

    python -m advdemo.gallery --data /path/to/mnist.npz

picks ``--per-class`` digits of every class from the start of the MNIST test set, plus ``--hard`` digits
that the base model classifies correctly but gets wrong under a small FGSM attack (L-inf ``--hard-eps``),
at most 500 in all, stored as uint8 with their test-set indices.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from advdemo import PRETRAINED_DIR
from advdemo.attacks.gradient import fgsm
from advdemo.data import GALLERY_PATH, load_mnist
from advdemo.models import load_model, predict_logits

ATTRIBUTION = """\
The digits in gallery.npz are {count} images of the MNIST test set (their indices are stored as
test_indices). MNIST: Yann LeCun, Corinna Cortes and Christopher J. C. Burges, "The MNIST database of
handwritten digits", a derivative of NIST Special Databases 1 and 3. Yann LeCun and Corinna Cortes hold
the copyright of MNIST, which is made available under the terms of the Creative Commons
Attribution-Share Alike 3.0 licence (https://creativecommons.org/licenses/by-sa/3.0/).
Built by: python -m advdemo.gallery (advdemo/gallery.py).
"""


def select(labels: np.ndarray, per_class: int, hard_mask: np.ndarray, hard: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first ``per_class`` digits of each class, then the first ``hard`` indices of
    ``hard_mask`` not already chosen; and a bool array saying which of them are hard."""
    chosen = [np.flatnonzero(labels == digit)[:per_class] for digit in range(10)]
    regular = np.sort(np.concatenate(chosen))
    extra = np.setdiff1d(np.flatnonzero(hard_mask), regular)[:hard]
    indices = np.concatenate([regular, extra])
    return indices, hard_mask[indices]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advdemo.gallery", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="Keras-format mnist.npz; else $ADVDEMO_MNIST; else Keras downloads")
    parser.add_argument("--base", type=Path, default=PRETRAINED_DIR / "base.keras",
                        help="the model whose mistakes under attack mark the hard digits")
    parser.add_argument("--per-class", type=int, default=40, help="digits of each class")
    parser.add_argument("--hard", type=int, default=100, help="extra digits the base model gets wrong under attack")
    parser.add_argument("--hard-eps", type=float, default=0.1, help="L-inf radius of the FGSM that finds hard digits")
    parser.add_argument("--out", type=Path, default=GALLERY_PATH, help="the .npz to write")
    args = parser.parse_args(argv)
    if args.per_class * 10 + args.hard > 500:
        parser.error("the gallery holds at most 500 digits: lower --per-class or --hard")
    _, test = load_mnist(args.data)
    base = load_model(args.base)
    clean_right = np.argmax(predict_logits(base, test.images), axis=1) == test.labels
    attacked = fgsm(base, test.images, test.labels, args.hard_eps)
    fooled = np.argmax(predict_logits(base, attacked), axis=1) != test.labels
    indices, hard = select(test.labels, args.per_class, clean_right & fooled, args.hard)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    images = np.round(test.images[indices, :, :, 0] * 255).astype(np.uint8)
    np.savez_compressed(args.out, images=images, labels=test.labels[indices].astype(np.uint8),
                        test_indices=indices.astype(np.int32), hard=hard)
    args.out.with_name("GALLERY_ATTRIBUTION.txt").write_text(ATTRIBUTION.format(count=len(indices)))
    print(f"wrote {args.out}: {len(indices)} digits, {int(hard.sum())} hard ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
