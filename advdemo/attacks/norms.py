"""Pure tensor math of the three norms: steepest-ascent direction, projection, random start, size.

Every function works per example on a batch: tensors of shape ``(batch, ...)``; the norm of an example is
taken over all its other axes. No Keras and no model here (NSL keeps this math apart from its Keras
wiring too), so each function can be checked by hand on tiny inputs.

Two kinds of direction (``advdemo.configs.Direction``):

* ``steepest_ascent_direction``: NSL 1.4.0's ``adv_neighbor`` exactly (``../shared/reference/adversarial-notes.md``),
  used to build training neighbours:

  * L-inf: ``d = sign(g)``;
  * L2: ``d = g / max(||g||_2, 1e-6)``;
  * L1: ``+-1/k`` (the sign of ``g``) on the ``k`` coordinates tied for the largest ``|g|``, 0 elsewhere.

* ``attack_direction``: for the attacks shown and evaluated, without NSL's two weak spots:

  * L-inf: ``d = sign(g)`` (the same);
  * L2: ``d = g / ||g||_2`` exactly (0 where g = 0). NSL's floor of 1e-6 makes ``||d|| = ||g|| / 1e-6 << 1``
    where a confident model's softmax saturates (its input gradient is then ~1e-8), so PGD steps vanish;
  * L1: sparse L1 descent (SLIDE, Tramer and Boneh 2019): ``+-1/k`` on the ``k`` pixels with the largest
    ``|g|`` *among those that can still move* in the direction of ``sign(g)`` inside [clip_min, clip_max]
    (``k`` = the top ``1 - L1_QUANTILE`` of them). NSL's L1 direction picks the largest ``|g|`` whatever the
    pixel: once that pixel is at 0 or 1 and ``g`` points outward, clipping cancels the step, the gradient
    does not change and every later step repeats it.
"""

from __future__ import annotations

import tensorflow as tf

from advdemo.configs import Norm

#: Floor for the L2 norm of a gradient, as in NSL, so that a zero gradient gives a zero direction.
L2_NORM_FLOOR = 1e-6


def _flatten(x: tf.Tensor) -> tf.Tensor:
    """(batch, ...) -> (batch, features)."""
    return tf.reshape(x, [tf.shape(x)[0], -1])


def per_example(values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """(batch,) -> (batch, 1, ..., 1), broadcastable against ``like``."""
    shape = tf.concat([tf.shape(values), tf.ones([tf.rank(like) - 1], tf.int32)], axis=0)
    return tf.reshape(values, shape)


def _l2_length(flat: tf.Tensor) -> tf.Tensor:
    """``||row||_2`` of each row of ``flat`` (batch, n), scaled by the row's max |entry| first, so that squaring
    cannot overflow or underflow in float32 (``tf.norm`` of entries above ~1.8e19 is inf, below ~1e-19 0)."""
    largest = tf.reduce_max(tf.abs(flat), axis=1)
    return largest * tf.norm(tf.math.divide_no_nan(flat, largest[:, None]), axis=1)


def measure(delta: tf.Tensor, norm: Norm) -> tf.Tensor:
    """Norm of each example of ``delta`` (batch, ...) -> (batch,)."""
    flat = _flatten(delta)
    if norm is Norm.LINF:
        return tf.reduce_max(tf.abs(flat), axis=1)
    if norm is Norm.L2:
        return _l2_length(flat)
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
    if norm is Norm.L2:  # computed on g / max|g|, so that huge gradients (||g|| even beyond 3.4e38) do not give 0
        largest = per_example(tf.reduce_max(tf.abs(_flatten(g)), axis=1), g)
        scaled = tf.math.divide_no_nan(g, largest)
        return scaled / tf.maximum(per_example(tf.norm(_flatten(scaled), axis=1), g), L2_NORM_FLOOR / largest)
    if norm is Norm.L1:
        magnitude = tf.abs(g)
        largest = tf.reduce_max(_flatten(magnitude), axis=1)
        tied = tf.cast(tf.equal(magnitude, per_example(largest, g)), g.dtype)
        ties = tf.reduce_sum(_flatten(tied), axis=1)
        return tf.sign(g) * tied / per_example(ties, g)
    raise ValueError(f"unknown norm {norm!r}")


#: Sparse L1 descent moves the pixels whose ``|g|`` is at or above this quantile of the movable ones (Foolbox's
#: SparseL1DescentAttack uses the same default; with 784 pixels that is about 8 per step).
L1_QUANTILE = 0.99


def movable(gradient: tf.Tensor, adversarial: tf.Tensor, clip_min: float, clip_max: float) -> tf.Tensor:
    """1.0 where a step along ``sign(gradient)`` can still change ``adversarial`` inside [clip_min, clip_max]
    (and the gradient is non-zero), else 0.0; same shape and dtype as ``gradient``."""
    up = tf.logical_and(gradient > 0, adversarial < clip_max)
    down = tf.logical_and(gradient < 0, adversarial > clip_min)
    return tf.cast(tf.logical_or(up, down), gradient.dtype)


def sparse_l1_direction(gradient: tf.Tensor, adversarial: tf.Tensor, clip_min: float, clip_max: float,
                        quantile: float = L1_QUANTILE) -> tf.Tensor:
    """SLIDE's direction (Tramer and Boneh 2019): ``sign(g) / k`` on the ``k = max(1, ceil((1 - quantile) * m))``
    movable pixels with the largest ``|g|`` (``m`` movable pixels per example, see ``movable``), 0 elsewhere;
    so ``||d||_1 = 1`` unless nothing can move (then ``d = 0``)."""
    g = tf.where(tf.math.is_finite(gradient), gradient, tf.zeros_like(gradient))
    free = movable(g, adversarial, clip_min, clip_max)
    magnitude = _flatten(tf.abs(g) * free)
    count = tf.reduce_sum(_flatten(free), axis=1)
    k = tf.maximum(tf.math.ceil((1.0 - quantile) * count), 1.0)
    # the k-th largest movable magnitude of each example is its threshold
    descending = tf.sort(magnitude, axis=1, direction="DESCENDING")
    threshold = tf.gather(descending, tf.cast(k, tf.int32) - 1, batch_dims=1)
    chosen = tf.cast(magnitude >= threshold[:, None], g.dtype) * _flatten(free)
    chosen = tf.reshape(chosen, tf.shape(g))
    total = tf.reduce_sum(_flatten(chosen), axis=1)
    return tf.math.divide_no_nan(tf.sign(g) * chosen, per_example(total, g))


def l1_box_step(gradient: tf.Tensor, adversarial: tf.Tensor, length: tf.Tensor | float, clip_min: float = 0.0,
                clip_max: float = 1.0) -> tf.Tensor:
    """The best single L1 step: the ``s`` maximising ``<s, g>`` subject to ``||s||_1 <= length`` and
    ``adversarial + s`` inside [clip_min, clip_max]. It fills the pixels in decreasing order of ``|g|``, each as
    far as the range allows (``sign(g)`` times its room), until ``length`` is spent. This is FGSM in L1: where
    a sparse direction of unit length, scaled by eps, would push a few pixels past the range and lose the rest
    to clipping, this spends the whole eps on as many pixels as it needs."""
    g = _flatten(tf.where(tf.math.is_finite(gradient), gradient, tf.zeros_like(gradient)))
    current = _flatten(adversarial)
    room = tf.where(g > 0, clip_max - current, tf.where(g < 0, current - clip_min, tf.zeros_like(g)))
    room = tf.maximum(room, 0.0)
    order = tf.argsort(tf.abs(g), axis=1, direction="DESCENDING")
    sorted_room = tf.gather(room, order, batch_dims=1)
    before = tf.cumsum(sorted_room, axis=1, exclusive=True)
    length = tf.reshape(tf.cast(length, g.dtype), [-1, 1])
    amount_sorted = tf.clip_by_value(length - before, 0.0, sorted_room)
    amount = tf.gather(amount_sorted, tf.argsort(order, axis=1), batch_dims=1)  # back to pixel order
    return tf.reshape(tf.sign(g) * amount, tf.shape(gradient))


def attack_direction(gradient: tf.Tensor, norm: Norm, adversarial: tf.Tensor, clip_min: float = 0.0,
                     clip_max: float = 1.0) -> tf.Tensor:
    """The direction of the attacks shown and evaluated (see the module's docstring): ``sign(g)`` in L-inf,
    ``g / ||g||_2`` with no floor in L2, sparse L1 descent over the movable pixels in L1. Unit norm unless
    the gradient is 0 (then 0). ``adversarial`` is the current image (only L1 uses it)."""
    g = tf.where(tf.math.is_finite(gradient), gradient, tf.zeros_like(gradient))
    if norm is Norm.LINF:
        return tf.sign(g)
    if norm is Norm.L2:  # scaled by max |g| first, so that squaring a tiny gradient cannot underflow to 0
        scaled = tf.math.divide_no_nan(g, per_example(tf.reduce_max(tf.abs(_flatten(g)), axis=1), g))
        return tf.math.divide_no_nan(scaled, per_example(tf.norm(_flatten(scaled), axis=1), g))
    if norm is Norm.L1:
        return sparse_l1_direction(g, adversarial, clip_min, clip_max)
    raise ValueError(f"unknown norm {norm!r}")


def _project_l1(flat: tf.Tensor, epsilon: tf.Tensor) -> tf.Tensor:
    """Euclidean projection of each row of ``flat`` (batch, n) onto the L1 ball of radius ``epsilon``.

    The sort-based method of Duchi, Shalev-Shwartz, Singer and Chandra (ICML 2008): rows already inside
    the ball are returned unchanged; the others are soft-thresholded by the ``theta`` that lands them on
    the sphere.

    Computed in float64: ``theta = (cumulative sum - eps) / rho`` cancels catastrophically in float32 when the
    point lies far outside a small ball (eight entries of 12.5 projected onto eps = 1e-6 landed at 7.6e-6; a
    constant row of 545957 onto eps = 0 at 13.5). A last rescaling keeps even the extreme cases inside the ball.
    """
    dtype = flat.dtype
    flat, epsilon = tf.cast(flat, tf.float64), tf.cast(epsilon, tf.float64)
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
    total = tf.reduce_sum(tf.abs(projected), axis=1)
    projected *= tf.where(total > epsilon, tf.math.divide_no_nan(epsilon, total), tf.ones_like(total))[:, None]
    inside = tf.reduce_sum(magnitude, axis=1) <= epsilon
    return tf.cast(tf.where(inside[:, None], flat, projected), dtype)


def project(delta: tf.Tensor, epsilon: float | tf.Tensor, norm: Norm) -> tf.Tensor:
    """The point of the ``epsilon`` ball of ``norm`` nearest to each example of ``delta``.

    L-inf clips element-wise; L2 rescales by ``min(1, epsilon / ||delta||)``; L1 is the exact Euclidean
    projection (NSL has none; Duchi et al. 2008).
    """
    epsilon = tf.cast(epsilon, delta.dtype)
    if norm is Norm.LINF:
        return tf.clip_by_value(delta, -epsilon, epsilon)
    if norm is Norm.L2:
        length = _l2_length(_flatten(delta))
        scale = tf.where(length > epsilon, tf.math.divide_no_nan(epsilon, length), tf.ones_like(length))
        return delta * per_example(scale, delta)
    if norm is Norm.L1:
        return tf.reshape(_project_l1(_flatten(delta), epsilon), tf.shape(delta))
    raise ValueError(f"unknown norm {norm!r}")


def random_in_ball(shape: tf.TensorShape | list[int] | tf.Tensor, epsilon: float | tf.Tensor, norm: Norm,
                   dtype: tf.DType = tf.float32, seed: tf.Tensor | None = None) -> tf.Tensor:
    """Points drawn uniformly from the ``epsilon`` ball of ``norm``, one per example: a tensor of ``shape``.

    ``seed``: a stateless seed (int, shape (2,)): the same seed gives the same points, whatever ran before;
    ``None`` draws from TensorFlow's global random state.
    """
    epsilon = tf.cast(epsilon, dtype)

    def uniform(draw_shape, low=0.0, high=1.0, draw: int = 0):
        if seed is None:
            return tf.random.uniform(draw_shape, low, high, dtype=dtype)
        return tf.random.stateless_uniform(draw_shape, tf.random.experimental.stateless_fold_in(seed, draw), low,
                                           high, dtype=dtype)

    if norm is Norm.LINF:
        return uniform(shape, -epsilon, epsilon)
    flat_shape = tf.stack([tf.convert_to_tensor(shape)[0], -1])
    if norm is Norm.L2:
        # A Gaussian direction, and a radius distributed as eps * u^(1/n) (uniform volume).
        direction = (tf.random.normal(shape, dtype=dtype) if seed is None else
                     tf.random.stateless_normal(shape, tf.random.experimental.stateless_fold_in(seed, 0), dtype=dtype))
        flat = tf.reshape(direction, flat_shape)
        n = tf.cast(tf.shape(flat)[1], dtype)
        radius = epsilon * uniform([tf.shape(flat)[0]], draw=1) ** (1.0 / n)
        flat = flat / tf.maximum(tf.norm(flat, axis=1, keepdims=True), 1e-12) * radius[:, None]
        return tf.reshape(flat, shape)
    if norm is Norm.L1:
        # n+1 exponentials normalised by their sum: the first n are uniform in the simplex's interior;
        # random signs then make them uniform in the L1 ball.
        magnitudes = tf.reshape(-tf.math.log(uniform(shape, 1e-12, 1.0)), flat_shape)
        slack = -tf.math.log(uniform([tf.shape(magnitudes)[0], 1], 1e-12, 1.0, draw=1))
        total = tf.reduce_sum(magnitudes, axis=1, keepdims=True) + slack
        signs = tf.sign(uniform(tf.shape(magnitudes), -1.0, 1.0, draw=2))
        return tf.reshape(signs * magnitudes / total * epsilon, shape)
    raise ValueError(f"unknown norm {norm!r}")
