"""Benchmark: the sidebar's quick presets, trained as the app trains them (run by hand, prints numbers).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/quick_presets.py [--presets quick quick-robust]

For each preset: the wall time of its training job (data loading excluded, the job's own timer), the clean
accuracy on the 10,000 test images, and white-box PGD-40 (step eps/10, random start, one restart) at L-inf 0.2
on the fixed random sample of 1,000 test images the cards use (seed 0). Targets: each quick model
done in <= 2 minutes on 2 cores with clean >= 97.5%; the quick robust one >= 70% under that PGD-40.
Run it on an otherwise idle machine; it prints the CPU it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.attacks.gradient import attack  # noqa: E402
from advdemo.configs import AttackConfig, Norm  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.models import predictions  # noqa: E402
from advdemo.training.jobs import State, TrainingJob  # noqa: E402
from advdemo.training.presets import PRESETS  # noqa: E402


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["quick", "quick-robust"], choices=sorted(PRESETS))
    args = parser.parse_args()
    train, test = load_mnist()
    chosen = np.sort(np.random.default_rng(0).permutation(len(test))[:1000])
    x, y = test.images[chosen], test.labels[chosen]
    print(f"CPU: {cpu_name()}; {len(os.sched_getaffinity(0))} cores available", flush=True)
    for key in args.presets:
        preset = PRESETS[key]
        saved = {}
        job = TrainingJob(preset.request(key, evaluation_n=0), load_data=lambda: (train, test),
                          save=lambda model, card, saved=saved: saved.update(model=model, card=card),
                          update_card=lambda card: None)
        started = time.perf_counter()
        final = job.run()
        wall = time.perf_counter() - started
        if final.state is not State.DONE:
            print(f"{key}: {final.state.value}: {final.message}", flush=True)
            return 1
        model, card = saved["model"], saved["card"]
        clean = np.mean(predictions(model, test.images) == test.labels)
        adversarial = attack(model, x, y, AttackConfig.pgd(0.2, Norm.LINF, steps=40))
        pgd = np.mean(predictions(model, adversarial) == y)
        epochs = ", ".join(f"{seconds:.0f}" for seconds in card["training"]["epoch_seconds"])
        print(f"{key}: training {card['training']['seconds']:.0f} s (job {wall:.0f} s; epochs {epochs} s) on "
              f"{card['data']['train_examples']:,} images; clean {clean:.2%} (10,000 test images); "
              f"PGD-40 L-inf 0.2 {pgd:.2%} (1,000)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
