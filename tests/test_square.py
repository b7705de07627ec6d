"""advdemo.attacks.square: the Square Attack's contract (ball, range, margin never raised), the paper's schedule and
patterns by hand, and the reason it is in the ensemble: it fools a model whose input gradient is zero.

Small random images and a small random CNN keep every test to a few seconds.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from advdemo.attacks import gradient as attacks
from advdemo.attacks import losses, square
from advdemo.configs import AttackConfig, Norm
from advdemo.models import build_cnn

EPSILONS = {Norm.LINF: 0.1, Norm.L2: 1.0}
NORMS = [Norm.LINF, Norm.L2]


def size(delta: np.ndarray, norm: Norm) -> np.ndarray:
    flat = delta.reshape(len(delta), -1).astype(np.float64)
    return np.abs(flat).max(1) if norm is Norm.LINF else np.linalg.norm(flat, axis=1)


def margins(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return losses.margin(tf.constant(labels), model(tf.constant(images), training=False)).numpy()


@pytest.fixture(scope="module")
def cnn():
    """The project's CNN with random weights (seeded), and 12 random images labelled by its predictions.

    Images have exact 0 and 1 pixels so that clipping to [0, 1] is exercised; every clean margin is >= 0.
    """
    keras.utils.set_random_seed(1)
    model = build_cnn()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=(12, 28, 28, 1)).astype(np.float32)
    images[:, :4] = 0.0
    images[:, -4:] = 1.0
    labels = np.argmax(model(images, training=False).numpy(), axis=1)
    return model, images, labels


# --- the contract ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", NORMS)
def test_result_stays_in_the_ball_and_in_range(cnn, norm):
    model, images, labels = cnn
    epsilon = EPSILONS[norm]
    adversarial = square.square_attack(model, images, labels, epsilon, norm, queries=40, seed=3)
    assert adversarial.dtype == np.float32 and adversarial.shape == images.shape
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.all(size(adversarial - images, norm) <= epsilon * (1 + 1e-5))
    assert np.mean(np.any(adversarial != images, axis=(1, 2, 3))) >= 0.5  # not vacuous: most examples moved


@pytest.mark.parametrize("norm", NORMS)
def test_zero_epsilon_returns_the_input_exactly(cnn, norm):
    model, images, labels = cnn
    adversarial = square.square_attack(model, images, labels, 0.0, norm, queries=5)
    np.testing.assert_array_equal(adversarial, images)


@pytest.mark.parametrize("norm", NORMS)
def test_margin_never_rises_and_falls_with_more_queries(cnn, norm):
    """Proposals are accepted only where they lower the margin: against the clean margin, and along one search
    (fewer queries of the same run, with the same seed and schedule, are a prefix of it)."""
    model, images, labels = cnn
    clean = margins(model, images, labels)
    found = {}
    for queries in (1, 8, 40):
        adversarial, reported = square._run(model, images, labels, EPSILONS[norm], norm, queries, 0.8, 5, 1000, None,
                                            schedule_queries=40)
        np.testing.assert_allclose(reported, margins(model, adversarial, labels), atol=1e-4)
        found[queries] = reported
    assert np.all(found[1] <= clean)
    assert np.all(found[8] <= found[1])
    assert np.all(found[40] <= found[8])
    assert np.any(found[40] < found[1] - 1e-4)  # the search did improve something


def test_examples_already_misclassified_are_returned_unchanged(cnn):
    model, images, labels = cnn
    wrong = labels.copy()
    wrong[::2] = (labels[::2] + 1) % 10  # the model disagrees with these labels: already "fooled"
    assert np.all(margins(model, images, wrong)[::2] < 0)
    for norm in NORMS:
        adversarial = square.square_attack(model, images, wrong, EPSILONS[norm], norm, queries=10)
        np.testing.assert_array_equal(adversarial[::2], images[::2])
        assert np.any(adversarial[1::2] != images[1::2])


# --- the paper's construction ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("iteration", "expected"), [
    # queries = 1000: k = int(iteration / 1000 * 10000) = 10 * iteration; p halves once k passes a breakpoint.
    (0, 0.8), (1, 0.8), (2, 0.4), (5, 0.4), (6, 0.2), (20, 0.2), (21, 0.1), (50, 0.1), (51, 0.05),
    (100, 0.05), (101, 0.025), (200, 0.025), (201, 0.0125), (400, 0.0125), (401, 0.00625), (600, 0.00625),
    (601, 0.003125), (800, 0.003125), (801, 0.0015625), (999, 0.0015625)])
def test_p_selection_halves_at_the_papers_breakpoints(iteration, expected):
    assert square.p_selection(0.8, iteration, 1000).numpy() == pytest.approx(expected, rel=1e-12)


def test_p_selection_is_unscaled_for_a_10000_query_run():
    iterations = [10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001, 2000, 2001, 4000, 4001, 6000, 6001, 8000, 8001]
    got = [square.p_selection(1.0, i, 10000).numpy() for i in iterations]
    expected = [2.0 ** -(j // 2 + j % 2) for j in range(len(iterations))]  # 1, 1/2, 1/2, 1/4, 1/4, ...
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("p", "linf", "l2"), [
    (0.8, 25, 25),        # sqrt(0.8 * 784) = 25.04
    (0.4, 18, 19),        # 17.71: L2 sides are odd
    (0.2, 13, 13),        # 12.52
    (0.05, 6, 7),         # 6.26
    (0.0125, 3, 3),       # 3.13
    (0.0015625, 1, 3),    # 1.11: L2 sides are at least 3
    (1.0, 28, 28),        # capped at the image
])
def test_square_side_by_hand(p, linf, l2):
    assert square.square_side(p, 28, 28, Norm.LINF).numpy() == linf
    assert square.square_side(p, 28, 28, Norm.L2).numpy() == l2


def test_meta_pattern_of_side_3_by_hand():
    """Top row: the 1 x 3 bump (1/4, 1/4 + 1, 1/4); lower rows: minus the 2 x 3 bump centred on (1, 1).
    Each half has unit norm, the whole is divided by sqrt(2); transposing transposes it."""
    upper = np.array([[0.25, 1.25, 0.25]]) / math.sqrt(1.6875)
    lower = np.array([[0.25, 0.25, 0.25], [0.25, 1.25, 0.25]]) / math.sqrt(1.875)
    expected = np.vstack([upper, -lower]) / math.sqrt(2)
    rows, cols = tf.range(5)[:, None], tf.range(5)[None, :]
    for transpose, want in ((False, expected), (True, expected.T)):
        got = square.meta_pattern(rows, cols, tf.constant(3), tf.constant(transpose), 28).numpy()
        np.testing.assert_allclose(got[:3, :3], want, atol=1e-6)
        assert np.all(got[3:] == 0) and np.all(got[:, 3:] == 0)
    for side in (5, 13, 25):  # unit L2 norm for any side
        got = square.meta_pattern(tf.range(28)[:, None], tf.range(28)[None, :], tf.constant(side), False, 28)
        assert float(tf.norm(got)) == pytest.approx(1.0, abs=1e-5)


def test_l2_keeps_the_perturbation_on_the_sphere():
    """Without clipping, every L2 iterate (the init and each accepted window-pair update) has ||delta|| = eps."""
    keras.utils.set_random_seed(2)
    model = build_cnn()
    images = np.random.default_rng(1).uniform(0.3, 0.7, size=(10, 28, 28, 1)).astype(np.float32)
    labels = np.argmax(model(images, training=False).numpy(), axis=1)
    epsilon = 0.25  # small enough that no pixel is ever clipped
    start = square._l2_init(tf.constant(images), tf.constant(epsilon), tf.constant([1, 0], tf.int64)).numpy()
    np.testing.assert_allclose(size(start - images, Norm.L2), epsilon, rtol=1e-5)
    adversarial = square.square_attack(model, images, labels, epsilon, Norm.L2, queries=30, seed=1)
    moved = np.any(adversarial != images, axis=(1, 2, 3))
    assert moved.sum() >= 5
    np.testing.assert_allclose(size(adversarial - images, Norm.L2)[moved], epsilon, rtol=1e-5)


def test_l2_update_from_zero_puts_the_whole_budget_in_one_window():
    """From delta = 0 the slack eps^2 - ||delta||^2 is all there is: one update must be +-eps times the meta
    pattern (or its transpose) on a single side x side square, zero elsewhere."""
    images = tf.fill([6, 28, 28, 1], 0.5)
    epsilon, side = 0.3, 7
    moved = square._l2_update(images, images, tf.constant(epsilon), tf.constant(side),
                              tf.constant([4, 2], tf.int64)).numpy()
    meta = square.meta_pattern(tf.range(side)[:, None], tf.range(side)[None, :], tf.constant(side), False, 28).numpy()
    for delta in moved[..., 0] - 0.5:
        rows, cols = np.nonzero(np.abs(delta) > 1e-7)
        top, left = rows.min(), cols.min()
        assert (rows.max() - top + 1, cols.max() - left + 1) == (side, side)
        window = delta[top:top + side, left:left + side] / epsilon
        assert any(np.allclose(window, sign * pattern, atol=1e-5) for sign in (1, -1) for pattern in (meta, meta.T))


def test_linf_perturbation_is_plus_or_minus_epsilon_on_unclipped_pixels(cnn):
    model, images, labels = cnn
    epsilon = EPSILONS[Norm.LINF]
    for queries in (1, 40):
        adversarial = square.square_attack(model, images, labels, epsilon, Norm.LINF, queries=queries, seed=2)
        moved = np.any(adversarial != images, axis=(1, 2, 3))
        assert moved.sum() >= 6
        delta = np.abs(adversarial - images)[moved]
        clipped = np.isin(adversarial[moved], (0.0, 1.0))
        assert np.all(np.isclose(delta, epsilon, atol=1e-6) | clipped)


def test_l1_is_refused(cnn):
    model, images, labels = cnn
    for norm in (Norm.L1, "l1"):
        with pytest.raises(ValueError, match="Square Attack has no L1 version"):
            square.square_attack(model, images, labels, 1.0, norm)


# --- reproducibility and compilation -----------------------------------------------------------------------------

def test_seeded_batched_progress_and_no_retracing(cnn):
    model, images, labels = cnn
    first = square.square_attack(model, images, labels, 0.1, Norm.LINF, queries=20, seed=7, batch_size=4)
    traces = square._compiled_batch.experimental_get_tracing_count()
    calls = []
    again = square.square_attack(model, images, labels, 0.1, Norm.LINF, queries=20, seed=7, batch_size=4,
                                 on_batch=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(first, again)
    assert calls == [(4, 12), (8, 12), (12, 12)]
    other_seed = square.square_attack(model, images, labels, 0.1, Norm.LINF, queries=20, seed=8, batch_size=4)
    assert not np.array_equal(first, other_seed)
    square.square_attack(model, images, labels, 0.05, "linf", queries=30, seed=9, batch_size=4, p_init=0.3)
    assert square._compiled_batch.experimental_get_tracing_count() == traces  # tensors, not constants


# --- what it is for: gradient masking ------------------------------------------------------------------------------

class RoundPixels(keras.layers.Layer):
    """Rounds pixels to multiples of 1/16; the input gradient is exactly zero (not None) everywhere."""

    def call(self, images):
        return tf.stop_gradient(tf.round(images * 16.0) / 16.0) + 0.0 * images


PATCH = slice(10, 18)  # the central 8 x 8 pixels


def masked_patch_model() -> keras.Model:
    """Logits 20 * (m - 1/2) for class 0, -20 * (m - 1/2) for class 1 and -5 for the others, where m is the
    mean of the central 8 x 8 patch of the rounded image: an easy decision, but a zero input gradient."""
    inputs = keras.Input(shape=(28, 28, 1))
    dense = keras.layers.Dense(10, name="dense")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(RoundPixels()(inputs))))
    patch = np.zeros((28, 28), np.float32)
    patch[PATCH, PATCH] = 20.0 / 64
    kernel = np.zeros((784, 10), np.float32)
    kernel[:, 0], kernel[:, 1] = patch.reshape(-1), -patch.reshape(-1)
    bias = np.full(10, -5.0, np.float32)
    bias[0], bias[1] = -10.0, 10.0
    dense.set_weights([kernel, bias])
    return model


def test_catches_gradient_masking_that_defeats_pgd():
    """PGD sees a zero gradient and leaves every image correct; the random search fools almost all of them."""
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    images = rng.uniform(0.3, 0.7, size=(16, 28, 28, 1)).astype(np.float32)
    # Class 0: the patch averages 0.6; class 1: 0.4 (margin about 4 either way).
    images[:, PATCH, PATCH] = rng.uniform(0.5, 0.7, size=(16, 8, 8, 1)) - 0.2 * labels[:, None, None, None]
    model = masked_patch_model()
    with tf.GradientTape() as tape:
        x = tf.constant(images)
        tape.watch(x)
        loss = tf.reduce_sum(losses.cross_entropy(labels, model(x)))
    assert not np.any(tape.gradient(loss, x).numpy())  # the gradient is zero, so PGD cannot move

    def accuracy(adversarial):
        return np.mean(np.argmax(model(adversarial).numpy(), axis=1) == labels)

    assert accuracy(images) == 1.0
    for norm, epsilon, queries in ((Norm.LINF, 0.3, 100), (Norm.L2, 2.0, 1000)):
        assert accuracy(attacks.attack(model, images, labels, AttackConfig.pgd(epsilon, norm, steps=10))) == 1.0
        assert accuracy(square.square_attack(model, images, labels, epsilon, norm, queries=queries)) <= 0.25


# --- chains: several searches of one image in one batch (the app's budget) ---------------------------------------

def test_best_chain_keeps_each_images_lowest_margin_by_hand():
    adversarial = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    picked, low = square.best_chain(adversarial, np.array([0.5, -0.2, 0.1, 0.3, 0.9, 0.2], np.float32), 3)
    np.testing.assert_array_equal(picked[:, 0, 0, 0], [1.0, 5.0])
    np.testing.assert_array_equal(low, np.array([-0.2, 0.2], np.float32))


@pytest.mark.parametrize("norm", NORMS)
def test_chains_are_independent_searches_and_stay_in_the_ball(cnn, norm):
    """16 chains of 8 queries lower each image's margin at least as far as one chain of 8 would on average, and
    further than a single chain does on most images: identical chains (the same random draws) would not."""
    model, images, labels = cnn
    images, labels, epsilon = images[:4], labels[:4], EPSILONS[norm]
    one, one_margins = square._run(model, images, labels, epsilon, norm, 8, 0.8, 3, 1000, None)
    many, many_margins = square._run(model, images, labels, epsilon, norm, 8, 0.8, 3, 1000, None, chains=16)
    assert many.shape == images.shape and many.dtype == np.float32
    assert many.min() >= 0.0 and many.max() <= 1.0
    assert np.all(size(many - images, norm) <= epsilon * (1 + 1e-5))
    np.testing.assert_allclose(many_margins, margins(model, many, labels), atol=1e-3)
    assert np.sum(many_margins < one_margins) >= 3


def test_an_images_chains_stop_searching_once_one_fools_the_model_by_hand():
    margins = tf.constant([0.3, -0.1, 0.2, 0.5, 0.0, 0.4, 2.0, -3.0, -1.0], tf.float32)
    np.testing.assert_array_equal(square.searching(margins, 3).numpy(), [False] * 3 + [True] * 3 + [False] * 3)
    np.testing.assert_array_equal(square.searching(margins, 1).numpy(), (margins.numpy() >= 0))
