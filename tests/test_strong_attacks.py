"""The attacks that are shown and evaluated: no L2 stall, no L1 stall, APGD, DLR losses, the strongest ensemble,
and what the evaluation does with them. Tiny models whose behaviour is known by hand."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from advdemo.attacks import gradient as attacks
from advdemo.attacks import losses, norms
from advdemo.attacks.strongest import strongest_attack
from advdemo.configs import AdvRegConfig, AttackConfig, AttackLoss, Direction, Norm, RegularizerLoss, StrongestConfig
from advdemo.evaluation import AttackSpec, find_entry, large_eps_spec, sanity_checks


def linear_model(kernel: np.ndarray, bias: np.ndarray | None = None) -> keras.Model:
    features, classes = kernel.shape
    inputs = keras.Input((features,))
    dense = keras.layers.Dense(classes)
    outputs = dense(inputs)
    dense.set_weights([kernel.astype(np.float32), np.zeros(classes, np.float32) if bias is None else bias])
    return keras.Model(inputs, outputs)


def l2(delta: np.ndarray) -> np.ndarray:
    return np.linalg.norm(delta.reshape(len(delta), -1), axis=1)


def predictions(model, x: np.ndarray) -> np.ndarray:
    return np.argmax(model(tf.constant(x)).numpy(), axis=1)


# --- the L2 stall ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saturated():
    """A confident linear model: the label's logit leads by about 35, so softmax(other) ~ 1e-15 and the input
    gradient of the cross-entropy is ~1e-14, far below NSL's 1e-6 floor on ||g||."""
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(20, 2)) * 0.3
    kernel[:, 0] += 3.0
    model = linear_model(kernel)
    images = np.full((4, 20), 0.5, np.float32) + rng.uniform(-0.1, 0.1, (4, 20)).astype(np.float32)
    labels = np.zeros(4, np.int64)
    logits = model(tf.constant(images)).numpy()
    assert np.all(logits[:, 0] - logits[:, 1] > 25)
    return model, images, labels


def test_strong_l2_steps_have_their_full_length_where_the_softmax_saturates(saturated):
    """The fix for the L2 stall: NSL's direction divides by max(||g||, 1e-6), so where ||g|| ~ 1e-10
    a step of 0.1 moves ~1e-5; the strong direction divides by ||g|| itself."""
    model, images, labels = saturated
    step = 0.1
    strong = AttackConfig.pgd(1.0, Norm.L2, steps=3, step_size=step, random_init=False)
    nsl = dataclasses.replace(strong, direction=Direction.NSL)
    # the last iterate (the cross-entropy itself rounds to 0 in float32 here, so every iterate scores the same)
    def moved(config):
        return l2(attacks.attack_tensor(model, tf.constant(images), tf.constant(labels), config).numpy() - images)

    moved_strong, moved_nsl = moved(strong), moved(nsl)
    np.testing.assert_allclose(moved_strong, 3 * step, rtol=1e-3)
    assert np.all(moved_nsl < 0.01 * step)  # the stall the old evaluation had


def test_strong_l2_direction_of_a_tiny_gradient_is_a_unit_vector():
    g = tf.constant([[3e-30, -4e-30], [0.0, 0.0]], tf.float32)  # squaring 3e-30 underflows float32
    d = norms.attack_direction(g, Norm.L2, tf.zeros_like(g)).numpy()
    np.testing.assert_allclose(d[0], [0.6, -0.8], rtol=1e-5)
    np.testing.assert_array_equal(d[1], [0.0, 0.0])


# --- the L1 stall ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saturated_pixel():
    """Four pixels; pixel 0 carries the largest gradient but is already at 1 and the gradient points up."""
    kernel = np.zeros((4, 2))
    kernel[:, 1] = [4.0, 1.0, 0.9, 0.8]  # class 1 grows with every pixel, most with pixel 0
    model = linear_model(kernel, np.array([10.0, 0.0], np.float32))  # class 0 keeps winning: no early stop
    images = np.array([[1.0, 0.0, 0.0, 0.0]], np.float32)
    labels = np.array([0])
    return model, images, labels


def test_nsl_l1_stalls_on_a_saturated_pixel_and_sparse_descent_does_not(saturated_pixel):
    model, images, labels = saturated_pixel
    assert predictions(model, images)[0] == 0
    nsl = AttackConfig.pgd(2.0, Norm.L1, steps=10, step_size=0.5, random_init=False, direction=Direction.NSL)
    strong = dataclasses.replace(nsl, direction=Direction.STRONG)
    stuck = attacks.attack(model, images, labels, nsl)
    np.testing.assert_array_equal(stuck, images)  # every step lands on pixel 0 and is clipped away
    moved = attacks.attack(model, images, labels, strong)
    assert np.abs(moved - images).sum() == pytest.approx(2.0, abs=1e-4)
    assert moved[0, 0] == 1.0 and moved[0, 1] > 0.5  # the movable pixel with the largest gradient moved most


def test_sparse_l1_direction_picks_the_top_quantile_of_the_movable_pixels():
    g = tf.constant([np.linspace(1.0, 0.01, 100)], tf.float32)  # pixel 0 largest
    x = tf.constant([np.r_[1.0, np.zeros(99)]], tf.float32)  # pixel 0 cannot move up
    d = norms.sparse_l1_direction(g, x, 0.0, 1.0, quantile=0.95).numpy()[0]
    # 99 movable pixels, top 5% -> ceil(4.95) = 5 of them: pixels 1..5, each 1/5
    expected = np.zeros(100)
    expected[1:6] = 0.2
    np.testing.assert_allclose(d, expected, atol=1e-7)
    assert norms.sparse_l1_direction(g, tf.ones_like(x), 0.0, 1.0).numpy().sum() == 0.0  # nothing can move


def test_l1_box_step_spends_the_length_on_the_largest_gradients():
    g = tf.constant([[0.5, -3.0, 2.0, 1.0]], tf.float32)
    x = tf.constant([[0.2, 0.4, 0.7, 0.0]], tf.float32)
    # |g| order: pixel 1 (down, room 0.4), pixel 2 (up, room 0.3), pixel 3 (up, room 1.0), pixel 0
    step = norms.l1_box_step(g, x, 1.0).numpy()[0]
    np.testing.assert_allclose(step, [0.0, -0.4, 0.3, 0.3], atol=1e-7)


# --- losses ------------------------------------------------------------------------------------------------------

def test_dlr_and_targeted_dlr_by_hand():
    z = np.array([[5.0, 3.0, 1.0, 0.0, -1.0]], np.float32)
    y, t = np.array([1]), np.array([2])
    # untargeted: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3) = -(3 - 5) / (5 - 1)
    assert losses.dlr(tf.constant(y), tf.constant(z)).numpy()[0] == pytest.approx(0.5)
    # targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) = -(3 - 1) / (5 - 0.5)
    assert losses.targeted_dlr(tf.constant(y), tf.constant(t), tf.constant(z)).numpy()[0] == pytest.approx(-2 / 4.5)
    assert losses.margin(tf.constant(y), tf.constant(z)).numpy()[0] == pytest.approx(-2.0)
    # DLR does not change when the logits are shifted and scaled (so it does not saturate like the softmax)
    assert losses.dlr(tf.constant(y), tf.constant(10 * z + 7)).numpy()[0] == pytest.approx(0.5, rel=1e-5)


def test_training_objectives_put_the_multiplier_on_the_adversarial_term():
    assert float(losses.nsl_objective(tf.constant(1.0), tf.constant(2.0), 0.2)) == pytest.approx(1.4)
    assert float(losses.trades_objective(tf.constant(1.0), tf.constant(2.0), 3.0)) == pytest.approx(7.0)


def test_trades_requires_a_random_start():
    with pytest.raises(ValueError, match="random start"):
        AdvRegConfig(multiplier=3.0, attack=AttackConfig.pgd(0.2, random_init=False), loss=RegularizerLoss.TRADES)
    AdvRegConfig(multiplier=3.0, attack=AttackConfig.pgd(0.2), loss=RegularizerLoss.TRADES)  # fine


# --- APGD --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_class():
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(16, 2))
    model = linear_model(kernel)
    images = rng.uniform(0.2, 0.8, (8, 16)).astype(np.float32)
    return model, kernel, images, predictions(model, images)


@pytest.mark.parametrize("loss", [AttackLoss.CE, AttackLoss.DLR])
def test_apgd_reaches_the_linear_optimum_in_linf(two_class, loss):
    """For two classes and a linear model every loss grows along sign(w_other - w_label): the worst point of the
    L-inf ball is its vertex x + eps * sign(...) (inside [0, 1] here); APGD lands there."""
    model, kernel, images, labels = two_class
    eps = 0.15
    direction = np.sign(kernel[:, 1] - kernel[:, 0])[None] * np.where(labels[:, None] == 0, 1, -1)
    vertex = images + eps * direction
    if loss is AttackLoss.DLR:
        pytest.skip("DLR needs at least three classes")  # z_pi3 does not exist with two
    keras.utils.set_random_seed(0)
    got = attacks.attack(model, images, labels, AttackConfig.apgd(eps, steps=20, loss=loss))
    fooled = predictions(model, got) != labels
    # fooled examples may stop anywhere that fools; the others must be at the vertex
    np.testing.assert_allclose(got[~fooled], vertex[~fooled], atol=1e-5)
    assert np.all(predictions(model, vertex)[fooled] != labels[fooled])


@pytest.mark.parametrize("norm", list(Norm))
def test_apgd_stays_in_the_ball_and_the_pixel_range(norm):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    images = np.random.default_rng(0).uniform(0, 1, (12, 6, 6, 1)).astype(np.float32)
    labels = predictions(model, images)
    eps = {Norm.LINF: 0.1, Norm.L2: 0.5, Norm.L1: 2.0}[norm]
    for config in (AttackConfig.apgd(eps, norm, steps=15),
                   AttackConfig.apgd(eps, norm, steps=15, loss="dlr", target_rank=2)):
        got = attacks.attack(model, images, labels, config)
        assert got.min() >= 0.0 and got.max() <= 1.0
        measured = norms.measure(tf.constant(got - images), norm).numpy()
        assert np.all(measured <= eps * (1 + 1e-5))


def test_apgd_beats_a_short_fixed_step_pgd_on_a_curved_model():
    """On a small random CNN, APGD-CE with 30 steps fools at least as many examples as 30 PGD steps."""
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(6, 3, activation="tanh"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    images = np.random.default_rng(1).uniform(0, 1, (64, 8, 8, 1)).astype(np.float32)
    labels = predictions(model, images)
    eps = 0.03
    keras.utils.set_random_seed(0)
    pgd = np.mean(predictions(model, attacks.attack(model, images, labels, AttackConfig.pgd(eps, steps=30))) == labels)
    keras.utils.set_random_seed(0)
    apgd = np.mean(predictions(model, attacks.attack(model, images, labels, AttackConfig.apgd(eps, steps=30)))
                   == labels)
    assert 0 < pgd < 1
    assert apgd <= pgd


def test_target_rank_aims_at_the_runner_up():
    model = linear_model(np.eye(4))
    images = np.array([[0.9, 0.2, 0.6, 0.1], [0.1, 0.8, 0.3, 0.5]], np.float32)
    targets = attacks._targets(model, tf.constant(images), tf.constant([0, 1]), rank=2, target_class=None)
    np.testing.assert_array_equal(targets.numpy(), [2, 3])


def test_apgd_configs_name_themselves():
    assert AttackConfig.apgd(0.3).name == "APGD-CE-100"
    assert AttackConfig.apgd(0.3, loss="dlr", target_rank=2).name == "APGD-T-100"
    assert AttackConfig.apgd(10.0, Norm.L1).adv_step_size == 10.0  # L1 starts at eps, L-inf and L2 at 2 eps
    assert AttackConfig.apgd(0.3).adv_step_size == pytest.approx(0.6)
    with pytest.raises(ValueError, match="not both"):
        AttackConfig.apgd(0.3, target_rank=2, target_class=3)


# --- the strongest attack ----------------------------------------------------------------------------------------

class Masked(keras.Model):
    """A classifier whose input gradient is zero everywhere: it rounds its input to a 0.25 grid, then a linear
    layer on the mean brightness decides (class 1 when the mean rises by about 0.1)."""

    def call(self, inputs, training=False):
        rounded = inputs + tf.stop_gradient(tf.round(inputs * 4) / 4 - inputs)  # value: rounded; gradient: 0
        rounded = tf.stop_gradient(rounded)
        brightness = tf.reduce_mean(tf.reshape(rounded, [tf.shape(inputs)[0], -1]), axis=1, keepdims=True)
        return tf.concat([tf.zeros_like(brightness), 20.0 * (brightness - 0.6)], axis=1)


def test_strongest_catches_a_model_that_hides_its_gradients():
    model = Masked()
    images = np.full((8, 4, 4, 1), 0.5, np.float32)
    labels = predictions(model, images)
    assert np.all(labels == 0)
    eps = 0.3
    keras.utils.set_random_seed(0)
    pgd = attacks.attack(model, images, labels, AttackConfig.pgd(eps, steps=20))
    assert np.all(predictions(model, pgd) == labels)  # no gradient, no attack
    config = StrongestConfig(norm=Norm.LINF, epsilon=eps, apgd_steps=10, target_classes=0, square_queries=300)
    strongest = strongest_attack(model, images, labels, config)
    assert np.mean(predictions(model, strongest) != labels) >= 0.75  # the gradient-free member finds them
    assert np.all(np.abs(strongest - images) <= eps + 1e-6)


def test_strongest_is_at_least_as_strong_as_each_member_and_keeps_wrong_inputs():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(6, 3, activation="tanh"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    images = np.random.default_rng(2).uniform(0, 1, (48, 8, 8, 1)).astype(np.float32)
    labels = predictions(model, images)
    labels[:4] = (labels[:4] + 1) % 10  # four inputs the model already gets wrong
    eps = 0.02
    config = StrongestConfig(norm=Norm.LINF, epsilon=eps, apgd_steps=20, target_classes=1, square_queries=30)
    keras.utils.set_random_seed(0)
    strongest = strongest_attack(model, images, labels, config)
    np.testing.assert_array_equal(strongest[:4], images[:4])  # wrong already: left alone
    keras.utils.set_random_seed(0)
    apgd_ce = attacks.attack(model, images, labels, config.members()[0][1])
    correct_strongest = predictions(model, strongest) == labels
    correct_apgd = predictions(model, apgd_ce) == labels
    assert 0 < correct_strongest.sum() <= correct_apgd.sum()
    assert np.all(np.abs(strongest - images) <= eps + 1e-6) and strongest.min() >= 0 and strongest.max() <= 1
    np.testing.assert_array_equal(strongest_attack(model, images, labels, dataclasses.replace(config, epsilon=0.0)),
                                  images)


def test_strongest_in_l1_searches_with_sparse_rs_not_square():
    config = StrongestConfig(norm=Norm.L1, epsilon=10.0, target_classes=2, square_queries=1000, sparse_rs_queries=700)
    names = [name for name, _ in config.members()]
    assert names == ["APGD-CE-100", "APGD-T-100 (target ranked 2)", "APGD-T-100 (target ranked 3)", "Sparse-RS-700"]
    assert config.describe() == "APGD-CE 100 + APGD-T 2x100 + Sparse-RS 700"
    assert StrongestConfig(norm="l2", epsilon=2.0).describe() == "APGD-CE 100 + APGD-T 9x100 + Square 5000"
    assert dataclasses.replace(config, chains=8).describe().endswith("Sparse-RS 8x700")


def test_a_doubled_budget_doubles_every_member_and_draws_new_random_numbers():
    config = StrongestConfig(norm=Norm.L2, epsilon=2.0, apgd_steps=50, target_classes=3, square_queries=400,
                             sparse_rs_queries=300, chains=2, seed=4)
    doubled = config.doubled()
    assert (doubled.apgd_steps, doubled.target_classes, doubled.square_queries, doubled.sparse_rs_queries) == (
        100, 6, 800, 600)
    assert doubled.seed != config.seed and doubled.chains == 2 and doubled.epsilon == 2.0
    assert doubled.doubled().target_classes == 9  # there are only 9 other classes
    assert StrongestConfig().doubled().describe() == "APGD-CE 200 + APGD-T 9x200 + Square 10000"


class BudgetFools:
    """A stand-in for ``strongest_attack``: image i is fooled (set to 1.0) when i < fooled(queries), so the
    figure after each budget is known by hand. Records the images and budgets of each call."""

    def __init__(self, fooled):
        self.fooled, self.calls = fooled, []

    def __call__(self, model, images, labels, config, batch_size=1000, on_progress=None):
        self.calls.append((images[:, 0, 0, 0].astype(int).tolist(), config))
        result = images.copy()
        result[images[:, 0, 0, 0] < self.fooled(config.queries)] = 1.0
        return result


class Identity(keras.Model):
    """Predicts class 0, except for an all-ones pixel 1 (any image set to 1.0 is 'fooled')."""

    def call(self, inputs, training=False):
        lit = tf.cast(inputs[:, 0, 1, 0] >= 1.0, tf.float32)[:, None]
        return tf.concat([1.0 - lit, lit], axis=1)


def numbered(n: int) -> np.ndarray:
    """n images whose pixel (0, 0) holds their index (the fake attack reads it), pixel (0, 1) 0."""
    images = np.zeros((n, 2, 2, 1), np.float32)
    images[:, 0, 0, 0] = np.arange(n)
    return images


def test_converge_doubles_until_a_doubling_moves_the_figure_less_than_the_tolerance(monkeypatch):
    from advdemo.attacks import strongest
    # 1,000 queries fool 500 of 1,000 images, 2,000 fool 560, 4,000 fool 563: the 2,000 budget is enough
    fake = BudgetFools(lambda queries: {1000: 500, 2000: 560, 4000: 563, 8000: 563}[queries])
    monkeypatch.setattr(strongest, "strongest_attack", fake)
    images, labels = numbered(1000), np.zeros(1000, np.int64)
    config = StrongestConfig(square_queries=1000, apgd_steps=10, target_classes=1)
    found = strongest.converge(Identity(), images, labels, config, tolerance=0.5, max_doublings=3)
    assert [run[1] for run in found.runs] == [0.5, 0.44, 0.437]
    assert found.passed and found.moved == pytest.approx(0.3)
    assert found.budget.square_queries == 2000 and found.checked == 1000
    assert [call[1].square_queries for call in fake.calls] == [1000, 2000, 4000]
    assert fake.calls[1][0] == list(range(500, 1000))  # a doubling runs only on the images still standing
    assert np.all(found.adversarial[:563, 0, 1, 0] == 1.0) and np.all(found.adversarial[563:] == images[563:])


def test_converge_says_when_it_did_not_converge_and_doubles_only_on_the_checked_images(monkeypatch):
    from advdemo.attacks import strongest
    fake = BudgetFools(lambda queries: {1000: 100, 2000: 150, 4000: 190}[queries])
    monkeypatch.setattr(strongest, "strongest_attack", fake)
    images, labels = numbered(400), np.zeros(400, np.int64)
    check = np.arange(0, 400, 2)  # the doublings run on the even images only
    found = strongest.converge(Identity(), images, labels, StrongestConfig(square_queries=1000), tolerance=0.5,
                               max_doublings=2, check=check)
    assert not found.passed and found.budget.square_queries == 4000 and found.checked == 200
    assert found.moved == pytest.approx(100 * 20 / 200)  # 150..189: 20 even images of the 200 checked
    assert all(index % 2 == 0 for call in fake.calls[1:] for index in call[0])
    fooled = found.adversarial[:, 0, 1, 0] == 1.0
    assert fooled[:100].all() and fooled[100:190:2].all() and not fooled[101:190:2].any()
    unchecked = strongest.converge(Identity(), images, labels, StrongestConfig(square_queries=1000),
                                   max_doublings=0)
    assert unchecked.moved is None and not unchecked.passed and len(unchecked.runs) == 1


def test_converge_on_a_model_that_hides_its_gradients_only_lowers_accuracy_and_stays_in_the_ball():
    from advdemo.attacks.strongest import converge
    model = Masked()
    images = np.random.default_rng(3).uniform(0.45, 0.55, (24, 4, 4, 1)).astype(np.float32)
    labels = predictions(model, images)
    config = StrongestConfig(norm=Norm.LINF, epsilon=0.15, apgd_steps=5, target_classes=0, square_queries=10)
    found = converge(model, images, labels, config, tolerance=0.0, max_doublings=2)
    accuracies = [accuracy for _, accuracy in found.runs]
    assert accuracies == sorted(accuracies, reverse=True) and len(found.runs) == 3
    assert found.runs[0][0] == config.describe() and found.runs[2][0] == config.doubled().doubled().describe()
    assert np.mean(predictions(model, found.adversarial) == labels) == pytest.approx(accuracies[-1])
    assert np.all(np.abs(found.adversarial - images) <= 0.15 + 1e-6)


# --- the evaluation ------------------------------------------------------------------------------------------------

def test_old_l2_and_l1_entries_no_longer_match_but_linf_ones_do():
    old_l2 = {"attack": "pgd", "norm": "l2", "eps": 2.0, "steps": 40, "step_size": 0.2, "restarts": 1,
              "source": "white-box", "n": 100, "accuracy": 0.22}
    old_linf = dict(old_l2, norm="linf", eps=0.2, step_size=0.02)
    assert find_entry([old_l2], AttackSpec.pgd(2.0, Norm.L2, restarts=1)) is None  # NSL's weak direction
    assert find_entry([dict(old_l2, direction="strong")], AttackSpec.pgd(2.0, Norm.L2, restarts=1)) is not None
    assert find_entry([old_linf], AttackSpec.pgd(0.2, restarts=1)) is old_linf  # sign(g) either way


def entries(values: dict[AttackSpec, float], n: int = 1000) -> list[dict]:
    return [spec.as_entry(n, value) for spec, value in values.items()]


def test_sanity_checks_in_every_norm_catch_a_weak_strongest_attack_and_a_large_eps_that_fails():
    good = {AttackSpec.clean(): 0.99, AttackSpec.fgsm(2.0, Norm.L2): 0.6, AttackSpec.pgd(2.0, Norm.L2, restarts=1): 0.2,
            AttackSpec.strongest(2.0, Norm.L2): 0.1, large_eps_spec(Norm.L2): 0.0}
    converged = [dict(entry, doubling_check=DOUBLED) if entry["attack"] == "strongest" else entry
                 for entry in entries(good)]
    checks = {c["check"]: c["passed"] for c in sanity_checks(converged)}
    assert checks == {"L2: strongest <= PGD <= FGSM": True, "L2: eps 8 gives about 0%": True, DOUBLING_L2: True}
    bad = dict(good)
    bad[AttackSpec.strongest(2.0, Norm.L2)] = 0.3  # the "strongest" attack found less than PGD
    bad[large_eps_spec(Norm.L2)] = 0.05  # and a huge eps leaves 5%: a weak attack
    checks = {c["check"]: c["passed"] for c in sanity_checks(entries(bad))}
    assert checks == {"L2: strongest <= PGD <= FGSM": False, "L2: eps 8 gives about 0%": False,
                      DOUBLING_L2: False}  # and no doubling check was run


DOUBLING_L2 = "L2: a doubled budget lowers the strongest figure by < 0.5 point"
DOUBLED = {"passed": True, "moved_points": 0.1, "tolerance_points": 0.5, "n": 1000,
           "enough": "APGD-CE 100 + APGD-T 9x100 + Square 5000",
           "runs": [{"budget": "APGD-CE 100 + APGD-T 9x100 + Square 5000", "accuracy": 0.101},
                    {"budget": "APGD-CE 200 + APGD-T 9x200 + Square 10000", "accuracy": 0.1}]}


def test_the_doubling_check_fails_loudly_on_a_figure_a_doubling_moved_or_that_was_never_checked():
    figure = AttackSpec.strongest(0.3).as_entry(1000, 0.5)
    moved = dict(DOUBLED, passed=False, moved_points=2.4,
                 runs=[*DOUBLED["runs"], {"budget": "APGD-CE 400 + APGD-T 9x400 + Square 20000", "accuracy": 0.5}])
    at_02 = AttackSpec.strongest(0.2).as_entry(1000, 0.9)

    def check(*figures):
        return next(c for c in sanity_checks(list(figures)) if c["check"].startswith("L-inf: a doubled budget"))

    passed = check(dict(figure, doubling_check=DOUBLED), dict(at_02, doubling_check=DOUBLED))
    assert passed["passed"] and "eps 0.3 (50.00%, n=1000): doubling" in passed["detail"]
    failed = check(dict(figure, doubling_check=moved), dict(at_02, doubling_check=DOUBLED))
    assert not failed["passed"] and "lowered it by 2.40 points (NOT converged)" in failed["detail"]
    missing = check(dict(figure, doubling_check=DOUBLED), at_02)
    assert not missing["passed"] and "eps 0.2 (90.00%, n=1000): not run" in missing["detail"]


def test_sanity_checks_on_the_sweeps_catch_a_curve_that_rises():
    sweeps = entries({AttackSpec.fgsm(eps, Norm.L1): value for eps, value in ((2.5, 0.9), (5.0, 0.95))})
    checks = sanity_checks(entries({AttackSpec.clean(): 0.99}, n=1000), sweeps)
    failed = [c["check"] for c in checks if not c["passed"]]
    assert failed == ["L1 sweeps: FGSM accuracy falls as eps grows"]


def test_figures_on_different_samples_may_differ_by_their_sampling_error():
    """PGD on the full test set against the strongest attack on a sample of 1,000: a 0.6-point crossing is
    within sampling error (2.5 standard errors is about 3 points here) and passes; 5 points does not."""
    pgd = AttackSpec.pgd(0.3)
    for strongest, passes in ((0.806, True), (0.85, False)):
        figures = [pgd.as_entry(10000, 0.80), AttackSpec.strongest(0.3).as_entry(1000, strongest)]
        check = next(c for c in sanity_checks(figures) if c["check"] == "L-inf: strongest <= PGD <= FGSM")
        assert check["passed"] is passes


def test_a_cards_strongest_figure_is_the_current_budgets_else_an_older_budgets_marked_unconverged():
    from advdemo.configs import QUICK_BUDGET
    from advdemo.evaluation import converged, strongest_entry
    from advdemo.report import _cell

    older = AttackSpec.strongest(0.3, budget=QUICK_BUDGET).as_entry(10_000, 0.721)
    gradients_only = AttackSpec.strongest(0.3, budget=dataclasses.replace(QUICK_BUDGET, square_queries=0)
                                          ).as_entry(10_000, 0.88)
    current = dict(AttackSpec.strongest(0.3).as_entry(500, 0.43), doubling_check=DOUBLED)
    assert strongest_entry([gradients_only, older], 0.3) is older  # a gradients-only figure is no strongest figure
    assert strongest_entry([older, current, gradients_only], 0.3) is current
    assert strongest_entry([older], 0.2) is None and strongest_entry([gradients_only], 0.3) is None
    assert not converged(older) and converged(current) and converged(AttackSpec.pgd(0.3).as_entry(10, 0.5))
    assert _cell({"metrics": [older]}, AttackSpec.strongest(0.3), 10_000) == "72.10†"
    assert _cell({"metrics": [older, current]}, AttackSpec.strongest(0.3), 10_000) == "43.00*"
