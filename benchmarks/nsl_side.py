"""The NSL side of benchmarks/vs_nsl.py: the NSL tutorial's own training code, timed per epoch.

    ~/nsl-venv/bin/python benchmarks/nsl_side.py --data mnist.npz --mode fgsm [--epochs 3] [--examples 60000]

Runs under the NSL virtual environment (tensorflow-cpu 2.15.1, keras 2.15.0, neural-structured-learning 1.4.0,
numpy 1.26.4; benchmarks/README.md says how to make it), never under advdemo's: it imports nothing from advdemo
and is the Keras 2 code of NSL's "Adversarial regularization for image classification" tutorial
(g3doc/tutorials/adversarial_keras_cnn_mnist.ipynb): the same functional CNN (logits out), the same
``tf.data`` pipeline (normalize, shuffle(10000), batch, tuples; dictionaries {'image', 'label'} for the
adversarial model), ``compile('adam', SparseCategoricalCrossentropy(from_logits=True), metrics=['acc'])`` and
``fit``; ``--mode fgsm`` wraps the model in ``nsl.keras.AdversarialRegularization`` with the tutorial's
``make_adv_reg_config(multiplier=0.2, adv_step_size=0.2, adv_grad_norm='infinity')``. Only the batch size and
the epochs are options (the tutorial trains batch 32 for 5 epochs), and MNIST comes from a Keras-format
mnist.npz instead of tensorflow_datasets (same images, uint8 (28, 28, 1), int64 labels).

Prints one JSON line: {"side": "nsl", "mode": ..., "epoch_seconds": [...], "versions": {...}}; with
``--versions``, only the versions (and exits 2 if neural_structured_learning does not import).
"""

import argparse
import importlib.metadata
import json
import platform
import sys
import time

import numpy as np
import tensorflow as tf

IMAGE_INPUT_NAME = "image"
LABEL_INPUT_NAME = "label"
PARAMETER_COUNT = 93_322  # the tutorial's model


class HParams:
    """The tutorial's hyperparameters; batch_size and epochs come from the command line."""

    def __init__(self, batch_size, epochs):
        self.input_shape = [28, 28, 1]
        self.num_classes = 10
        self.conv_filters = [32, 64, 64]
        self.kernel_size = (3, 3)
        self.pool_size = (2, 2)
        self.num_fc_units = [64]
        self.batch_size = batch_size
        self.epochs = epochs
        self.adv_multiplier = 0.2
        self.adv_step_size = 0.2
        self.adv_grad_norm = "infinity"


def normalize(features):
    features[IMAGE_INPUT_NAME] = tf.cast(features[IMAGE_INPUT_NAME], dtype=tf.float32) / 255.0
    return features


def convert_to_tuples(features):
    return features[IMAGE_INPUT_NAME], features[LABEL_INPUT_NAME]


def convert_to_dictionaries(image, label):
    return {IMAGE_INPUT_NAME: image, LABEL_INPUT_NAME: label}


def build_base_model(hparams):
    """Builds a model according to the architecture defined in `hparams` (the tutorial's function)."""
    inputs = tf.keras.Input(shape=hparams.input_shape, dtype=tf.float32, name=IMAGE_INPUT_NAME)
    x = inputs
    for i, num_filters in enumerate(hparams.conv_filters):
        x = tf.keras.layers.Conv2D(num_filters, hparams.kernel_size, activation="relu")(x)
        if i < len(hparams.conv_filters) - 1:
            # max pooling between convolutional layers
            x = tf.keras.layers.MaxPooling2D(hparams.pool_size)(x)
    x = tf.keras.layers.Flatten()(x)
    for num_units in hparams.num_fc_units:
        x = tf.keras.layers.Dense(num_units, activation="relu")(x)
    pred = tf.keras.layers.Dense(hparams.num_classes)(x)
    model = tf.keras.Model(inputs=inputs, outputs=pred)
    return model


class EpochTimer(tf.keras.callbacks.Callback):
    """Wall-clock seconds of every epoch, from on_epoch_begin to on_epoch_end."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds = []
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._started)


def versions():
    """Installed versions of what this side runs on (distribution names differ between CPU and GPU builds)."""
    found = {"python": platform.python_version(), "tensorflow": tf.__version__}
    for name in ("tensorflow-cpu", "keras", "tf-keras", "neural-structured-learning", "numpy"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def load_train_dataset(path, examples):
    """The first ``examples`` MNIST training images as the tutorial's tfds features: uint8 (28, 28, 1), int64."""
    with np.load(path, allow_pickle=False) as archive:
        images, labels = archive["x_train"][:examples], archive["y_train"][:examples]
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        sys.exit(f"{path}: x_train must be uint8 (n, 28, 28) (Keras mnist.npz), got {images.dtype} {images.shape}")
    return tf.data.Dataset.from_tensor_slices(
        {IMAGE_INPUT_NAME: images[..., None], LABEL_INPUT_NAME: labels.astype(np.int64)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="Keras-format mnist.npz (x_train, y_train, x_test, y_test; uint8)")
    parser.add_argument("--mode", choices=("normal", "fgsm"), default="normal",
                        help="normal training, or the tutorial's adversarial regularization (FGSM neighbours)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--examples", type=int, default=60000, help="train on the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                        help="fit's verbosity; 0 (default) keeps stdout to the JSON line")
    parser.add_argument("--dry-run", action="store_true",
                        help="build the model and the pipeline and check them, without training")
    parser.add_argument("--versions", action="store_true", help="print the versions as JSON and exit")
    args = parser.parse_args()

    if args.versions or args.mode == "fgsm":
        try:
            import neural_structured_learning as nsl
        except ImportError as error:
            print(f"neural_structured_learning does not import under {sys.executable}: {error}", file=sys.stderr)
            sys.exit(2)
    if args.versions:
        print(json.dumps({"side": "nsl", "versions": versions()}), flush=True)
        return
    if not args.data:
        parser.error("--data mnist.npz is required")

    hparams = HParams(args.batch_size, args.epochs)
    tf.keras.utils.set_random_seed(args.seed)
    train_dataset = load_train_dataset(args.data, args.examples)
    train_dataset = train_dataset.map(normalize).shuffle(10000).batch(hparams.batch_size).map(convert_to_tuples)

    model = build_base_model(hparams)
    parameters = model.count_params()
    if parameters != PARAMETER_COUNT:
        sys.exit(f"the tutorial's model has {PARAMETER_COUNT:,} parameters, this one {parameters:,}")
    if args.mode == "fgsm":
        adv_config = nsl.configs.make_adv_reg_config(
            multiplier=hparams.adv_multiplier,
            adv_step_size=hparams.adv_step_size,
            adv_grad_norm=hparams.adv_grad_norm,
        )
        model = nsl.keras.AdversarialRegularization(model, label_keys=[LABEL_INPUT_NAME], adv_config=adv_config)
        train_dataset = train_dataset.map(convert_to_dictionaries)
    model.compile(
        optimizer="adam",
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["acc"])

    result = {"side": "nsl", "mode": args.mode, "batch_size": args.batch_size, "examples": args.examples,
              "epoch_seconds": [], "versions": versions()}
    if args.dry_run:
        batch = next(iter(train_dataset))
        images, labels = (batch[IMAGE_INPUT_NAME], batch[LABEL_INPUT_NAME]) if isinstance(batch, dict) else batch
        result["dry_run"] = {"parameters": parameters,
                             "images": [images.dtype.name, list(images.shape)],
                             "labels": [labels.dtype.name, list(labels.shape)]}
    else:
        timer = EpochTimer()
        model.fit(train_dataset, epochs=hparams.epochs, callbacks=[timer], verbose=args.verbose)
        result["epoch_seconds"] = timer.epoch_seconds
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
