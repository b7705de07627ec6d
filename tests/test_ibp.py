"""Interval bound propagation: the bounds against a hand calculation, their soundness on random models, inputs and
points of the ball (hypothesis), the margins, the certified radius, and the layers it refuses."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advdemo.certificates import ibp
from advdemo.configs import Norm
from advdemo.demo.analysis import CERTIFY_UP_TO, certified_radius, proof


def dense_model(w1, b1, w2, b2) -> keras.Model:
    """x (2,) -> relu(x W1 + b1) -> logits h W2 + b2 (2 classes)."""
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(2, activation="relu")(inputs)
    logits = keras.layers.Dense(2)(hidden)
    model = keras.Model(inputs, logits)
    model.layers[1].set_weights([np.array(w1, np.float32), np.array(b1, np.float32)])
    model.layers[2].set_weights([np.array(w2, np.float32), np.array(b2, np.float32)])
    return model


W1, B1 = [[1.0, -1.0], [2.0, 0.0]], [0.0, 0.5]  # columns: units 0 and 1
W2, B2 = [[1.0, -1.0], [0.0, 1.0]], [0.0, 0.0]


def test_bounds_match_a_hand_calculation():
    """x = (0.5, 0.5), eps 0.1: the box is [0.4, 0.6]^2.
    unit 0 = x0 + 2 x1 in [0.4 + 0.8, 0.6 + 1.2] = [1.2, 1.8]; unit 1 = -x0 + 0.5 in [-0.1, 0.1] -> relu [0, 0.1].
    logit 0 = unit 0 in [1.2, 1.8]; logit 1 = -unit 0 + unit 1 in [-1.8 + 0, -1.2 + 0.1] = [-1.8, -1.1].
    margin (label 0) z0 - z1 = 2 unit 0 - unit 1 >= 2.4 - 0.1 = 2.3 (elided: tighter than 1.2 - (-1.1) = 2.3 here)."""
    model = dense_model(W1, B1, W2, B2)
    x = np.array([[0.5, 0.5]], np.float32)
    lower, upper = ibp.logit_bounds(model, x, 0.1)
    np.testing.assert_allclose(lower, [[1.2, -1.8]], atol=1e-6)
    np.testing.assert_allclose(upper, [[1.8, -1.1]], atol=1e-6)
    margins = ibp.margin_bounds(model, x, np.array([0]), 0.1)
    assert margins[0, 0] == np.inf and margins[0, 1] == pytest.approx(2.3, abs=1e-6)
    assert ibp.certified(model, x, np.array([0]), 0.1).tolist() == [True]
    assert ibp.certified(model, x, np.array([1]), 0.1).tolist() == [False]


def test_the_box_is_clipped_to_the_pixel_range():
    """x = (0, 1), eps 0.5: the box is [0, 0.5] x [0.5, 1], not [-0.5, 0.5] x [0.5, 1.5].
    unit 0 in [0 + 1, 0.5 + 2] = [1, 2.5]; logit 0 = unit 0."""
    lower, upper = ibp.logit_bounds(dense_model(W1, B1, W2, B2), np.array([[0.0, 1.0]], np.float32), 0.5)
    assert (lower[0, 0], upper[0, 0]) == pytest.approx((1.0, 2.5))


def conv_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


MODELS = [conv_model(seed) for seed in range(3)]


@settings(max_examples=25, deadline=None)
@given(which=st.integers(0, len(MODELS) - 1), seed=st.integers(0, 2**31 - 1),
       epsilon=st.floats(0.0, 0.5, allow_nan=False))
def test_every_point_of_the_ball_lies_within_the_bounds(which, seed, epsilon):
    model, rng = MODELS[which], np.random.default_rng(seed)
    images = rng.uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 4)
    lower, upper = ibp.logit_bounds(model, images, epsilon)
    margins = ibp.margin_bounds(model, images, labels, epsilon)
    corners = rng.integers(0, 2, (16, *images.shape)) * 2.0 - 1.0  # vertices of the ball, the hardest points
    inside = rng.uniform(-1, 1, (16, *images.shape))
    for offset in (*corners, *inside):
        points = np.clip(images + epsilon * offset, 0, 1).astype(np.float32)
        logits = model(points).numpy()
        assert np.all(logits >= lower - 1e-4) and np.all(logits <= upper + 1e-4)
        differences = logits[np.arange(4), labels][:, None] - logits
        assert np.all(differences >= np.where(np.isinf(margins), -np.inf, margins) - 1e-4)


def test_the_certified_radius_is_where_certification_stops():
    model = MODELS[0]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    labels = np.argmax(model(images).numpy(), axis=1)  # the model's own answers: certified at eps 0
    radius = ibp.certified_radius(model, images, labels, high=0.5)
    tolerance = 0.5 / 2 ** ibp.RADIUS_STEPS
    assert np.all(radius > 0)
    assert ibp.certified(model, images, labels, radius).all()
    assert not ibp.certified(model, images, labels, radius + 2 * tolerance)[radius < 0.5 - 2 * tolerance].any()
    wrong = (labels + 1) % 3  # a label the model does not give: never certified
    assert np.all(ibp.certified_radius(model, images, wrong) == 0)


def test_verified_accuracy_falls_as_eps_grows():
    model = MODELS[1]
    images = np.random.default_rng(1).uniform(0, 1, (64, 8, 8, 1)).astype(np.float32)
    logits = model(images).numpy()
    top_two = np.sort(logits, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-3  # ties (all hidden units off) are certified at no eps at all
    images, labels = images[clear], np.argmax(logits, axis=1)[clear]
    values = [ibp.verified_accuracy(model, images, labels, eps) for eps in (0.0, 0.001, 0.01, 0.1, 1.0)]
    assert values[0] == 1.0 and values == sorted(values, reverse=True) and values[-1] == 0.0


@pytest.mark.parametrize("extra, message", [
    (lambda x: keras.layers.BatchNormalization()(x), "BatchNormalization"),
    (lambda x: keras.layers.Dense(5, activation="sigmoid")(x), "sigmoid"),
])
def test_layers_without_interval_bounds_are_refused(extra, message):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(extra(inputs)))
    with pytest.raises(ValueError, match=message):
        ibp.logit_bounds(model, np.zeros((1, 4), np.float32), 0.1)


def test_a_model_that_is_not_a_chain_is_refused():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Add()([inputs, hidden])))
    with pytest.raises(ValueError, match="Add"):
        ibp.logit_bounds(model, np.zeros((1, 4), np.float32), 0.1)


@pytest.mark.parametrize("epsilon", [-0.1, float("nan"), np.array([0.1, 0.2])])
def test_bad_radii_are_refused(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        ibp.logit_bounds(MODELS[0], np.zeros((1, 8, 8, 1), np.float32), epsilon)


@pytest.mark.parametrize("norm", list(Norm))
def test_the_page_says_proven_exactly_inside_the_certified_radius(norm):
    """An L-inf certificate of radius r covers every ball of size eps <= r in any norm (no pixel moves by more
    than eps), and nothing beyond it."""
    proven, line = proof(0.12, norm, 0.1)
    assert proven and "PROVEN" in line and "0.12" in line
    proven, line = proof(0.12, norm, 0.12)
    assert proven
    proven, line = proof(0.12, norm, 0.2)
    assert not proven and "not proven" in line and "0.12" in line and "PROVEN" not in line
    proven, line = proof(0.0, norm, 0.0)
    assert proven  # eps 0: no change at all, and the answer is the label
    assert "not even the clean image" in proof(0.0, norm, 0.1)[1]


def test_the_apps_certified_radius_is_the_certificates():
    model = MODELS[2]
    image = np.random.default_rng(3).uniform(0, 1, (8, 8)).astype(np.float32)
    label = int(np.argmax(model(image[None, :, :, None]).numpy()))
    radius = certified_radius(model, image, label)
    assert radius == pytest.approx(float(ibp.certified_radius(model, image[None, :, :, None], np.array([label]),
                                                              high=CERTIFY_UP_TO)[0]))
    assert certified_radius(model, image, (label + 1) % 3) == 0.0
