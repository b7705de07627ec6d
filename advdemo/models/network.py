"""The NSL tutorial's CNN, and saving/loading it safely as a ``.keras`` file."""

from __future__ import annotations

import os
import weakref
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from advdemo.configs import PRECISIONS
from advdemo.models.bundled import rebuild_command
from advdemo.models.files import write_atomically

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
#: The tutorial's model has exactly this many parameters.
PARAMETER_COUNT = 93_322


def build_cnn(name: str = "cnn") -> keras.Model:
    """The tutorial's base CNN: images (batch, 28, 28, 1) float32 in [0, 1] -> logits (batch, 10).

    Conv2D(32,3,relu) MaxPool(2) Conv2D(64,3,relu) MaxPool(2) Conv2D(64,3,relu) Flatten Dense(64,relu)
    Dense(10): 93,322 parameters; the input is named ``image`` as in the tutorial.
    """
    inputs = keras.Input(shape=IMAGE_SHAPE, dtype="float32", name="image")
    x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def with_compute_precision(model: keras.Model, precision: str) -> keras.Model:
    """A copy of the functional ``model`` (same weights) whose layers compute in ``precision``.

    ``mixed_bfloat16`` keeps float32 weights but runs the layers in bfloat16, which CPUs with AMX or
    AVX512-BF16 (and recent GPUs) do about twice as fast; the output layer stays float32 so that logits,
    losses and attack gradients keep full precision at the end. ``float32`` gives back a plain float32 copy.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    output_layers = set(model.output_names)

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name in output_layers else precision
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone_layer)
    copy.set_weights(model.get_weights())
    return copy


class ModelFileError(ValueError):
    """A weights file is missing, corrupt, or not a model of the expected shape."""


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Writes ``model`` to ``path`` (``.keras``) atomically: a temporary file in the same folder, then a rename.

    A crash or a cancelled run never leaves a half-written model at ``path``.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras, got {path}")
    return write_atomically(path, lambda temporary: model.save(temporary))


def _rebuild_hint(path: Path) -> str:
    """How to get ``path`` back: the exact training command for a bundled model's name, or git."""
    command = rebuild_command(path.stem, path)
    if command is None:
        return f"train it with `python -m advdemo.train --out {path}`"
    return f"train it with `{command}` or restore the bundled file with `git checkout -- pretrained/{path.name}`"


def load_model(path: str | os.PathLike) -> keras.Model:
    """Loads a classifier saved by ``save_model`` (Keras 3, ``safe_mode=True``) and checks its shapes.

    Raises:
        ModelFileError: the file is missing, unreadable or corrupt, or the model does not map
            (batch, 28, 28, 1) images to (batch, 10) logits. Never returns an untrained model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist: {_rebuild_hint(path)}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"model file {path} is not a .keras archive (corrupt or truncated?): "
                             f"{_rebuild_hint(path)}")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive; name the file in one.
        raise ModelFileError(f"could not load model file {path}: {error}") from error
    if tuple(model.input_shape[1:]) != IMAGE_SHAPE or tuple(model.output_shape[1:]) != (NUM_CLASSES,):
        raise ModelFileError(f"model file {path} maps {model.input_shape} to {model.output_shape}; "
                             f"expected (None, 28, 28, 1) images to (None, 10) logits")
    return model


@tf.function(reduce_retracing=True, autograph=False)  # plain TensorFlow code: nothing for AutoGraph to convert
def _logits(model, images):
    return model(images, training=False)


#: The models whose ``_logits`` are compiled for any batch size (``_compile_logits``).
_COMPILED: weakref.WeakSet = weakref.WeakSet()


def _compile_logits(model: keras.Model, image_shape: tuple[int, ...]) -> None:
    """Traces ``_logits`` for ``model`` once, for any batch of images shaped ``image_shape``. Left to itself, the
    first batch size traces a graph and the second a relaxed one (``reduce_retracing``): the app's first page
    (batches of 2, then 1) paid two traces per model."""
    if model not in _COMPILED:
        _logits.get_concrete_function(model, tf.TensorSpec((None, *image_shape), tf.float32))
        _COMPILED.add(model)


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logits float32 (n, 10) of ``images`` float32 (n, 28, 28, 1) in [0, 1] (compiled once, batched)."""
    images = np.asarray(images, np.float32)
    if len(images) == 0:
        return np.zeros((0, 10), np.float32)
    _compile_logits(model, images.shape[1:])
    return np.concatenate([_logits(model, tf.constant(images[i:i + batch_size])).numpy()
                           for i in range(0, len(images), batch_size)])


def predictions(model: keras.Model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The predicted class (n,) of each image: the arg-max logit."""
    return np.argmax(predict_logits(model, images, batch_size), axis=1)
