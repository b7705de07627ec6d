"""advdemo.attacks.gradient on tiny linear models whose input gradient is known in closed form.

For logits z = flatten(x) @ W + b and the cross-entropy of label y, the input gradient is
W @ (softmax(z) - onehot(y)): numpy computes it independently of TensorFlow.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from advdemo.attacks import gradient as attacks
from advdemo.attacks import losses, norms
from advdemo.configs import AttackConfig, Direction, Norm
from advdemo.models import build_cnn

EPSILONS = {Norm.LINF: 0.1, Norm.L2: 1.0, Norm.L1: 5.0}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def input_gradient(kernel: np.ndarray, bias: np.ndarray, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d CE(y, flatten(x) W + b) / dx, per example, in float64: W (softmax - onehot)."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    residual = softmax(flat @ kernel + bias) - np.eye(kernel.shape[1])[labels]
    return (residual @ kernel.T).reshape(images.shape)


def nsl_direction(g: np.ndarray, norm: Norm) -> np.ndarray:
    """NSL's steepest-ascent direction, per example, in numpy."""
    flat = g.reshape(len(g), -1)
    if norm is Norm.LINF:
        d = np.sign(flat)
    elif norm is Norm.L2:
        d = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)
    else:
        magnitude = np.abs(flat)
        tied = magnitude == magnitude.max(axis=1, keepdims=True)
        d = np.sign(flat) * tied / tied.sum(axis=1, keepdims=True)
    return d.reshape(g.shape)


def size(delta: np.ndarray, norm: Norm) -> np.ndarray:
    flat = delta.reshape(len(delta), -1).astype(np.float64)
    return {Norm.LINF: np.abs(flat).max(1), Norm.L2: np.linalg.norm(flat, axis=1), Norm.L1: np.abs(flat).sum(1)}[norm]


def predictions(model, images: np.ndarray) -> np.ndarray:
    return np.argmax(model(tf.constant(images), training=False).numpy(), axis=1)


@pytest.fixture(scope="module")
def linear(tiny_splits, make_linear_model):
    """A random linear classifier on the tiny test images, with its weights (float64) for numpy."""
    rng = np.random.default_rng(0)
    kernel = (rng.normal(size=(784, 10)) * 0.05).astype(np.float32)
    bias = (rng.normal(size=10) * 0.1).astype(np.float32)
    model = make_linear_model(kernel=kernel, bias=bias)
    _, test = tiny_splits
    images, labels = test.images[:32], test.labels[:32]
    return model, kernel.astype(np.float64), bias.astype(np.float64), images, labels


# --- FGSM by hand ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", list(Norm))
def test_nsl_fgsm_equals_a_step_along_the_hand_computed_direction(linear, norm):
    model, kernel, bias, images, labels = linear
    g = input_gradient(kernel, bias, images, labels)
    flat = np.abs(g.reshape(len(g), -1))
    # The L1 expectation is only well defined if float32 cannot change the arg-max: check the margin.
    top2 = np.sort(flat, axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] > 1e-5)
    # L-inf: float32 may flip the sign of a near-zero entry; compare where the sign is clear (nearly everywhere).
    clear = np.abs(g) > 1e-5 if norm is Norm.LINF else np.ones(g.shape, bool)
    assert clear.mean() > 0.99
    eps = EPSILONS[norm]
    expected = np.clip(images + eps * nsl_direction(g, norm), 0.0, 1.0)
    got = attacks.attack(model, images, labels, AttackConfig.fgsm(eps, norm, direction=Direction.NSL))
    assert got.shape == images.shape and got.dtype == np.float32
    np.testing.assert_allclose(got[clear], expected[clear], atol=1e-5)
    assert np.all(np.abs(got - images) <= eps + 1e-6)


def box_l1_step(g: np.ndarray, x: np.ndarray, length: float) -> np.ndarray:
    """By hand, per example: fill the pixels in decreasing |g| order, each up to its room in [0, 1]."""
    out = np.zeros_like(g, dtype=np.float64)
    for i in range(len(g)):
        flat_g, flat_x, step = g[i].ravel(), x[i].ravel(), out[i].reshape(-1)
        left = length
        for j in np.argsort(-np.abs(flat_g), kind="stable"):
            room = (1 - flat_x[j]) if flat_g[j] > 0 else (flat_x[j] if flat_g[j] < 0 else 0.0)
            amount = min(room, left)
            step[j] = np.sign(flat_g[j]) * amount
            left -= amount
            if left <= 0:
                break
        out[i] = step.reshape(g[i].shape)
    return out


@pytest.mark.parametrize("norm", list(Norm))
def test_strong_fgsm_by_hand(linear, norm):
    """The attacks shown and evaluated: sign(g) in L-inf, g / ||g|| with no floor in L2, and in L1 the best
    single step inside the ball and [0, 1] (eps spent on the largest |g|, each pixel as far as it can go)."""
    model, kernel, bias, images, labels = linear
    g = input_gradient(kernel, bias, images, labels)
    eps = EPSILONS[norm]
    flat = g.reshape(len(g), -1)
    if norm is Norm.L1:
        expected = images + box_l1_step(g, images, eps)
    elif norm is Norm.L2:
        expected = np.clip(images + eps * (flat / np.linalg.norm(flat, axis=1, keepdims=True)).reshape(g.shape), 0, 1)
    else:
        expected = np.clip(images + eps * np.sign(g), 0, 1)
    clear = np.abs(g) > 1e-5 if norm is Norm.LINF else np.ones(g.shape, bool)
    got = attacks.attack(model, images, labels, AttackConfig.fgsm(eps, norm))
    np.testing.assert_allclose(got[clear], expected[clear], atol=1e-5)
    np.testing.assert_allclose(attacks.fgsm(model, images, labels, eps, norm.value), got, atol=1e-6)
    if norm is Norm.L1:  # the whole eps is spent (the tiny images have room), on more than one pixel
        np.testing.assert_allclose(size(got - images, norm), eps, rtol=1e-4)
        assert np.all((np.abs(got - images).reshape(len(g), -1) > 0).sum(1) >= int(eps))


def test_fgsm_batches_give_the_same_result(linear):
    model, _, _, images, labels = linear
    config = AttackConfig.fgsm(0.1, Norm.L2)
    whole = attacks.attack(model, images, labels, config)
    np.testing.assert_allclose(attacks.attack(model, images, labels, config, batch_size=7), whole, atol=1e-6)


@pytest.mark.parametrize("norm", list(Norm))
def test_one_pgd_step_without_random_start_is_fgsm(linear, norm):
    model, _, _, images, labels = linear
    eps = EPSILONS[norm]
    fgsm = attacks.attack(model, images, labels, AttackConfig.fgsm(eps, norm, direction=Direction.NSL))
    one_step = AttackConfig(adv_grad_norm=norm, pgd_iterations=1, pgd_epsilon=eps, adv_step_size=eps,
                            direction=Direction.NSL)
    np.testing.assert_allclose(attacks.attack(model, images, labels, one_step), fgsm, atol=1e-6)
    # A longer step is projected back onto the eps ball: for each norm that is the same point again.
    long_step = AttackConfig(adv_grad_norm=norm, pgd_iterations=1, pgd_epsilon=eps, adv_step_size=3 * eps,
                             direction=Direction.NSL)
    np.testing.assert_allclose(attacks.attack(model, images, labels, long_step), fgsm, atol=1e-5)


# --- the ball and the pixel range --------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", list(Norm))
@pytest.mark.parametrize("kind", ["fgsm", "pgd"])
def test_perturbation_stays_in_the_ball_and_the_pixel_range(linear, norm, kind):
    model, _, _, images, labels = linear
    eps = EPSILONS[norm]
    config = (AttackConfig.fgsm(eps, norm) if kind == "fgsm"
              else AttackConfig.pgd(eps, norm, steps=5, step_size=eps / 2, restarts=2))
    keras.utils.set_random_seed(0)
    adversarial = attacks.attack(model, images, labels, config)
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.all(size(adversarial - images, norm) <= eps + 1e-5 * max(1.0, eps))
    assert np.any(adversarial != images)  # it did move


def test_pgd_inside_a_tighter_pixel_range(linear):
    model, _, _, images, labels = linear
    config = AttackConfig(adv_grad_norm=Norm.L2, adv_step_size=0.5, pgd_iterations=3, pgd_epsilon=2.0,
                          random_init=True, clip_value_min=0.0, clip_value_max=1.0)
    squeezed = np.clip(images, 0.2, 0.8)
    tight = dataclasses.replace(config, clip_value_min=0.2, clip_value_max=0.8)
    adversarial = attacks.attack(model, squeezed, labels, tight)
    assert adversarial.min() >= 0.2 - 1e-7 and adversarial.max() <= 0.8 + 1e-7


# --- worst case over iterates and restarts -------------------------------------------------------------------------

@pytest.fixture
def self_labelled(linear):
    """The linear model's own clean predictions as labels: clean accuracy is exactly 100%."""
    model, kernel, bias, images, _ = linear
    return model, images, predictions(model, images)


class Bump(keras.Model):
    """One feature x -> logits (0, 1 - 50 (x - 0.5)^2): class 1 only in the band |x - 0.5| < 0.141."""

    def call(self, inputs, training=False):
        bump = 1.0 - 50.0 * keras.ops.square(inputs[:, :1] - 0.5)
        return keras.ops.concatenate([keras.ops.zeros_like(bump), bump], axis=1)


def test_pgd_keeps_the_worst_iterate_but_attack_tensor_the_last():
    """By hand, L-inf steps of 0.4 from x = 0.2 (class 0): x_1 = 0.6 is in the band (fooled); there the
    gradient points back to 0.5, so x_2 = 0.6 - 0.4 = 0.2 (not fooled). ``attack`` keeps the worst iterate
    x_1; ``attack_tensor`` returns the last one, x_2, as NSL does."""
    model = Bump()
    images, labels = np.array([[0.2]], np.float32), np.array([0])
    config = AttackConfig(adv_step_size=0.4, pgd_iterations=2, pgd_epsilon=0.4)
    np.testing.assert_allclose(attacks.attack(model, images, labels, config), [[0.6]], atol=1e-6)
    assert predictions(model, attacks.attack(model, images, labels, config)) == 1
    np.testing.assert_allclose(attacks.attack_tensor(model, tf.constant(images), tf.constant(labels), config).numpy(),
                               [[0.2]], atol=1e-6)
    # Three steps: x_3 = 0.6 again; any of x_1..x_3 fooling the model is enough.
    three = dataclasses.replace(config, pgd_iterations=3)
    assert predictions(model, attacks.attack(model, images, labels, three)) == 1


def test_restarts_keep_the_worst_case_per_example(self_labelled, monkeypatch):
    """With the random starts fixed by hand, the 3-restart attack fools every example that any of its three
    single runs fools."""
    model, images, labels = self_labelled
    eps = 0.005
    rng = np.random.default_rng(7)
    starts = [tf.constant(rng.uniform(-eps, eps, size=images.shape).astype(np.float32)) for _ in range(3)]
    queue: list[tf.Tensor] = []

    def fixed_start(shape, epsilon, norm, dtype=tf.float32):
        return queue.pop(0)

    monkeypatch.setattr(norms, "random_in_ball", fixed_start)

    def run(chosen: list[tf.Tensor]) -> np.ndarray:
        queue[:] = chosen
        config = AttackConfig.pgd(eps, Norm.LINF, steps=2, step_size=eps / 4, restarts=len(chosen))
        adversarial = attacks._restarts(model, tf.constant(images), tf.constant(labels), attacks._budget(config),
                                        attacks.setup_of(config), config.restarts).numpy()  # eager
        assert not queue  # every start was used
        assert np.all(np.abs(adversarial - images) <= eps + 1e-6)
        return predictions(model, adversarial) != labels

    single = [run([start]) for start in starts]
    union = single[0] | single[1] | single[2]
    assert union.sum() > max(s.sum() for s in single)  # the starts matter, so the test means something
    combined = run(starts)
    assert np.all(combined[union])


# --- targeted --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def identity_model():
    """Ten features -> ten logits, logit k = feature k: the arg-max is the brightest feature."""
    inputs = keras.Input(shape=(10,))
    outputs = keras.layers.Dense(10, kernel_initializer="identity", bias_initializer="zeros")(inputs)
    return keras.Model(inputs, outputs)


def test_targeted_fgsm_by_hand_reaches_its_class(identity_model):
    labels = np.arange(10) % 10
    images = np.full((10, 10), 0.3, np.float32)
    images[np.arange(10), labels] = 0.6
    target = 3
    # -CE(target) ascends: gradient onehot(target) - softmax > 0 at the target, < 0 elsewhere.
    expected = np.clip(images - 0.2, 0, 1)
    expected[:, target] = np.clip(images[:, target] + 0.2, 0, 1)
    got = attacks.attack(identity_model, images, labels, AttackConfig.fgsm(0.2, target_class=target))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.all(predictions(identity_model, got) == target)


def test_targeted_pgd_reaches_its_class_and_ignores_labels(identity_model):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, size=20)
    images = np.full((20, 10), 0.4, np.float32)
    images[np.arange(20), labels] = 0.7
    keras.utils.set_random_seed(0)
    config = AttackConfig.pgd(0.3, steps=20, step_size=0.05, target_class=8)
    got = attacks.attack(identity_model, images, labels, config)
    assert np.all(predictions(identity_model, got) == 8)
    assert np.all(np.abs(got - images) <= 0.3 + 1e-6)


# --- validation ------------------------------------------------------------------------------------------------------

def test_attack_rejects_bad_inputs(linear):
    model, _, _, images, labels = linear
    config = AttackConfig.fgsm(0.1)
    with pytest.raises(ValueError, match="pixel values"):
        attacks.attack(model, images * 255, labels, config)
    with pytest.raises(ValueError, match="pixel values"):
        attacks.attack(model, images - 0.5, labels, config)
    with pytest.raises(ValueError, match="labels"):
        attacks.attack(model, images, labels[:-1], config)
    with pytest.raises(ValueError, match="batch"):
        attacks.attack(model, images[0, 0, 0], labels[:1], config)  # shape (1,): no batch axis
    with pytest.raises(ValueError, match="batch_size"):
        attacks.attack(model, images, labels, config, batch_size=0)


def test_attack_on_no_images_returns_no_images(linear):
    model, _, _, images, _ = linear
    got = attacks.attack(model, images[:0], np.zeros(0, np.int64), AttackConfig.fgsm(0.1))
    assert got.shape == (0, 28, 28, 1)


@pytest.mark.parametrize("make", [
    lambda: AttackConfig(restarts=3),  # restarts > 1 without random_init
    lambda: AttackConfig(restarts=0, random_init=True),
    lambda: AttackConfig.fgsm(0.2, target_class=10),
    lambda: AttackConfig.fgsm(0.2, target_class=-1),
    lambda: AttackConfig(target_class=2.0),
    lambda: AttackConfig.fgsm(-0.1),
    lambda: AttackConfig.pgd(-0.1),
    lambda: AttackConfig(adv_step_size=float("nan")),
    lambda: AttackConfig(adv_step_size=float("inf")),
    lambda: AttackConfig(pgd_epsilon=-1.0),
    lambda: AttackConfig(pgd_iterations=0),
    lambda: AttackConfig(pgd_iterations=2.5),
    lambda: AttackConfig(clip_value_min=1.0, clip_value_max=0.0),
    lambda: AttackConfig(clip_value_min=0.5, clip_value_max=0.5),
    lambda: AttackConfig.fgsm(0.2, norm="l3"),
], ids=["restarts-without-random-init", "zero-restarts", "target-10", "target-negative", "target-float",
        "negative-fgsm-eps", "negative-pgd-eps", "nan-step", "inf-step", "negative-pgd-epsilon", "zero-iterations",
        "fractional-iterations", "clip-reversed", "clip-empty", "unknown-norm"])
def test_attack_config_rejects_bad_values(make):
    with pytest.raises(ValueError):
        make()


def test_attack_config_vocabulary():
    fgsm = AttackConfig.fgsm(0.3, "l2")
    assert fgsm.is_fgsm and fgsm.epsilon == 0.3 and fgsm.adv_grad_norm is Norm.L2
    pgd = AttackConfig.pgd(0.2, steps=40, restarts=3)
    assert not pgd.is_fgsm and pgd.epsilon == 0.2 and pgd.random_init
    assert pgd.adv_step_size == pytest.approx(0.02)  # default step eps/10
    assert pgd.describe() == "PGD-40 L-inf eps=0.2 (x3 restarts)"  # the docstring's own example
    assert AttackConfig(adv_grad_norm="infinity").adv_grad_norm is Norm.LINF


# --- inside tf.function, TRADES' KL, and other classifiers ----------------------------------------------------------

def test_attack_tensor_works_inside_tf_function(linear):
    model, _, _, images, labels = linear
    fgsm = AttackConfig.fgsm(1.0, Norm.L2)
    pgd = AttackConfig.pgd(0.1, Norm.LINF, steps=3)

    @tf.function
    def both(x, y):
        return attacks.attack_tensor(model, x, y, fgsm), attacks.attack_tensor(model, x, y, pgd)

    by_fgsm, by_pgd = both(tf.constant(images), tf.constant(labels))
    np.testing.assert_allclose(by_fgsm.numpy(), attacks.attack(model, images, labels, fgsm), atol=1e-6)
    assert np.all(np.abs(by_pgd.numpy() - images) <= 0.1 + 1e-6)
    assert by_pgd.numpy().min() >= 0.0 and by_pgd.numpy().max() <= 1.0


def test_kl_divergence_by_hand():
    reference = np.array([[0.0, 1.0, -1.0], [2.0, 2.0, 2.0]], np.float32)
    logits = np.array([[1.0, 0.0, 0.0], [2.0, 2.0, 2.0]], np.float32)
    p, q = softmax(reference.astype(np.float64)), softmax(logits.astype(np.float64))
    expected = (p * np.log(p / q)).sum(1)
    got = losses.kl_divergence(tf.constant(reference), tf.constant(logits)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got[1] == pytest.approx(0.0, abs=1e-7)


def test_trades_inner_maximisation_raises_the_kl(linear):
    model, _, _, images, labels = linear
    reference = model(tf.constant(images))
    keras.utils.set_random_seed(0)
    config = AttackConfig.pgd(0.1, Norm.LINF, steps=5, step_size=0.03)
    adversarial = attacks.attack_tensor(model, tf.constant(images), tf.constant(labels), config,
                                        reference_logits=reference)
    assert np.all(np.abs(adversarial.numpy() - images) <= 0.1 + 1e-6)
    start = norms.random_in_ball(tf.shape(images), 0.1, Norm.LINF)
    random_point = tf.clip_by_value(images + start, 0.0, 1.0)
    kl_attack = losses.kl_divergence(reference, model(adversarial)).numpy()
    kl_random = losses.kl_divergence(reference, model(random_point)).numpy()
    # a linear model's KL ascent from inside the box: per example the attack beats a random point of the ball
    assert np.all(kl_attack > kl_random)
    # (without a random start the KL gradient at x_adv = x is 0 up to rounding: AdvRegConfig refuses TRADES
    # without one, see tests/test_strong_attacks.py)


class SubclassedClassifier(keras.Model):
    """A subclassed classifier with its own input shape: (batch, 8, 8, 1) -> 10 logits."""

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 3, activation="tanh")
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(10)

    def call(self, inputs, training=False):
        return self.dense(self.flatten(self.conv(inputs)))


@pytest.mark.parametrize("kind", ["sequential", "subclassed", "cnn"])
def test_fgsm_works_on_any_logit_classifier(kind):
    keras.utils.set_random_seed(1)
    if kind == "sequential":
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="tanh"),
                                  keras.layers.Flatten(), keras.layers.Dense(10)])
        shape = (6, 8, 8, 1)
    elif kind == "subclassed":
        model, shape = SubclassedClassifier(), (6, 8, 8, 1)
    else:
        model, shape = build_cnn(), (4, 28, 28, 1)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=shape).astype(np.float32)
    labels = rng.integers(0, 10, size=shape[0])
    # The expected step, from a gradient tape on the model directly.
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, model(x))
    g = tape.gradient(loss, x).numpy()
    eps = 0.05
    got = attacks.attack(model, images, labels, AttackConfig.fgsm(eps))
    expected = np.clip(images + eps * np.sign(g), 0, 1)
    clear = np.abs(g) > 1e-6 * np.abs(g).max()  # where float noise cannot flip the sign
    assert clear.mean() > 0.5
    np.testing.assert_allclose(got[clear], expected[clear], atol=1e-6)
    assert np.all(np.abs(got - images) <= eps + 1e-6)


def test_pgd_helper_honours_its_arguments(linear, monkeypatch):
    model, _, _, images, labels = linear
    seen = []
    monkeypatch.setattr(attacks, "attack", lambda m, x, y, config: seen.append(config) or x)
    attacks.pgd(model, images, labels, 1.0, "l2", steps=3, step_size=0.5, restarts=2)
    assert seen == [AttackConfig(adv_grad_norm=Norm.L2, adv_step_size=0.5, pgd_iterations=3, pgd_epsilon=1.0,
                                 random_init=True, restarts=2)]


def test_each_step_moves_by_the_step_size(linear):
    """From the clean image, t L2 steps of 0.2 along a linear model's (constant-direction) gradient go 0.2 t."""
    model, _, _, images, labels = linear
    images = 0.3 + 0.4 * images  # away from 0 and 1, so that clipping takes nothing off the steps
    for steps in (1, 3):
        config = AttackConfig.pgd(1.0, "l2", steps=steps, step_size=0.2, random_init=False)
        moved = size(attacks.attack(model, images, labels, config) - images, Norm.L2)
        np.testing.assert_allclose(np.median(moved), 0.2 * steps, rtol=0.05)
