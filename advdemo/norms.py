"""Pure tensor math of the three norms: steepest-ascent direction, projection, random start, size.

Every function works per example on a batch: tensors of shape ``(batch, ...)``; the norm of an example is
taken over all its other axes. No Keras and no model here (NSL keeps this math apart from its Keras
wiring too), so each function can be checked by hand on tiny inputs.

Semantics follow NSL 1.4.0's ``adv_neighbor`` (see ``../shared/reference/adversarial-notes.md``):

* L-inf: ``d = sign(g)``;
* L2: ``d = g / max(||g||_2, 1e-6)``;
* L1: ``+-1/k`` (the sign of ``g``) on the ``k`` coordinates tied for the largest ``|g|``, 0 elsewhere.
"""

from __future__ import annotations

import tensorflow as tf

from advdemo.config import Norm

#: Floor for the L2 norm of a gradient, as in NSL, so that a zero gradient gives a zero direction.
L2_NORM_FLOOR = 1e-6


def _flatten(x: tf.Tensor) -> tf.Tensor:
    """(batch, ...) -> (batch, features)."""
    return tf.reshape(x, [tf.shape(x)[0], -1])


def per_example(values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """(batch,) -> (batch, 1, ..., 1), broadcastable against ``like``."""
    shape = tf.concat([tf.shape(values), tf.ones([tf.rank(like) - 1], tf.int32)], axis=0)
    return tf.reshape(values, shape)


def measure(delta: tf.Tensor, norm: Norm) -> tf.Tensor:
    """Norm of each example of ``delta`` (batch, ...) -> (batch,)."""
    flat = _flatten(delta)
    if norm is Norm.LINF:
        return tf.reduce_max(tf.abs(flat), axis=1)
    if norm is Norm.L2:
        return tf.norm(flat, axis=1)
    if norm is Norm.L1:
        return tf.reduce_sum(tf.abs(flat), axis=1)
    raise ValueError(f"unknown norm {norm!r}")


def steepest_ascent_direction(gradient: tf.Tensor, norm: Norm) -> tf.Tensor:
    """The unit-norm ``d`` maximising ``<d, gradient>`` for each example; same shape as ``gradient``.

    Non-finite gradient entries are treated as 0 (as NSL does).
    """
    g = tf.where(tf.math.is_finite(gradient), gradient, tf.zeros_like(gradient))
    if norm is Norm.LINF:
        return tf.sign(g)
    if norm is Norm.L2:
        length = tf.maximum(tf.norm(_flatten(g), axis=1), L2_NORM_FLOOR)
        return g / per_example(length, g)
    if norm is Norm.L1:
        magnitude = tf.abs(g)
        largest = tf.reduce_max(_flatten(magnitude), axis=1)
        tied = tf.cast(tf.equal(magnitude, per_example(largest, g)), g.dtype)
        ties = tf.reduce_sum(_flatten(tied), axis=1)
        return tf.sign(g) * tied / per_example(ties, g)
    raise ValueError(f"unknown norm {norm!r}")


def _project_l1(flat: tf.Tensor, epsilon: tf.Tensor) -> tf.Tensor:
    """Euclidean projection of each row of ``flat`` (batch, n) onto the L1 ball of radius ``epsilon``.

    The sort-based method of Duchi, Shalev-Shwartz, Singer and Chandra (ICML 2008): rows already inside
    the ball are returned unchanged; the others are soft-thresholded by the ``theta`` that lands them on
    the sphere.
    """
    magnitude = tf.abs(flat)
    descending = tf.sort(magnitude, axis=1, direction="DESCENDING")
    cumulative = tf.cumsum(descending, axis=1)
    ranks = tf.cast(tf.range(1, tf.shape(flat)[1] + 1), flat.dtype)
    # rho = the largest rank k with descending[k] > (cumulative[k] - eps) / k.
    positive = tf.cast(descending * ranks > cumulative - epsilon, tf.int32)
    rho = tf.maximum(tf.reduce_sum(positive, axis=1), 1)
    cumulative_at_rho = tf.gather(cumulative, rho - 1, batch_dims=1)
    theta = tf.maximum((cumulative_at_rho - epsilon) / tf.cast(rho, flat.dtype), 0.0)
    projected = tf.sign(flat) * tf.maximum(magnitude - theta[:, None], 0.0)
    inside = tf.reduce_sum(magnitude, axis=1) <= epsilon
    return tf.where(inside[:, None], flat, projected)


def project(delta: tf.Tensor, epsilon: float | tf.Tensor, norm: Norm) -> tf.Tensor:
    """The point of the ``epsilon`` ball of ``norm`` nearest to each example of ``delta``.

    L-inf clips element-wise; L2 rescales by ``min(1, epsilon / ||delta||)``; L1 is the exact Euclidean
    projection (NSL has none; Duchi et al. 2008).
    """
    epsilon = tf.cast(epsilon, delta.dtype)
    if norm is Norm.LINF:
        return tf.clip_by_value(delta, -epsilon, epsilon)
    if norm is Norm.L2:
        length = tf.norm(_flatten(delta), axis=1)
        scale = tf.minimum(1.0, epsilon / tf.maximum(length, 1e-12))
        return delta * per_example(scale, delta)
    if norm is Norm.L1:
        return tf.reshape(_project_l1(_flatten(delta), epsilon), tf.shape(delta))
    raise ValueError(f"unknown norm {norm!r}")


def random_in_ball(shape: tf.TensorShape | list[int] | tf.Tensor, epsilon: float | tf.Tensor, norm: Norm,
                   dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Points drawn uniformly from the ``epsilon`` ball of ``norm``, one per example: a tensor of ``shape``."""
    epsilon = tf.cast(epsilon, dtype)
    if norm is Norm.LINF:
        return tf.random.uniform(shape, -epsilon, epsilon, dtype=dtype)
    flat_shape = tf.stack([tf.convert_to_tensor(shape)[0], -1])
    if norm is Norm.L2:
        # A Gaussian direction, and a radius distributed as eps * u^(1/n) (uniform volume).
        direction = tf.random.normal(shape, dtype=dtype)
        flat = tf.reshape(direction, flat_shape)
        n = tf.cast(tf.shape(flat)[1], dtype)
        radius = epsilon * tf.random.uniform([tf.shape(flat)[0]], dtype=dtype) ** (1.0 / n)
        flat = flat / tf.maximum(tf.norm(flat, axis=1, keepdims=True), 1e-12) * radius[:, None]
        return tf.reshape(flat, shape)
    if norm is Norm.L1:
        # n+1 exponentials normalised by their sum: the first n are uniform in the simplex's interior;
        # random signs then make them uniform in the L1 ball.
        magnitudes = tf.reshape(-tf.math.log(tf.random.uniform(shape, 1e-12, 1.0, dtype=dtype)), flat_shape)
        slack = -tf.math.log(tf.random.uniform([tf.shape(magnitudes)[0], 1], 1e-12, 1.0, dtype=dtype))
        total = tf.reduce_sum(magnitudes, axis=1, keepdims=True) + slack
        signs = tf.sign(tf.random.uniform(tf.shape(magnitudes), -1.0, 1.0, dtype=dtype))
        return tf.reshape(signs * magnitudes / total * epsilon, shape)
    raise ValueError(f"unknown norm {norm!r}")
