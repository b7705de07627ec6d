"""advdemo.attacks.sparse_rs: the L1 random search's contract (ball, range, margin never raised, seeded), its pixel
budget by hand, and the reason it is in the ensemble: it fools a thresholding model whose input gradient is zero,
which APGD-L1 cannot move.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from advdemo.attacks import losses, sparse_rs
from advdemo.attacks.gradient import attack
from advdemo.attacks.strongest import strongest_attack
from advdemo.configs import EVALUATION_BUDGET, AttackConfig, Norm, StrongestConfig
from advdemo.models import build_cnn


def l1(delta: np.ndarray) -> np.ndarray:
    return np.abs(delta.reshape(len(delta), -1).astype(np.float64)).sum(1)


def margins(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return losses.margin(tf.constant(labels), model(tf.constant(images), training=False)).numpy()


@pytest.fixture(scope="module")
def cnn():
    """The project's CNN with random weights (seeded) and 12 random images labelled by its predictions, with
    exact 0 and 1 pixels and pixels either side of 0.5."""
    keras.utils.set_random_seed(1)
    model = build_cnn()
    images = np.random.default_rng(0).uniform(0, 1, size=(12, 28, 28, 1)).astype(np.float32)
    images[:, :4] = 0.0
    images[:, -4:] = 1.0
    labels = np.argmax(model(images, training=False).numpy(), axis=1)
    return model, images, labels


@pytest.mark.parametrize(("epsilon", "expected"), [(10.7, (10, 1.0)), (1.0, (1, 1.0)), (0.5, (1, 0.5)),
                                                   (2.5, (2, 1.0))])
def test_pixel_budget_by_hand(epsilon, expected):
    assert sparse_rs.pixel_budget(epsilon) == expected


@pytest.mark.parametrize("epsilon", [0.5, 3.0, 10.7])
def test_result_stays_in_the_l1_ball_and_in_range(cnn, epsilon):
    model, images, labels = cnn
    adversarial = sparse_rs.sparse_rs_attack(model, images, labels, epsilon, queries=30, seed=3)
    assert adversarial.dtype == np.float32 and adversarial.shape == images.shape
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.all(l1(adversarial - images) <= epsilon * (1 + 1e-5))
    changed = np.sum(adversarial != images, axis=(1, 2, 3))
    k, _ = sparse_rs.pixel_budget(epsilon)
    assert np.all(changed <= k)  # an L0 search: at most k pixels differ
    assert np.mean(changed > 0) >= 0.5  # not vacuous: most examples moved


def test_moved_pixels_go_to_the_far_end_of_the_range(cnn):
    """With eps >= 1 every changed pixel is set to 0 (it was >= 0.5) or 1 (it was < 0.5)."""
    model, images, labels = cnn
    adversarial = sparse_rs.sparse_rs_attack(model, images, labels, 6.0, queries=20, seed=1)
    changed = adversarial != images
    assert changed.any()
    expected = np.where(images < 0.5, 1.0, 0.0)
    np.testing.assert_array_equal(adversarial[changed], expected[changed])


def test_margin_never_rises_and_falls_with_more_queries(cnn):
    model, images, labels = cnn
    clean = margins(model, images, labels)
    few = margins(model, sparse_rs.sparse_rs_attack(model, images, labels, 8.0, queries=5, seed=2), labels)
    many = margins(model, sparse_rs.sparse_rs_attack(model, images, labels, 8.0, queries=200, seed=2), labels)
    assert np.all(few <= clean + 1e-5) and np.all(many <= clean + 1e-5)
    assert many.mean() < few.mean() - 1e-3


def test_chains_search_each_image_independently_and_keep_the_lowest_margin(cnn):
    """12 chains of 6 queries per image: inside the ball and L0 budget, each image's margin at least as low as the
    clean one, and lower than one chain of 6 reaches on most images."""
    model, images, labels = cnn
    images, labels = images[:5], labels[:5]
    one = margins(model, sparse_rs.sparse_rs_attack(model, images, labels, 4.0, queries=6, seed=2), labels)
    adversarial = sparse_rs.sparse_rs_attack(model, images, labels, 4.0, queries=6, seed=2, chains=12, batch_size=24)
    assert adversarial.shape == images.shape and adversarial.dtype == np.float32
    assert np.all(l1(adversarial - images) <= 4.0 * (1 + 1e-5))
    assert np.all(np.sum(adversarial != images, axis=(1, 2, 3)) <= 4)
    many = margins(model, adversarial, labels)
    assert np.all(many <= margins(model, images, labels) + 1e-5)
    assert np.sum(many < one) >= 4


def test_zero_epsilon_or_queries_return_the_input(cnn):
    model, images, labels = cnn
    np.testing.assert_array_equal(sparse_rs.sparse_rs_attack(model, images, labels, 0.0), images)
    np.testing.assert_array_equal(sparse_rs.sparse_rs_attack(model, images, labels, 5.0, queries=0), images)


def test_seeded_and_batched_with_progress(cnn):
    model, images, labels = cnn
    calls = []
    first = sparse_rs.sparse_rs_attack(model, images, labels, 4.0, queries=20, seed=5, batch_size=5,
                                       on_batch=lambda done, total: calls.append((done, total)))
    assert calls == [(5, 12), (10, 12), (12, 12)]
    np.testing.assert_array_equal(first, sparse_rs.sparse_rs_attack(model, images, labels, 4.0, queries=20, seed=5,
                                                                     batch_size=5))
    assert not np.array_equal(first, sparse_rs.sparse_rs_attack(model, images, labels, 4.0, queries=20, seed=6,
                                                                 batch_size=5))


def test_bad_input_is_refused_plainly(cnn):
    model, images, labels = cnn
    with pytest.raises(ValueError, match="epsilon"):
        sparse_rs.sparse_rs_attack(model, images, labels, -1.0)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        sparse_rs.sparse_rs_attack(model, images * 255, labels, 5.0)


# --- what it is for: a model that thresholds its input ------------------------------------------------------------

class Threshold(keras.layers.Layer):
    """1 where a pixel is above 0.5, else 0; the input gradient is exactly zero (not None) everywhere, as in a
    model that learned to binarise its input against L-inf attacks."""

    def call(self, images):
        return tf.stop_gradient(tf.cast(images > 0.5, images.dtype)) + 0.0 * images


PATCH = slice(10, 18)  # the central 8 x 8 pixels


def threshold_model() -> keras.Model:
    """Class 0 while fewer than 4 pixels of the central 8 x 8 patch are lit, class 1 from 4 on (logits
    (3.5 - c, c - 3.5, -10, ...), c the count): fooled by lighting 4 pixels, an L1 change of 4."""
    inputs = keras.Input(shape=(28, 28, 1))
    dense = keras.layers.Dense(10)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(Threshold()(inputs))))
    patch = np.zeros((28, 28), np.float32)
    patch[PATCH, PATCH] = 1.0
    kernel = np.zeros((784, 10), np.float32)
    kernel[:, 0], kernel[:, 1] = -patch.reshape(-1), patch.reshape(-1)
    bias = np.full(10, -10.0, np.float32)
    bias[0], bias[1] = 3.5, -3.5
    dense.set_weights([kernel, bias])
    return model


def test_strongest_l1_catches_the_masking_that_defeats_apgd():
    """APGD-L1 sees a zero gradient and fools nothing; Sparse-RS, alone and as the ensemble's last member,
    fools almost every image with 6 pixels (eps 6)."""
    model = threshold_model()
    images = np.zeros((16, 28, 28, 1), np.float32)
    images[:, 2:6, 2:26] = 1.0  # a lit bar outside the patch
    labels = np.zeros(16, np.int64)

    def accuracy(adversarial):
        return np.mean(np.argmax(model(adversarial).numpy(), axis=1) == labels)

    assert accuracy(images) == 1.0
    assert accuracy(attack(model, images, labels, AttackConfig.apgd(6.0, Norm.L1, steps=20))) == 1.0
    assert accuracy(sparse_rs.sparse_rs_attack(model, images, labels, 6.0, queries=500)) <= 0.25
    ensemble = dataclasses.replace(EVALUATION_BUDGET, norm=Norm.L1, epsilon=6.0, apgd_steps=10,
                                   sparse_rs_queries=500)
    assert accuracy(strongest_attack(model, images, labels, ensemble)) <= 0.25
    without_search = dataclasses.replace(ensemble, sparse_rs_queries=0)
    assert accuracy(strongest_attack(model, images, labels, without_search)) == 1.0


def test_the_budget_names_its_random_search_in_each_norm():
    l1 = StrongestConfig(norm=Norm.L1, epsilon=10.0, apgd_steps=100, target_classes=1, square_queries=300,
                         sparse_rs_queries=1000)
    linf = dataclasses.replace(l1, norm=Norm.LINF, epsilon=0.3)
    assert l1.describe() == "APGD-CE 100 + APGD-T 1x100 + Sparse-RS 1000"
    assert linf.describe() == "APGD-CE 100 + APGD-T 1x100 + Square 300"
    assert [name for name, _ in l1.members()][-1] == "Sparse-RS-1000"
    assert l1.with_queries(50).sparse_rs_queries == 50 and l1.with_queries(50).square_queries == 300
    assert linf.with_queries(50).square_queries == 50 and linf.with_queries(50).sparse_rs_queries == 1000
    with pytest.raises(ValueError, match="sparse_rs_queries"):
        StrongestConfig(sparse_rs_queries=-1)
