"""Square Attack (Andriushchenko, Croce, Flammarion and Hein, ECCV 2020): a score-based random search.

It needs no gradient, only the logits, so it is the attack that sees through gradient masking (a model
whose input gradient is zero, noisy or wrong defeats FGSM and PGD but not a random search). Untargeted,
in L-inf and L2; it minimises the margin loss of ``advdemo.attacks.losses.margin``,

    m(x) = z_y(x) - max_{i != y} z_i(x)        (negative exactly when the model is fooled),

by proposing random changes of the perturbation ``delta`` on a square window and keeping a proposal only
where it lowers ``m``:

    x_0 = clip(x + delta_init)                              (1 query)
    for t = 0 .. queries - 2:                               (1 query each)
        p_t = p_selection(p_init, t, queries);  side s_t = round(sqrt(p_t * h * w))
        x'  = clip(x + delta') with delta' = delta_t changed on a random s_t x s_t square
        keep x' where m(x') < m(x_t)

Each example of a batch gets its own random square (built by mask arithmetic), the side ``s_t`` depends on
the iteration only. Examples that are fooled (``m < 0``) stop changing. The fraction ``p`` of changed pixels
halves at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10000-query run, rescaled to
the budget (``p_selection``).

L-inf (delta stays on the vertices of the ball, every unclipped pixel is +-eps):

* init: vertical stripes, ``delta[:, :, col] = +-eps`` with a random sign per column;
* update: the square is set to ``+-eps`` (one random sign per example and channel); if that would not
  change the image at all (the square already holds that value) the sign is flipped, as the authors'
  code redraws until something changes.

L2 (``||delta||_2 = eps`` before clipping to [0, 1]):

* init: a 5 x 5 grid of 5 x 5 tiles, each holding the "meta pseudo-Gaussian" pattern with a random sign;
  the whole rescaled to norm eps;
* update: two random squares W1 and W2 of side s. The mass of delta on W1 u W2, plus any slack
  ``eps^2 - ||delta||^2`` left by clipping, is moved into W1 along ``meta + delta_W1 / ||delta_W1||``;
  W2 \\ W1 is zeroed; the result is rescaled to ``||delta||_2 = eps``.

The meta pseudo-Gaussian pattern of side s is two rectangles, the top ``s//2`` rows +G and the other rows
-G, where G(i, j) = sum_{m=d+1}^{K} 1/m^2 with d the Chebyshev distance of (i, j) to the rectangle's centre
cell and K = max(rows//2, cols//2) + 1; each rectangle has unit L2 norm and the pattern is divided by
sqrt(2) (unit norm), and is transposed with probability 1/2.

Query budget: ``queries`` counts the model evaluations of the search (the init and ``queries - 1``
updates); the clean forward pass that finds the examples already misclassified is not counted (the
authors do the same).

Deviations from the authors' code, each deliberate:

* square positions are uniform over all ``h - s + 1`` placements, as the paper's Algorithms 2 and 3 say
  (the code's ``randint(0, h - s)`` never places a square on the last row or column, which therefore keep
  their initial value for ever); the side is capped at ``min(h, w)`` instead of ``h - 1`` for the same
  reason;
* the transposition of the meta pattern, and of the init tiles, is drawn per example (the code draws one
  coin per query for the whole batch);
* the returned image is the clean one where no proposal got below the clean margin (the paper's search
  starts from the init even when the init is worse), so the attack can never raise the margin;
* L2 runs ``queries - 1`` updates like L-inf (the code's L2 runs ``n_iters`` updates after the init).

Random numbers are stateless, derived from ``(seed, first image of the batch, iteration)``: the same seed,
images and batch size give the same result, and the draws of iteration t do not depend on the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from advdemo.attacks import norms
from advdemo.attacks.losses import margin
from advdemo.configs import Norm

#: The iterations (of a 10000-query run) after which p halves: the authors' ``p_selection``.
P_HALVING_ITERATIONS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
#: Tiles of the L2 init: a TILES x TILES grid of squares of side min(h, w) // TILES.
TILES = 5
#: A window's old perturbation is divided by its norm plus this (the authors' constant).
_WINDOW_NORM_FLOOR = 1e-10
#: Pixels closer than this count as unchanged when an L-inf proposal is checked (the authors' constant).
_UNCHANGED = 1e-7


# --- the schedule ------------------------------------------------------------------------------------------------

def _float64(value) -> tf.Tensor:
    """``value`` as float64 (a Python float is converted directly, not through float32)."""
    return tf.cast(tf.convert_to_tensor(value, dtype_hint=tf.float64), tf.float64)


def p_selection(p_init, iteration, queries) -> tf.Tensor:
    """The fraction of pixels changed at ``iteration`` (0-based) of a ``queries``-query run (float64).

    With ``k = int(iteration / queries * 10000)``, ``p = p_init / 2^j`` where ``j`` counts the breakpoints
    10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 that ``k`` exceeds: ``p_init`` up to k = 10,
    ``p_init / 2`` for 10 < k <= 50, ..., ``p_init / 512`` for k > 8000.
    """
    scaled = tf.floor(_float64(iteration) / _float64(queries) * 10000.0)
    halvings = tf.reduce_sum(tf.cast(scaled > tf.constant(P_HALVING_ITERATIONS, tf.float64), tf.float64))
    return _float64(p_init) / tf.pow(tf.constant(2.0, tf.float64), halvings)


def square_side(p, height: int, width: int, norm: Norm) -> tf.Tensor:
    """Side (int32) of the square that holds a fraction ``p`` of an ``height x width`` image's pixels.

    ``round(sqrt(p * h * w))`` (half to even, like Python's ``round``), at least 1 for L-inf and at least 3
    and odd for L2 (the L2 pattern needs a centre), at most ``min(h, w)``.
    """
    side = tf.round(tf.sqrt(_float64(p) * height * width))
    if norm is Norm.LINF:
        side = tf.maximum(side, 1.0)
    else:
        side = tf.maximum(side, 3.0)
        side = side + (1.0 - tf.math.floormod(side, 2.0))  # even -> odd
    return tf.cast(tf.minimum(side, float(min(height, width))), tf.int32)


# --- the L2 patterns ---------------------------------------------------------------------------------------------

def _inverse_square_sums(length: int) -> tf.Tensor:
    """C[n] = sum_{m=1}^{n} 1/m^2 for n = 0 .. length - 1 (float32)."""
    return tf.constant(np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, length) ** 2)]), tf.float32)


def _pseudo_gaussian(rows: tf.Tensor, cols: tf.Tensor, height, width, grid: int) -> tf.Tensor:
    """The pseudo-Gaussian bump of a ``height x width`` rectangle at integer local coordinates.

    G(i, j) = sum_{m=d+1}^{K} 1/m^2 with d = max(|i - height//2|, |j - width//2|) and
    K = max(height//2, width//2) + 1, zero outside the rectangle, scaled to unit L2 norm over it. ``rows``
    and ``cols`` broadcast against each other; ``grid`` (static) bounds the rectangle's sides.
    """
    sums = _inverse_square_sums(2 * grid + 2)
    last = 2 * grid + 1
    centre_row, centre_col = height // 2, width // 2
    top = tf.maximum(centre_row, centre_col) + 1

    def bump(i, j):
        distance = tf.maximum(tf.abs(i - centre_row), tf.abs(j - centre_col))
        value = tf.gather(sums, top) - tf.gather(sums, tf.clip_by_value(distance, 0, last))
        inside = (i >= 0) & (i < height) & (j >= 0) & (j < width)
        return tf.where(inside, value, 0.0)

    full = bump(tf.range(grid)[:, None], tf.range(grid)[None, :])
    return bump(rows, cols) / tf.sqrt(tf.reduce_sum(tf.square(full)))


def meta_pattern(rows: tf.Tensor, cols: tf.Tensor, side, transpose: tf.Tensor, grid: int) -> tf.Tensor:
    """The authors' "meta pseudo-Gaussian" pattern of a ``side x side`` square at local coordinates.

    The first ``side // 2`` rows hold +G, the others -G (``_pseudo_gaussian`` of each rectangle), each with
    unit norm; the pattern is divided by sqrt(2), so it has unit L2 norm. Where ``transpose`` is true the
    pattern is transposed. Zero outside the square. All arguments broadcast; ``grid`` (static) >= side.
    """
    rows, cols = tf.where(transpose, cols, rows), tf.where(transpose, rows, cols)
    half = side // 2
    upper = _pseudo_gaussian(rows, cols, half, side, grid)
    lower = _pseudo_gaussian(rows - half, cols, side - half, side, grid)
    return (upper - lower) / math.sqrt(2.0)


# --- one batch, compiled -------------------------------------------------------------------------------------------

def _random_square(seed, batch: int, side, height: int, width: int):
    """Per-example random squares: (mask (batch, h, w, 1) float32, local rows, local cols (batch, h, w))."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    top = tf.random.stateless_uniform([batch], seeds[0], 0, height - side + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([batch], seeds[1], 0, width - side + 1, dtype=tf.int32)
    rows = tf.range(height)[None, :, None] - top[:, None, None]
    cols = tf.range(width)[None, None, :] - left[:, None, None]
    inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side)
    return tf.cast(inside, tf.float32)[..., None], rows, cols


def _random_signs(seed, shape) -> tf.Tensor:
    """+-1.0 with probability 1/2 each."""
    return tf.where(tf.random.stateless_uniform(shape, seed) < 0.5, -1.0, 1.0)


def _l2_rescale(images, delta, epsilon):
    """clip(images + delta * eps / ||delta||_2): the candidate image of an L2 perturbation."""
    length = tf.maximum(norms.measure(delta, Norm.L2), 1e-12)
    delta = norms.project(delta * norms.per_example(epsilon / length, delta), epsilon, Norm.L2)
    return tf.clip_by_value(images + delta, 0.0, 1.0)


def _linf_init(images, epsilon, seed):
    """Vertical stripes: each column (and channel) of delta is +-eps."""
    batch, _, width, channels = _static_shape(images)
    signs = _random_signs(seed, [batch, 1, width, channels])
    return tf.clip_by_value(images + norms.project(signs * epsilon, epsilon, Norm.LINF), 0.0, 1.0)


def _l2_init(images, epsilon, seed):
    """A grid of TILES x TILES meta patterns of side min(h, w) // TILES with random signs, at norm eps."""
    batch, height, width, channels = _static_shape(images)
    tile = min(height, width) // TILES
    offset = (min(height, width) - TILES * tile) // 2  # centres the grid (1 pixel on MNIST)
    tiles_down, tiles_across = (height - offset) // tile, (width - offset) // tile
    seeds = tf.random.experimental.stateless_split(seed, 2)
    signs = _random_signs(seeds[0], [batch, tiles_down, tiles_across, channels])
    transposes = tf.random.stateless_uniform([batch, tiles_down, tiles_across], seeds[1]) < 0.5

    def layout(size: int, count: int):
        """Tile index (clamped), local coordinate and in-grid flag of each pixel along one axis."""
        position = np.arange(size) - offset
        inside = (position >= 0) & (position < count * tile)
        return np.clip(position // tile, 0, count - 1), position % tile, inside

    row_tile, local_row, row_inside = layout(height, tiles_down)
    col_tile, local_col, col_inside = layout(width, tiles_across)
    per_pixel_signs = tf.gather(tf.gather(signs, row_tile, axis=1), col_tile, axis=2)
    per_pixel_transposes = tf.gather(tf.gather(transposes, row_tile, axis=1), col_tile, axis=2)
    pattern = meta_pattern(tf.constant(local_row[:, None], tf.int32), tf.constant(local_col[None, :], tf.int32),
                           tf.constant(tile), per_pixel_transposes, min(height, width))
    inside = tf.constant((row_inside[:, None] & col_inside[None, :])[None, :, :, None], tf.float32)
    return _l2_rescale(images, pattern[..., None] * per_pixel_signs * inside, epsilon)


def _linf_update(images, state, epsilon, side, seed):
    """``state`` with a random square of each example set to +-eps (flipped if that changes nothing)."""
    batch, height, width, channels = _static_shape(images)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    window, _, _ = _random_square(seeds[0], batch, side, height, width)
    values = _random_signs(seeds[1], [batch, 1, 1, channels]) * epsilon
    same = tf.abs(tf.clip_by_value(images + values, 0.0, 1.0) - state) < _UNCHANGED
    unchanged = tf.reduce_all(same | (window == 0.0), axis=[1, 2, 3])
    values = tf.where(norms.per_example(unchanged, values), -values, values)
    delta = tf.where(window > 0.0, values, state - images)
    return tf.clip_by_value(images + norms.project(delta, epsilon, Norm.LINF), 0.0, 1.0)


def _l2_update(images, state, epsilon, side, seed):
    """Moves the mass of delta on two random squares W1 u W2 (and any slack) into W1; norm eps again."""
    batch, height, width, channels = _static_shape(images)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    window, rows, cols = _random_square(seeds[0], batch, side, height, width)
    other, _, _ = _random_square(seeds[1], batch, side, height, width)
    both = tf.maximum(window, other)
    delta = state - images

    def window_norm(values):  # per example and channel, (batch, 1, 1, channels)
        return tf.sqrt(tf.reduce_sum(tf.square(values), axis=[1, 2], keepdims=True))

    budget = tf.sqrt(norms.per_example(tf.maximum(tf.square(epsilon) - tf.square(norms.measure(delta, Norm.L2)),
                                                  0.0), delta) / channels + tf.square(window_norm(delta * both)))
    transposes = tf.random.stateless_uniform([batch, 1, 1], seeds[2]) < 0.5
    fresh = meta_pattern(rows, cols, side, transposes, min(height, width))[..., None]
    fresh = fresh * _random_signs(seeds[3], [batch, 1, 1, channels])
    proposal = fresh + delta * window / (_WINDOW_NORM_FLOOR + window_norm(delta * window))
    proposal = proposal / tf.maximum(window_norm(proposal), 1e-12) * budget
    return _l2_rescale(images, delta * (1.0 - both) + proposal * window, epsilon)


def _static_shape(images) -> tuple:
    """(batch, height, width, channels): the batch is dynamic, the image shape static."""
    _, height, width, channels = images.shape
    return tf.shape(images)[0], int(height), int(width), int(channels)


def searching(margins, chains: int) -> tf.Tensor:
    """Examples still searching (bool, like ``margins``): not fooled (margin >= 0), and no other chain of their
    image (``chains`` consecutive examples) fooled either."""
    if chains == 1:
        return margins >= 0.0
    return tf.repeat(tf.reduce_all(tf.reshape(margins, [-1, chains]) >= 0.0, axis=1), chains)


def _attack_batch(model, images, labels, epsilon, iterations, schedule_queries, p_init, seed, norm: Norm,
                  chains: int = 1):
    """Square Attack on one batch. Returns (adversarial images, their margins), the margins (batch,).

    ``iterations`` updates follow the init (``queries - 1`` of them in ``square_attack``); ``p`` follows the
    schedule of a ``schedule_queries``-query run. Only examples not yet fooled are sent to the model. With
    ``chains`` > 1 the batch holds each image ``chains`` times in a row (independent searches of one image): all
    of an image's chains stop as soon as one of them fools the model.
    """
    _, height, width, _ = _static_shape(images)
    init, update = (_linf_init, _linf_update) if norm is Norm.LINF else (_l2_init, _l2_update)

    def margins(candidates, active):
        """m(candidates) for the active examples, +inf for the others (one forward pass)."""
        index = tf.where(active)
        logits = model(tf.gather_nd(candidates, index), training=False)
        found = margin(tf.gather_nd(labels, index), logits)
        return tf.tensor_scatter_nd_update(tf.fill(tf.shape(active), np.inf), index, found)

    clean_margin = margin(labels, model(images, training=False))
    correct = clean_margin >= 0.0
    start = init(images, epsilon, tf.random.experimental.stateless_fold_in(seed, 0))
    start_margin = margins(start, correct)
    state = tf.where(norms.per_example(correct, images), start, images)
    state_margin = tf.where(correct, start_margin, clean_margin)

    def body(t, state, state_margin):
        p = p_selection(p_init, t, schedule_queries)
        side = square_side(p, height, width, norm)
        candidate = update(images, state, epsilon, side, tf.random.experimental.stateless_fold_in(seed, t + 1))
        active = searching(state_margin, chains)
        candidate_margin = margins(candidate, active)
        better = active & (candidate_margin < state_margin)
        return (t + 1, tf.where(norms.per_example(better, state), candidate, state),
                tf.where(better, candidate_margin, state_margin))

    _, state, state_margin = tf.while_loop(
        lambda t, state, state_margin: (t < iterations) & tf.reduce_any(searching(state_margin, chains)),
        body, (tf.constant(0), state, state_margin))
    improved = state_margin < clean_margin
    return (tf.where(norms.per_example(improved, images), state, images),
            tf.where(improved, state_margin, clean_margin))


#: Compiled once per (model, norm, chains) and image shape; epsilon, budget, p_init and seed are tensors.
_compiled_batch = tf.function(_attack_batch, reduce_retracing=True)



# --- the entry point -----------------------------------------------------------------------------------------------

def _parse_norm(norm: Norm | str) -> Norm:
    norm = Norm.parse(norm)
    if norm is Norm.L1:
        raise ValueError("Square Attack has no L1 version: use norm 'linf' or 'l2'")
    return norm


def check_attack_inputs(images, labels, epsilon, queries, p_init, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of a random-search attack (this one and ``advdemo.attacks.sparse_rs``) as float32 images clipped to
    [0, 1] and int32 labels; ValueError with a plain message for a bad shape, range or setting."""
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels).reshape(-1).astype(np.int32)
    if images.ndim != 4:
        raise ValueError(f"images must be shaped (batch, height, width, channels), got {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {labels.shape[0]} labels")
    if images.size and (images.min() < -1e-6 or images.max() > 1 + 1e-6):
        raise ValueError(f"pixel values must lie in [0, 1], got [{images.min():.3g}, {images.max():.3g}]: "
                         "scale uint8 images by 1/255")
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    if isinstance(queries, bool) or not isinstance(queries, (int, np.integer)) or queries < 0:
        raise ValueError(f"queries must be an integer >= 0, got {queries!r}")
    if not 0 < p_init <= 1:
        raise ValueError(f"p_init must be in (0, 1], got {p_init!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return np.clip(images, 0.0, 1.0), labels


def best_chain(adversarial: np.ndarray, margins: np.ndarray, chains: int) -> tuple[np.ndarray, np.ndarray]:
    """Of each image's ``chains`` consecutive results, the one with the lowest margin: (images, margins)."""
    if chains == 1:
        return adversarial, margins
    grouped = margins.reshape(-1, chains)
    pick = np.arange(len(grouped)) * chains + np.argmin(grouped, axis=1)
    return adversarial[pick], margins[pick]


def _run(model, images, labels, epsilon: float, norm: Norm | str, queries: int, p_init: float, seed: int,
         batch_size: int, on_batch: Callable[[int, int], None] | None,
         schedule_queries: int | None = None, chains: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``square_attack`` that also returns the margins (n,) of the returned images.

    ``schedule_queries`` (default ``queries``) sets the budget the p schedule is rescaled to: running
    fewer ``queries`` with the same ``schedule_queries`` and seed gives a prefix of the same search.
    """
    norm = _parse_norm(norm)
    images, labels = check_attack_inputs(images, labels, epsilon, queries, p_init, batch_size)
    if not (isinstance(chains, int) and chains >= 1):
        raise ValueError(f"chains must be an integer >= 1, got {chains!r}")
    if chains > 1:
        images, labels = np.repeat(images, chains, axis=0), np.repeat(labels, chains)
        batch_size = max(chains, batch_size - batch_size % chains)  # an image's chains share a batch
    total = len(images)
    if queries == 0 or total == 0:
        if on_batch is not None:
            on_batch(total, total)
        return images[::chains].copy(), np.full(total // chains, np.nan, np.float32)
    schedule = queries if schedule_queries is None else schedule_queries
    arguments = (tf.constant(epsilon, tf.float32), tf.constant(queries - 1, tf.int32),
                 tf.constant(schedule, tf.int32), tf.constant(p_init, tf.float64))
    adversarial, margins = [], []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        batch_seed = tf.constant([seed, start], tf.int64)
        found, found_margins = _compiled_batch(model, tf.constant(images[start:stop]), tf.constant(labels[start:stop]),
                                               *arguments, batch_seed, norm, chains)
        adversarial.append(found.numpy())
        margins.append(found_margins.numpy())
        if on_batch is not None:
            on_batch(stop // chains, total // chains)
    return best_chain(np.concatenate(adversarial), np.concatenate(margins), chains)


def square_attack(model, images: np.ndarray, labels: np.ndarray, epsilon: float, norm: Norm | str,
                  queries: int = 1000, p_init: float = 0.8, seed: int = 0, batch_size: int = 1000,
                  on_batch: Callable[[int, int], None] | None = None, chains: int = 1) -> np.ndarray:
    """Untargeted Square Attack (score-based, no gradients) in L-inf or L2, compiled and batched.

    Args:
        model: a Keras classifier, images (batch, 28, 28, 1) in [0, 1] -> logits (batch, classes).
        images: float32 (n, height, width, channels) in [0, 1].
        labels: int (n,) true classes.
        epsilon: radius of the ball, in ``norm`` (0 returns the images unchanged).
        norm: ``Norm.LINF`` or ``Norm.L2`` (or ``"linf"``/``"l2"``); L1 raises ValueError.
        queries: model evaluations per example (the init and ``queries - 1`` updates; fooled examples stop
            early); 0 returns the images unchanged.
        p_init: the fraction of pixels the first updates change (the paper uses 0.8 on MNIST L-inf).
        seed: the random search is a function of (seed, images, batch_size).
        batch_size: images attacked at once.
        on_batch: called as ``on_batch(done, total)`` after each batch, for progress.
        chains: independent searches of each image run side by side in one batch (each with its own init and
            squares; ``queries`` each); the image's result is its chain with the lowest margin, and all its
            chains stop once one fools the model. On one image, 1 chain of 8,000 queries makes 8,000 forward
            passes of one image, 8 chains of 1,000 make 1,000 passes of 8 images: the same queries in far
            less time, since a CPU evaluates a small batch almost as fast as one image (2.4 ms per iteration
            for 8 chains, 2.75 ms for 16, on 2 cores). XLA would halve that, but compiling the loop took 10-50 s
            per model and norm, on a student's first click.

    Returns:
        float32 array shaped like ``images``: per example the proposal with the lowest margin
        ``z_y - max_{i != y} z_i`` found (an example already misclassified at the start, or where no proposal
        beat the clean margin, stays as it is); every example within ``epsilon`` of the original in ``norm``
        (up to float rounding, <= eps * (1 + 1e-5)) and inside [0, 1].

    Raises:
        ValueError: for ``Norm.L1``, a bad shape, pixels outside [0, 1] or a bad setting.
    """
    if epsilon == 0:  # exactly the input: TensorFlow would flush subnormal pixels to 0 on the way
        _parse_norm(norm)
        images, labels = check_attack_inputs(images, labels, epsilon, queries, p_init, batch_size)
        if on_batch is not None:
            on_batch(len(images), len(images))
        return images.copy()
    return _run(model, images, labels, epsilon, norm, queries, p_init, seed, batch_size, on_batch,
                chains=chains)[0]
