"""Benchmark: latency of one image's attack plus both models' predictions (run by hand, prints medians).

    python benchmarks/attack_latency.py [--repeats 50]

For the bundled base and robust models: white-box attack on each model, then its prediction, for FGSM
and PGD-40 in every norm, after a warm-up call (which compiles the graphs). Prints p50 and p90 in ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo import PRETRAINED_DIR  # noqa: E402
from advdemo.attacks.gradient import attack  # noqa: E402
from advdemo.configs import EPSILON_DEFAULTS, AttackConfig, Norm  # noqa: E402
from advdemo.data import load_gallery  # noqa: E402
from advdemo.models import load_model, predict_logits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    models = [load_model(PRETRAINED_DIR / f"{name}.keras") for name in ("base", "robust")]
    gallery = load_gallery()
    for norm in Norm:
        eps = EPSILON_DEFAULTS[norm][0]
        for config in (AttackConfig.fgsm(eps, norm), AttackConfig.pgd(eps, norm, steps=40)):
            times = []
            for repeat in range(args.repeats + 1):
                index = repeat % len(gallery)
                image, label = gallery.images[index:index + 1], gallery.labels[index:index + 1]
                started = time.perf_counter()
                for model in models:
                    predict_logits(model, attack(model, image, label, config))
                if repeat:  # the first call compiles
                    times.append(1000 * (time.perf_counter() - started))
            print(f"{config.describe():<28} attack + prediction, both models: p50 {statistics.median(times):6.1f} ms, "
                  f"p90 {float(np.percentile(times, 90)):6.1f} ms", flush=True)


if __name__ == "__main__":
    main()
