"""advdemo.attacks.norms against hand computations and brute-force numpy references (NSL 1.4.0 semantics)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from advdemo.attacks import norms
from advdemo.configs import Norm


def direction(gradient, norm: Norm) -> np.ndarray:
    return norms.steepest_ascent_direction(tf.constant(gradient, tf.float32), norm).numpy()


# --- steepest-ascent directions, by hand -------------------------------------------------------------------------

def test_linf_direction_is_the_sign():
    g = np.array([[[0.5, -2.0], [0.0, 1e-8]], [[-3.0, 0.0], [7.0, -1e-9]]], np.float32)  # (2, 2, 2)
    expected = np.array([[[1, -1], [0, 1]], [[-1, 0], [1, -1]]], np.float32)
    np.testing.assert_array_equal(direction(g, Norm.LINF), expected)


def test_l2_direction_is_normalised_per_example():
    # example 0: (3, 4) -> norm 5; example 1: (0, -2, 0, 0) over a 2x2 example -> norm 2.
    g = np.array([[[3.0, 0.0], [0.0, 4.0]], [[0.0, -2.0], [0.0, 0.0]]], np.float32)
    expected = np.array([[[0.6, 0.0], [0.0, 0.8]], [[0.0, -1.0], [0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(direction(g, Norm.L2), expected, rtol=1e-6)


def test_l2_direction_floors_tiny_norms_at_1e_minus_6():
    # ||g|| = 5e-8 < 1e-6: NSL divides by 1e-6, so the direction is g / 1e-6 (norm 0.05), not a unit vector.
    g = np.array([[3e-8, 4e-8]], np.float32)
    np.testing.assert_allclose(direction(g, Norm.L2), [[0.03, 0.04]], rtol=1e-4)


def test_l1_direction_picks_the_largest_coordinate():
    g = np.array([[0.1, -0.7, 0.3], [2.0, 1.0, -1.5]], np.float32)
    expected = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    np.testing.assert_array_equal(direction(g, Norm.L1), expected)


def test_l1_direction_splits_ties_evenly_per_example():
    # example 0: |g| max 3 tied twice -> +-1/2; example 1: max 1 tied three times (signs kept) -> +-1/3.
    g = np.array([[3.0, -3.0, 1.0, 0.0], [1.0, -1.0, 1.0, 0.5]], np.float32)
    expected = np.array([[0.5, -0.5, 0.0, 0.0], [1 / 3, -1 / 3, 1 / 3, 0.0]], np.float32)
    np.testing.assert_allclose(direction(g, Norm.L1), expected, rtol=1e-6)


@pytest.mark.parametrize("norm", list(Norm))
def test_direction_has_unit_norm_and_maximises_the_inner_product(norm):
    """<d, g> equals the dual norm of g (L-inf -> L1, L2 -> L2, L1 -> L-inf), and ||d|| = 1."""
    rng = np.random.default_rng(1)
    g = rng.normal(size=(5, 3, 4)).astype(np.float32)
    d = direction(g, norm)
    flat_g, flat_d = g.reshape(5, -1).astype(np.float64), d.reshape(5, -1).astype(np.float64)
    dual = {Norm.LINF: np.abs(flat_g).sum(1), Norm.L2: np.linalg.norm(flat_g, axis=1),
            Norm.L1: np.abs(flat_g).max(1)}[norm]
    size = {Norm.LINF: np.abs(flat_d).max(1), Norm.L2: np.linalg.norm(flat_d, axis=1),
            Norm.L1: np.abs(flat_d).sum(1)}[norm]
    np.testing.assert_allclose((flat_d * flat_g).sum(1), dual, rtol=1e-5)
    np.testing.assert_allclose(size, 1.0, rtol=1e-6)


@pytest.mark.parametrize("norm", list(Norm))
def test_non_finite_gradient_entries_count_as_zero(norm):
    g = np.array([[np.nan, 2.0, -np.inf, -1.0], [np.inf, np.nan, 0.5, 0.0]], np.float32)
    cleaned = np.array([[0.0, 2.0, 0.0, -1.0], [0.0, 0.0, 0.5, 0.0]], np.float32)
    got = direction(g, norm)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, direction(cleaned, norm), rtol=1e-6)
    # and by hand, for this gradient:
    expected = {Norm.LINF: [[0, 1, 0, -1], [0, 0, 1, 0]],
                Norm.L2: [[0, 2 / np.sqrt(5), 0, -1 / np.sqrt(5)], [0, 0, 1, 0]],
                Norm.L1: [[0, 1, 0, 0], [0, 0, 1, 0]]}[norm]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("norm", list(Norm))
def test_zero_gradient_gives_zero_direction(norm):
    g = np.zeros((2, 3, 3), np.float32)
    got = direction(g, norm)
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, np.zeros_like(g))


def test_zero_gradient_example_does_not_disturb_its_neighbours():
    g = np.array([[0.0, 0.0], [3.0, -4.0]], np.float32)
    np.testing.assert_allclose(direction(g, Norm.L2), [[0.0, 0.0], [0.6, -0.8]], rtol=1e-6)
    np.testing.assert_array_equal(direction(g, Norm.L1), [[0.0, 0.0], [0.0, -1.0]])


# --- projections ---------------------------------------------------------------------------------------------------

def project(delta, epsilon, norm: Norm) -> np.ndarray:
    return norms.project(tf.constant(delta, tf.float32), epsilon, norm).numpy()


def test_linf_projection_clips_elementwise():
    delta = np.array([[[0.5, -0.1], [-0.9, 0.3]]], np.float32)
    np.testing.assert_allclose(project(delta, 0.3, Norm.LINF), [[[0.3, -0.1], [-0.3, 0.3]]], rtol=1e-6)


def test_l2_projection_rescales_only_outside_points():
    delta = np.array([[3.0, 4.0], [0.3, -0.4], [0.0, 0.0]], np.float32)  # norms 5, 0.5, 0
    np.testing.assert_allclose(project(delta, 1.0, Norm.L2), [[0.6, 0.8], [0.3, -0.4], [0.0, 0.0]], rtol=1e-6)


def l1_projection_by_bisection(v: np.ndarray, epsilon: float) -> np.ndarray:
    """Reference: soft-threshold by the theta >= 0 with sum(max(|v| - theta, 0)) = eps, found by bisection."""
    v = v.astype(np.float64)
    if np.abs(v).sum() <= epsilon:
        return v
    low, high = 0.0, np.abs(v).max()
    for _ in range(200):
        theta = (low + high) / 2
        if np.maximum(np.abs(v) - theta, 0).sum() > epsilon:
            low = theta
        else:
            high = theta
    return np.sign(v) * np.maximum(np.abs(v) - (low + high) / 2, 0)


@pytest.mark.parametrize("epsilon", [0.05, 0.5, 2.0, 7.5])
def test_l1_projection_matches_a_bisection_reference(epsilon):
    rng = np.random.default_rng(int(epsilon * 100))
    delta = rng.normal(size=(16, 4, 5)).astype(np.float32) * rng.uniform(0.05, 2.0, size=(16, 1, 1)).astype(np.float32)
    got = project(delta, epsilon, Norm.L1)
    for i in range(len(delta)):
        expected = l1_projection_by_bisection(delta[i].reshape(-1), epsilon).reshape(delta[i].shape)
        np.testing.assert_allclose(got[i], expected, atol=2e-5)
        assert np.abs(got[i]).sum() <= epsilon * (1 + 1e-5) + 1e-6


def test_l1_projection_by_hand():
    # |v| = (3, 1, 0.5), eps 2: theta = 1 gives (2, 0, 0) with sum 2, so the projection is (2, 0, 0) signed.
    # |v| = (1, 1), eps 1: theta = 0.5 -> (0.5, -0.5).
    np.testing.assert_allclose(project(np.array([[3.0, -1.0, 0.5]], np.float32), 2.0, Norm.L1), [[2.0, 0.0, 0.0]],
                               atol=1e-6)
    np.testing.assert_allclose(project(np.array([[1.0, -1.0]], np.float32), 1.0, Norm.L1), [[0.5, -0.5]], atol=1e-6)


def test_l1_projection_is_nearer_than_other_points_of_the_ball():
    """Optimality: no random point of the L1 ball (scaled to the sphere) is closer to v than the projection."""
    rng = np.random.default_rng(5)
    v = rng.normal(size=(1, 12)).astype(np.float32)
    epsilon = 1.0
    projected = project(v, epsilon, Norm.L1)[0].astype(np.float64)
    best = np.linalg.norm(projected - v[0])
    candidates = rng.laplace(size=(20000, 12))
    candidates *= epsilon / np.abs(candidates).sum(1, keepdims=True) * rng.uniform(0, 1, size=(20000, 1)) ** (1 / 12)
    assert np.linalg.norm(candidates - v[0], axis=1).min() >= best - 1e-6


@pytest.mark.parametrize("norm", list(Norm))
def test_points_inside_the_ball_are_unchanged(norm):
    rng = np.random.default_rng(3)
    delta = rng.uniform(-1, 1, size=(8, 3, 3)).astype(np.float32)
    size = norms.measure(tf.constant(delta), norm).numpy()
    epsilon = float(size.max()) * 1.01
    np.testing.assert_array_equal(project(delta, epsilon, norm), delta)


@pytest.mark.parametrize("norm", list(Norm))
def test_projection_lands_in_the_ball_and_is_idempotent(norm):
    rng = np.random.default_rng(4)
    delta = rng.normal(size=(8, 6, 6)).astype(np.float32) * 3
    epsilon = 0.7
    once = project(delta, epsilon, norm)
    size = norms.measure(tf.constant(once), norm).numpy()
    assert np.all(size <= epsilon * (1 + 1e-5))
    np.testing.assert_allclose(size, epsilon, rtol=1e-4)  # every example was outside, so lands on the sphere
    np.testing.assert_allclose(project(once, epsilon, norm), once, atol=1e-6)


def test_projection_accepts_a_tensor_epsilon():
    delta = tf.constant([[2.0, -2.0]])
    np.testing.assert_allclose(norms.project(delta, tf.constant(0.5), Norm.LINF).numpy(), [[0.5, -0.5]])


# --- random starts -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", list(Norm))
def test_random_in_ball_stays_inside(norm):
    tf.random.set_seed(0)
    epsilon = {Norm.LINF: 0.3, Norm.L2: 2.0, Norm.L1: 10.0}[norm]
    points = norms.random_in_ball([64, 28, 28, 1], epsilon, norm).numpy()
    assert points.shape == (64, 28, 28, 1) and points.dtype == np.float32
    size = norms.measure(tf.constant(points), norm).numpy()
    assert np.all(size <= epsilon * (1 + 1e-5))
    assert np.all(size > 0)
    # examples are independent draws, not one point repeated
    assert len({points[i].tobytes() for i in range(len(points))}) == len(points)


@pytest.mark.parametrize("norm", list(Norm))
def test_random_in_ball_is_uniform_in_two_dimensions(norm):
    """In 2-D the ball of radius eps/2 holds 1/4 of the ball's area, in every norm: check the fraction of draws."""
    tf.random.set_seed(1)
    points = norms.random_in_ball([8000, 2], 1.0, norm).numpy()
    size = norms.measure(tf.constant(points), norm).numpy()
    assert abs(np.mean(size <= 0.5) - 0.25) < 0.03  # binomial std ~0.005
    # and symmetric: each quadrant equally likely
    for sx in (-1, 1):
        for sy in (-1, 1):
            assert abs(np.mean((np.sign(points[:, 0]) == sx) & (np.sign(points[:, 1]) == sy)) - 0.25) < 0.03


@pytest.mark.parametrize("shape", [[4000, 10], [2000, 28, 28, 1]], ids=["n=10", "n=784"])
@pytest.mark.parametrize("norm", list(Norm))
def test_random_in_ball_radius_is_uniform_in_volume_in_high_dimension(norm, shape):
    """In n dimensions the ball of radius r holds (r / eps)^n of the volume, in every norm (L-inf: the largest
    |coordinate|), so for uniform draws u = (||x|| / eps)^n is uniform on [0, 1]. A Kolmogorov-Smirnov check on u
    (a radius of eps * U^(1/2), right in 2-D, gives u = U^(n/2): D near 1), and the median radius eps * 0.5^(1/n)."""
    tf.random.set_seed(2)
    epsilon, n, draws = 0.7, int(np.prod(shape[1:])), shape[0]
    assert n != draws  # an exponent taken from the batch axis would not pass unnoticed
    points = norms.random_in_ball(shape, epsilon, norm)
    radius = norms.measure(points, norm).numpy().astype(np.float64)
    u = np.sort((radius / epsilon) ** n)
    ranks = np.arange(1, draws + 1)
    ks = max(np.max(ranks / draws - u), np.max(u - (ranks - 1) / draws))
    assert ks < 1.95 / np.sqrt(draws), ks  # the KS test's critical value at p = 0.001
    # the median of u is 1/2 +- 1.6/sqrt(draws) (3 standard deviations), mapped back to radii
    spread = 1.6 / np.sqrt(draws)
    assert epsilon * (0.5 - spread) ** (1 / n) <= np.median(radius) <= epsilon * (0.5 + spread) ** (1 / n)


def test_random_in_ball_works_on_a_dynamic_shape():
    shape = tf.shape(tf.zeros([3, 5]))
    points = norms.random_in_ball(shape, 0.5, Norm.L2)
    assert tuple(points.shape) == (3, 5)
    assert np.all(np.linalg.norm(points.numpy(), axis=1) <= 0.5 * (1 + 1e-5))


# --- measure ---------------------------------------------------------------------------------------------------------

def test_measure_by_hand():
    delta = tf.constant([[[3.0, -4.0], [0.0, 0.0]], [[-1.0, 1.0], [1.0, -2.0]]])  # (2, 2, 2)
    np.testing.assert_allclose(norms.measure(delta, Norm.LINF).numpy(), [4.0, 2.0])
    np.testing.assert_allclose(norms.measure(delta, Norm.L2).numpy(), [5.0, np.sqrt(7.0)], rtol=1e-6)
    np.testing.assert_allclose(norms.measure(delta, Norm.L1).numpy(), [7.0, 5.0])


def test_measure_rejects_an_unknown_norm():
    with pytest.raises(ValueError):
        norms.measure(tf.zeros([1, 2]), "l3")
    with pytest.raises(ValueError):
        norms.steepest_ascent_direction(tf.zeros([1, 2]), "l3")


def test_per_example_broadcasts_against_any_rank():
    values = tf.constant([1.0, 2.0])
    like = tf.zeros([2, 3, 4, 5])
    assert tuple(norms.per_example(values, like).shape) == (2, 1, 1, 1)


def test_norm_parse_accepts_aliases_and_rejects_others():
    assert Norm.parse("Infinity") is Norm.LINF and Norm.parse(" inf ") is Norm.LINF
    assert Norm.parse("L2") is Norm.L2 and Norm.parse("l1") is Norm.L1
    with pytest.raises(ValueError, match="unknown norm"):
        Norm.parse("l3")
