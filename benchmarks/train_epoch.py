"""Benchmark: seconds per training epoch on full MNIST at batch 128 (run by hand, prints medians).

    ADVDEMO_MNIST=/path/to/mnist.npz python benchmarks/train_epoch.py [--epochs 4]

Measures normal training and the tutorial's FGSM adversarial regularization (and, with --trades,
the robust recipe's TRADES with PGD-10 neighbours) through advdemo.training.adversarial.train_model, in each
compute precision (float32, and mixed_bfloat16, which needs a CPU with AMX or AVX512-BF16 to be fast).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advdemo.attacks.losses import mean_cross_entropy  # noqa: E402
from advdemo.configs import PRECISIONS, TrainConfig  # noqa: E402
from advdemo.configs.recipes import RECIPES  # noqa: E402
from advdemo.data import load_mnist  # noqa: E402
from advdemo.models import build_cnn, with_compute_precision  # noqa: E402
from advdemo.training.adversarial import train_model  # noqa: E402


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass: 2 per multiply-add of the Conv2D and Dense layers."""
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
            _, out_h, out_w, _ = layer.output.shape
            flops += 2 * out_h * out_w * kernel_h * kernel_w * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * int(np.prod(layer.kernel.shape))
    return flops


def time_bare_steps(train, batch_size: int, precision: str, steps: int = 100) -> float:
    """Seconds per epoch extrapolated from ``steps`` bare training steps (after warm-up) on resident batches."""
    model = with_compute_precision(build_cnn(), precision)
    optimizer = keras.optimizers.Adam(1e-3)
    images = tf.constant(train.images[:steps * batch_size])
    labels = tf.constant(train.labels[:steps * batch_size].astype(np.int32))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = mean_cross_entropy(y, model(x, training=True))  # the loss training.py minimises
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    batches = [(images[i * batch_size:(i + 1) * batch_size], labels[i * batch_size:(i + 1) * batch_size])
               for i in range(steps)]
    for x, y in batches[:5]:
        step(x, y).numpy()
    started = time.perf_counter()
    for x, y in batches:
        step(x, y).numpy()
    per_step = (time.perf_counter() - started) / steps
    return per_step * int(np.ceil(len(train) / batch_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="mnist.npz (else $ADVDEMO_MNIST)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per setting; the first includes tracing")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--trades", action="store_true", help="also time the robust recipe (slow)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="compute precisions to time")
    parser.add_argument("--floor", action="store_true",
                        help="also time a bare tf.function training step (no Keras fit, no callbacks, no data "
                             "pipeline): the compute floor of a normal epoch")
    args = parser.parse_args()
    train, _ = load_mnist(args.data)
    settings = {"normal": None, "fgsm-adversarial (tutorial)": RECIPES["tutorial"].adv_config}
    if args.trades:
        settings["trades pgd-10 (robust)"] = RECIPES["robust"].adv_config
    if args.floor:
        per_image = forward_flops(build_cnn())
        per_epoch = 3 * per_image * len(train)  # forward, plus backward at about twice the forward's cost
        print(f"one image forward: {per_image / 1e6:.2f} MFLOP; one training epoch: about {per_epoch / 1e12:.2f} TFLOP",
              flush=True)
        for precision in args.precision:
            epochs = [time_bare_steps(train, args.batch_size, precision) for _ in range(args.epochs)]
            print(f"{'bare step (compute floor)':<28} {precision:<15} batch {args.batch_size}: "
                  f"{', '.join(f'{t:.1f}' for t in epochs)} s per epoch; median {statistics.median(epochs):.1f} s "
                  f"({per_epoch / statistics.median(epochs) / 1e9:.0f} GFLOP/s)",
                  flush=True)
    for (name, adv_config), precision in itertools.product(settings.items(), args.precision):
        train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, precision=precision)
        times = train_model(train, train_config, adv_config).epoch_seconds
        print(f"{name:<28} {precision:<15} batch {args.batch_size}: epochs {', '.join(f'{t:.1f}' for t in times)} s; "
              f"median {statistics.median(times):.1f} s; "
              f"median after the first {statistics.median(times[1:] or times):.1f} s",
              flush=True)


if __name__ == "__main__":
    main()
