"""Interval bound propagation (Gowal et al. 2018, "On the effectiveness of interval bound propagation for training
verifiably robust models"): a proof that no perturbation in an L-inf ball changes a model's answer.

For an input x and a radius eps, every pixel lies in [l, u] = [max(x - eps, 0), min(x + eps, 1)] (the ball
intersected with the valid range). Each layer maps a box to a box that contains every output it can produce, in
centre-radius form (mu = (u + l) / 2, r = (u - l) / 2):

    affine layer z = W h + b (Dense, Conv2D):  mu' = W mu + b,   r' = |W| r
    monotone layer (ReLU, max pooling):          [l', u'] = [f(l), f(u)]
    Flatten:                                     the same box, reshaped

The last layer is not bounded on its own but folded into the margins (the paper's elision): for the label y and
every other class j, the margin z_y - z_j = (W_y - W_j) h + (b_y - b_j) is bounded below over the penultimate box
by (W_y - W_j) mu + (b_y - b_j) - |W_y - W_j| r. If every such lower bound is > 0, no point of the ball is
classified other than y: the digit is **certified** at eps. The bounds are sound for any weights, and tight only
for models trained for them; on a normally trained model they are vacuous beyond a tiny eps, which is a lesson about
that model, not a flaw of the proof.

Supported layers: ``InputLayer``, ``Conv2D`` (channels last, one group, no dilation), ``MaxPooling2D``, ``Flatten``,
``Dense``, each with a ReLU or linear activation, applied one after the other; anything else is refused with a
``ValueError`` that names the layer.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

_CHAINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Bisection steps of ``certified_radius``: the radius is found to within ``high / 2**steps``.
RADIUS_STEPS = 14


def _activation(layer: keras.layers.Layer):
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "linear")
    if name not in ("relu", "linear"):
        raise ValueError(f"layer {layer.name!r}: interval bounds support ReLU and linear activations, not {name!r}")
    return tf.nn.relu if name == "relu" else None


def _check_conv(layer: keras.layers.Conv2D) -> None:
    if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
        raise ValueError(f"layer {layer.name!r}: interval bounds support channels-last Conv2D without dilation or "
                         "groups")


def chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers, each one's input the previous one's output (checked once per model: they reproduce its
    logits)."""
    if model in _CHAINS:
        return _CHAINS[model]
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers:
        if isinstance(layer, keras.layers.Conv2D):
            _check_conv(layer)
        elif not isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.Flatten, keras.layers.Dense)):
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): interval bounds support Conv2D, "
                             "MaxPooling2D, Flatten and Dense layers only")
        _activation(layer)
    if not layers or not isinstance(layers[-1], keras.layers.Dense):
        raise ValueError("interval bounds need a model whose last layer is Dense (the logits)")
    probe = tf.random.stateless_uniform((2, *model.input_shape[1:]), seed=(0, 1))
    chained = probe
    for layer in layers:
        chained = layer(chained)
    if not np.allclose(chained.numpy(), model(probe).numpy(), rtol=1e-4, atol=1e-4):
        raise ValueError("interval bounds need the model's layers applied one after the other; this model is not "
                         "such a chain")
    _CHAINS[model] = layers
    return layers


def _affine(layer: keras.layers.Layer, centre: tf.Tensor, radius: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    kernel = tf.convert_to_tensor(layer.kernel)
    if isinstance(layer, keras.layers.Dense):
        centre, radius = tf.matmul(centre, kernel), tf.matmul(radius, tf.abs(kernel))
    else:
        padding, strides = layer.padding.upper(), tuple(layer.strides)
        centre = tf.nn.conv2d(centre, kernel, strides, padding)
        radius = tf.nn.conv2d(radius, tf.abs(kernel), strides, padding)
    if layer.use_bias:
        centre = centre + tf.convert_to_tensor(layer.bias)
    return centre, radius


def _penultimate_box(layers: list[keras.layers.Layer], lower: tf.Tensor, upper: tf.Tensor):
    """(centre, radius) of the box of the last layer's input, from the input box [lower, upper]."""
    for layer in layers[:-1]:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            centre, radius = _affine(layer, (upper + lower) / 2, (upper - lower) / 2)
            lower, upper = centre - radius, centre + radius
        else:  # MaxPooling2D is monotone, Flatten a reshape: each maps the box's corners
            lower, upper = layer(lower), layer(upper)
        activation = _activation(layer)
        if activation is not None:
            lower, upper = activation(lower), activation(upper)
    return (upper + lower) / 2, (upper - lower) / 2


def _input_box(images: tf.Tensor, epsilon: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    eps = tf.reshape(tf.cast(epsilon, images.dtype), (-1,) + (1,) * (images.shape.rank - 1))
    return tf.clip_by_value(images - eps, 0.0, 1.0), tf.clip_by_value(images + eps, 0.0, 1.0)


def margins(layers: list[keras.layers.Layer], images: tf.Tensor, labels: tf.Tensor, epsilon: tf.Tensor) -> tf.Tensor:
    """Lower bounds (b, classes) on z_label - z_j over the L-inf ball of radius ``epsilon`` (a scalar or one per
    image) around ``images``, the last layer elided; 0 in the label's own column. Differentiable in the weights:
    IBP training minimises the cross-entropy of ``-margins`` (the worst-case logits)."""
    last = layers[-1]
    kernel = tf.cast(last.kernel, images.dtype)
    bias = tf.cast(last.bias, images.dtype) if last.use_bias else tf.zeros(kernel.shape[1], images.dtype)
    centre, radius = _penultimate_box(layers, *_input_box(images, epsilon))
    centre, radius = tf.cast(centre, images.dtype), tf.cast(radius, images.dtype)
    difference = tf.transpose(tf.gather(kernel, labels, axis=1))[:, :, None] - kernel[None]  # (b, hidden, classes)
    offset = tf.gather(bias, labels)[:, None] - bias[None]
    return (tf.einsum("bh,bhc->bc", centre, difference) + offset
            - tf.einsum("bh,bhc->bc", radius, tf.abs(difference)))


def _check(images: np.ndarray, epsilon) -> None:
    eps = np.asarray(epsilon, np.float64)
    if not (np.all(np.isfinite(eps)) and np.all(eps >= 0)):
        raise ValueError(f"epsilon must be finite and >= 0, got {epsilon!r}")
    if eps.ndim not in (0, 1) or (eps.ndim == 1 and len(eps) != len(images)):
        raise ValueError("epsilon is one radius, or one per image")


def logit_bounds(model: keras.Model, images: np.ndarray, epsilon) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper), float32 (n, 10): bounds on every logit of ``model`` over the L-inf ball of radius
    ``epsilon`` (one radius, or one per image) around each of ``images`` (n, 28, 28, 1), within [0, 1]."""
    _check(images, epsilon)
    layers = chain(model)
    box = _input_box(tf.constant(np.asarray(images, np.float32)), tf.constant(np.asarray(epsilon, np.float32)))
    centre, radius = _affine(layers[-1], *_penultimate_box(layers, *box))
    if _activation(layers[-1]) is not None:
        return tf.nn.relu(centre - radius).numpy(), tf.nn.relu(centre + radius).numpy()
    return (centre - radius).numpy(), (centre + radius).numpy()


def margin_bounds(model: keras.Model, images: np.ndarray, labels: np.ndarray, epsilon,
                  batch_size: int = 1000) -> np.ndarray:
    """Lower bounds, float32 (n, 10), on z_label - z_j over the ball for every class j (the last layer elided
    into the margins; the label's own column is +inf). A row all > 0 is a certified digit."""
    _check(images, epsilon)
    layers = chain(model)
    last = layers[-1]
    if _activation(last) is not None:
        raise ValueError(f"the last layer {last.name!r} must output logits (no activation)")
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    eps = np.broadcast_to(np.asarray(epsilon, np.float32), (len(images),))
    images = np.asarray(images, np.float32)
    if model not in _COMPILED:  # one graph per model: the app's bisection calls it 15 times per digit
        _COMPILED[model] = tf.function(lambda x, y, e, layers=layers: margins(layers, x, y, e), reduce_retracing=True)
    rows = []
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        rows.append(_COMPILED[model](tf.constant(images[batch]), tf.constant(labels[batch]),
                                     tf.constant(eps[batch])).numpy())
    bounds = np.concatenate(rows) if rows else np.zeros((0, int(last.units)), np.float32)
    bounds[np.arange(len(labels)), labels] = np.inf
    return bounds


def certified(model: keras.Model, images: np.ndarray, labels: np.ndarray, epsilon,
              batch_size: int = 1000) -> np.ndarray:
    """bool (n,): whether IBP proves that no image within L-inf ``epsilon`` (and in [0, 1]) changes the model's
    answer from the label (which implies the clean answer is the label)."""
    return np.all(margin_bounds(model, images, labels, epsilon, batch_size) > 0, axis=1)


def certified_radius(model: keras.Model, images: np.ndarray, labels: np.ndarray, high: float = 0.5,
                     steps: int = RADIUS_STEPS, batch_size: int = 1000) -> np.ndarray:
    """float32 (n,): per image, the largest L-inf radius IBP certifies, by bisection on [0, ``high``] (to within
    ``high / 2**steps``; 0 where not even the clean image is classified as its label). Certification is
    monotone in eps (a larger ball gives a wider box), so bisection finds the boundary."""
    labels = np.asarray(labels).reshape(-1)
    low = np.zeros(len(images), np.float32)
    top = np.full(len(images), high, np.float32)
    top_holds = certified(model, images, labels, top, batch_size)
    low[top_holds] = high
    for _ in range(steps):
        middle = (low + top) / 2
        holds = certified(model, images, labels, middle, batch_size) | top_holds
        low = np.where(holds, middle, low)
        top = np.where(holds, top, middle)
    clean = certified(model, images, labels, 0.0, batch_size)
    return np.where(clean, low, 0.0).astype(np.float32)


def verified_accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, epsilon: float,
                      batch_size: int = 1000) -> float:
    """The fraction of ``images`` IBP certifies at L-inf ``epsilon``: a lower bound on robust accuracy."""
    if len(images) == 0:
        raise ValueError("cannot measure verified accuracy on zero images")
    return float(np.mean(certified(model, images, labels, epsilon, batch_size)))
