"""training.adversarial: one train_step against a numpy hand computation on a two-weight model, then train_model.

The model: x (2 features) -> z = x . w (two weights, no bias) -> logits (z, 0). So p(class 0) = sigmoid(z) and,
with t = [y == 0], the cross-entropy's derivatives are dCE/dz = sigmoid(z) - t, dCE/dx = (sigmoid(z) - t) w and
dCE/dw = (sigmoid(z) - t) x.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from advdemo.attacks import norms
from advdemo.configs import AdvRegConfig, AttackConfig, Norm, RegularizerLoss, TrainConfig
from advdemo.data import Split
from advdemo.models import build_cnn
from advdemo.training.adversarial import AdversarialRegularization, TrainingProgress, train_model

W0 = np.array([0.8, -0.5])
LR = 0.1
X = np.array([[0.3, -1.2], [1.5, 0.4], [-0.7, 0.9], [0.2, 0.1], [-1.1, -0.6], [0.9, -0.3]])
Y = np.array([0, 1, 1, 0, 0, 1])
WIDE = {"clip_value_min": -10.0, "clip_value_max": 10.0}  # so that pixel clipping never interferes


def two_weight_model() -> keras.Model:
    inputs = keras.Input(shape=(2,))
    z = keras.layers.Dense(1, use_bias=False, name="w")(inputs)
    logits = keras.layers.Concatenate()([z, keras.ops.zeros_like(z)])
    model = keras.Model(inputs, logits)
    model.get_layer("w").set_weights([W0.reshape(2, 1).astype(np.float32)])
    assert model.count_params() == 2
    return model


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def cross_entropy(z, y):
    """Per-example CE of logits (z, 0) for labels y."""
    return np.where(y == 0, np.logaddexp(0, -z), np.logaddexp(0, z))


def residual(x, w, y):
    """dCE/dz per example."""
    return sigmoid(x @ w) - (y == 0)


def direction(g, norm: Norm):
    if norm is Norm.LINF:
        return np.sign(g)
    if norm is Norm.L2:
        return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-6)
    tied = np.abs(g) == np.abs(g).max(axis=1, keepdims=True)
    return np.sign(g) * tied / tied.sum(axis=1, keepdims=True)


def one_step(config: AdvRegConfig | None):
    """Runs exactly one train_step (fit, one batch of the whole data) with SGD; returns (new weights, logs)."""
    wrapper = AdversarialRegularization(two_weight_model(), config)
    wrapper.compile(optimizer=keras.optimizers.SGD(learning_rate=LR))
    history = wrapper.fit(X.astype(np.float32), Y.astype(np.int32), batch_size=len(X), epochs=1, shuffle=False,
                          verbose=0)
    weights = wrapper.base_model.get_layer("w").get_weights()[0].reshape(2)
    return weights, {key: values[0] for key, values in history.history.items()}


def test_normal_training_is_plain_sgd_on_the_cross_entropy():
    weights, logs = one_step(None)
    gradient = (residual(X, W0, Y)[:, None] * X).mean(0)
    np.testing.assert_allclose(weights, W0 - LR * gradient, rtol=1e-5, atol=1e-6)
    assert logs["loss"] == pytest.approx(cross_entropy(X @ W0, Y).mean(), rel=1e-5)
    assert logs["adversarial_loss"] == 0.0


@pytest.mark.parametrize("norm", list(Norm))
def test_nsl_fgsm_step_matches_the_hand_computation(norm):
    multiplier, step = 0.7, 0.3
    config = AdvRegConfig(multiplier=multiplier, attack=AttackConfig(adv_grad_norm=norm, adv_step_size=step, **WIDE))
    weights, logs = one_step(config)

    r = residual(X, W0, Y)
    input_gradient = r[:, None] * W0[None, :]  # per example; the batch mean only scales it by 1/6
    x_adv = X + step * direction(input_gradient, norm)
    r_adv = residual(x_adv, W0, Y)
    gradient = (r[:, None] * X).mean(0) + multiplier * (r_adv[:, None] * x_adv).mean(0)
    np.testing.assert_allclose(weights, W0 - LR * gradient, rtol=1e-5, atol=1e-6)

    clean, adversarial = cross_entropy(X @ W0, Y).mean(), cross_entropy(x_adv @ W0, Y).mean()
    assert adversarial > clean  # the neighbours are worse than the clean points
    assert logs["adversarial_loss"] == pytest.approx(adversarial, rel=1e-5)
    assert logs["loss"] == pytest.approx(clean + multiplier * adversarial, rel=1e-5)


def test_nsl_fgsm_neighbours_are_clipped_to_the_pixel_range():
    """With the default [0, 1] range the neighbours are clipped: X has negative entries, so they move."""
    multiplier, step = 1.0, 0.3
    config = AdvRegConfig(multiplier=multiplier, attack=AttackConfig(adv_step_size=step))
    weights, _ = one_step(config)
    r = residual(X, W0, Y)
    x_adv = np.clip(X + step * np.sign(r[:, None] * W0[None, :]), 0.0, 1.0)
    r_adv = residual(x_adv, W0, Y)
    gradient = (r[:, None] * X).mean(0) + multiplier * (r_adv[:, None] * x_adv).mean(0)
    np.testing.assert_allclose(weights, W0 - LR * gradient, rtol=1e-5, atol=1e-6)


def test_nsl_pgd_step_matches_the_hand_computation():
    """PGD neighbours (2 steps of 0.3 in the L-inf ball of 0.45, no random start): the last iterate, as in NSL."""
    multiplier, step, eps = 0.5, 0.3, 0.45
    config = AdvRegConfig(multiplier=multiplier, attack=AttackConfig(adv_step_size=step, pgd_iterations=2,
                                                                     pgd_epsilon=eps, **WIDE))
    weights, logs = one_step(config)

    delta = np.zeros_like(X)
    for _ in range(2):
        g = residual(X + delta, W0, Y)[:, None] * W0[None, :]
        delta = np.clip(delta + step * np.sign(g), -eps, eps)
    x_adv = X + delta
    r, r_adv = residual(X, W0, Y), residual(x_adv, W0, Y)
    gradient = (r[:, None] * X).mean(0) + multiplier * (r_adv[:, None] * x_adv).mean(0)
    np.testing.assert_allclose(weights, W0 - LR * gradient, rtol=1e-5, atol=1e-6)
    assert logs["adversarial_loss"] == pytest.approx(cross_entropy(x_adv @ W0, Y).mean(), rel=1e-5)


def test_trades_step_matches_the_hand_computation(monkeypatch):
    """TRADES with the random start fixed by hand. For the logits (z, 0):
    KL(p(x) || p(x_adv)) = s(z) (z - z') + log(1 + e^z') - log(1 + e^z) with s = sigmoid, z' = x_adv . w;
    dKL/dz' = s(z') - s(z) (drives the inner PGD) and dKL/dz = s(z)(1 - s(z)) (z - z')."""
    multiplier, step, eps = 2.0, 0.3, 0.45
    start = np.array([[0.1, -0.2], [-0.3, 0.05], [0.2, 0.2], [-0.1, 0.4], [0.35, -0.15], [0.0, 0.1]])
    monkeypatch.setattr(norms, "random_in_ball", lambda shape, epsilon, norm, dtype=tf.float32:
                        tf.constant(start, dtype))
    config = AdvRegConfig(multiplier=multiplier, loss=RegularizerLoss.TRADES,
                          attack=AttackConfig(adv_step_size=step, pgd_iterations=2, pgd_epsilon=eps,
                                              random_init=True, **WIDE))
    weights, logs = one_step(config)

    z = X @ W0
    delta = start.copy()
    for _ in range(2):
        g = (sigmoid((X + delta) @ W0) - sigmoid(z))[:, None] * W0[None, :]
        delta = np.clip(delta + step * np.sign(g), -eps, eps)
    x_adv = X + delta
    z_adv = x_adv @ W0
    kl = sigmoid(z) * (z - z_adv) + np.logaddexp(0, z_adv) - np.logaddexp(0, z)
    d_clean = sigmoid(z) * (1 - sigmoid(z)) * (z - z_adv)
    d_adv = sigmoid(z_adv) - sigmoid(z)
    gradient = ((residual(X, W0, Y) + multiplier * d_clean)[:, None] * X).mean(0) \
        + multiplier * (d_adv[:, None] * x_adv).mean(0)
    np.testing.assert_allclose(weights, W0 - LR * gradient, rtol=1e-5, atol=1e-6)
    assert logs["adversarial_loss"] == pytest.approx(kl.mean(), rel=1e-4)
    assert logs["loss"] == pytest.approx(cross_entropy(z, Y).mean() + multiplier * kl.mean(), rel=1e-5)


def test_zero_multiplier_is_normal_training():
    config = AdvRegConfig(multiplier=0.0, attack=AttackConfig(adv_step_size=0.3, **WIDE))
    np.testing.assert_allclose(one_step(config)[0], one_step(None)[0], rtol=1e-6, atol=1e-7)


def test_train_on_batch_runs_the_same_step_as_fit():
    """Keras' train_on_batch hands train_step (x, y, sample_weight): the wrapper must accept it like fit's (x, y)."""
    config = AdvRegConfig(multiplier=0.7, attack=AttackConfig(adv_step_size=0.3, **WIDE))
    wrapper = AdversarialRegularization(two_weight_model(), config)
    wrapper.compile(optimizer=keras.optimizers.SGD(learning_rate=LR))
    wrapper.train_on_batch(X.astype(np.float32), Y.astype(np.int32))
    np.testing.assert_allclose(wrapper.base_model.get_layer("w").get_weights()[0].reshape(2), one_step(config)[0],
                               rtol=1e-6)


# --- train_model ---------------------------------------------------------------------------------------------------

@pytest.fixture
def small_train(tiny_splits) -> Split:
    train, _ = tiny_splits
    return train.head(128)


def clean_loss(model, split: Split) -> float:
    logits = model(tf.constant(split.images), training=False)
    return float(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(split.labels, logits)))


def hand_cross_entropy(kernel: np.ndarray, bias: np.ndarray, split: Split) -> float:
    """Mean CE of the linear model logits = flatten(x) @ kernel + bias, in float64 numpy."""
    logits = split.images.reshape(len(split), -1).astype(np.float64) @ kernel + bias
    top = logits.max(axis=1)
    log_sum = np.log(np.exp(logits - top[:, None]).sum(axis=1)) + top
    return float(np.mean(log_sum - logits[np.arange(len(split)), split.labels]))


@pytest.mark.parametrize("config", [
    AdvRegConfig(multiplier=1.5),  # NSL: FGSM L-inf 0.2 neighbours, CE on them
    AdvRegConfig(multiplier=1.5, loss="trades", attack=AttackConfig.pgd(0.1, steps=3, step_size=0.05)),
], ids=["nsl", "trades"])
def test_train_model_adds_the_adversarial_term(small_train, make_linear_model, config):
    """One step over one batch from known weights: train_model reports loss = CE(x) + multiplier * adversarial
    term, with CE(x) computed by hand at the starting weights and an adversarial term > 0 (normal training
    reports 0 and loss = CE(x)); and the step moves the weights elsewhere than normal training's step does."""
    kernel = (np.random.default_rng(0).normal(size=(28 * 28, 10)) * 0.05).astype(np.float32)
    bias = np.linspace(-0.1, 0.1, 10).astype(np.float32)
    clean = hand_cross_entropy(kernel, bias, small_train)
    one_batch = TrainConfig(epochs=1, batch_size=len(small_train), learning_rate=0.01)

    normal = train_model(small_train, one_batch, None, model=make_linear_model(kernel=kernel, bias=bias))
    assert normal.history["adversarial_loss"] == [0.0]
    assert normal.history["loss"][0] == pytest.approx(clean, rel=1e-5)

    result = train_model(small_train, one_batch, config, model=make_linear_model(kernel=kernel, bias=bias))
    adversarial = result.history["adversarial_loss"][0]
    assert adversarial > 0.1
    if config.loss is RegularizerLoss.NSL:
        assert adversarial > clean  # CE on the FGSM neighbours is above CE on the clean images
    assert result.history["loss"][0] == pytest.approx(clean + config.multiplier * adversarial, rel=1e-5)
    moved = np.abs(result.model.get_weights()[0] - normal.model.get_weights()[0]).max()
    assert moved > 1e-3  # Adam's first step is ~0.01 per weight: the adversarial gradient changed its direction


def test_mixed_precision_training_learns_and_returns_the_float32_model(tiny_splits):
    train, test = tiny_splits
    keras.utils.set_random_seed(0)
    model = build_cnn()
    before = [w.copy() for w in model.get_weights()]
    result = train_model(train, TrainConfig(epochs=3, batch_size=32, precision="mixed_bfloat16"), AdvRegConfig(),
                         model=model)
    assert result.completed and result.model is model
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # every weight trained
    assert np.all(np.isfinite(result.history["loss"])) and result.history["loss"][-1] < result.history["loss"][0]
    predictions = np.argmax(model.predict(test.images, verbose=0), axis=1)
    assert np.mean(predictions == test.labels) > 0.5  # chance is 0.1


def test_train_model_reports_progress_up_to_one(small_train, make_linear_model):
    seen: list[TrainingProgress] = []
    result = train_model(small_train, TrainConfig(epochs=2, batch_size=32), AdvRegConfig(),
                         model=make_linear_model(), on_progress=seen.append, should_stop=lambda: False)
    batches = [p for p in seen if not p.epoch_end]
    ends = [p for p in seen if p.epoch_end]
    assert len(batches) == 2 * 4 and len(ends) == 2  # 128 images / 32 = 4 batches per epoch
    assert [(p.epoch, p.batch) for p in batches] == [(e, b) for e in (1, 2) for b in (1, 2, 3, 4)]
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert batches[0].fraction == pytest.approx(1 / 8)
    assert all(p.batches == 4 and p.epochs == 2 for p in seen)
    assert {"loss", "accuracy", "adversarial_loss"} <= set(ends[-1].logs)
    assert result.completed and len(result.epoch_seconds) == 2 and result.seconds > 0


def test_train_model_stops_after_the_first_batch(small_train, make_linear_model):
    model = make_linear_model()
    before = [w.copy() for w in model.get_weights()]
    seen: list[TrainingProgress] = []
    result = train_model(small_train, TrainConfig(epochs=3, batch_size=32), None, model=model,
                         on_progress=seen.append, should_stop=lambda: True)
    assert result.completed is False
    assert [(p.epoch, p.batch, p.epoch_end) for p in seen] == [(1, 1, False)]
    assert result.epoch_seconds == []
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the one batch ran


def test_train_model_validates_on_the_validation_split(tiny_splits, make_linear_model):
    """val_accuracy and val_loss are the trained model's accuracy and mean CE on the validation split, by hand."""
    train, test = tiny_splits
    result = train_model(train.head(64), TrainConfig(epochs=2, batch_size=32), None, validation=test,
                         model=make_linear_model())
    assert len(result.history["val_accuracy"]) == 2
    kernel, bias = (w.astype(np.float64) for w in result.model.get_weights())
    logits = test.images.reshape(len(test), -1).astype(np.float64) @ kernel + bias
    accuracy = np.mean(np.argmax(logits, axis=1) == test.labels)
    assert result.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    assert result.history["val_loss"][-1] == pytest.approx(hand_cross_entropy(kernel, bias, test), rel=1e-5)
    # the training split gives another loss, so validating on it would not pass
    assert abs(hand_cross_entropy(kernel, bias, train.head(64)) - result.history["val_loss"][-1]) > 1e-3


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_train_model_learning_rate_schedule(small_train, make_linear_model, monkeypatch, schedule):
    """The optimizer's learning rate after every step (and before the first) against the cosine decay over the
    whole run, by hand: lr * (alpha + (1 - alpha) * (1 + cos(pi * step / total)) / 2) with alpha = 0.01, so lr
    at the start, lr * 0.505 half-way, lr * 0.01 at the end. ``constant`` keeps lr throughout."""
    optimizers: list[keras.optimizers.Optimizer] = []
    seen: list[tuple[int, float]] = []

    class RecordingAdam(keras.optimizers.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            optimizers.append(self)
            seen.append((int(self.iterations), float(self.learning_rate)))

    def record(progress: TrainingProgress) -> None:
        if not progress.epoch_end:
            seen.append((int(optimizers[0].iterations), float(optimizers[0].learning_rate)))

    monkeypatch.setattr(keras.optimizers, "Adam", RecordingAdam)
    lr, alpha, epochs, batches = 0.02, 0.01, 3, 4  # 128 images in batches of 32
    train_model(small_train, TrainConfig(epochs=epochs, batch_size=32, learning_rate=lr, lr_schedule=schedule),
                None, model=make_linear_model(), on_progress=record)
    total = epochs * batches
    assert len(optimizers) == 1 and [step for step, _ in seen] == list(range(total + 1))
    rates = np.array([rate for _, rate in seen])
    if schedule == "constant":
        np.testing.assert_allclose(rates, lr, rtol=1e-6)
        return
    expected = lr * (alpha + (1 - alpha) * 0.5 * (1 + np.cos(np.pi * np.arange(total + 1) / total)))
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    assert rates[0] == pytest.approx(lr) and rates[total // 2] == pytest.approx(lr * 0.505)
    assert rates[-1] == pytest.approx(lr * alpha)


def test_train_model_rejects_an_empty_split(make_linear_model):
    empty = Split(np.zeros((0, 28, 28, 1), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="empty"):
        train_model(empty, TrainConfig(), None, model=make_linear_model())


def test_training_progress_fraction():
    assert TrainingProgress(1, 2, 1, 4, {}).fraction == pytest.approx(1 / 8)
    assert TrainingProgress(2, 2, 1, 4, {}).fraction == pytest.approx(5 / 8)
    assert TrainingProgress(2, 2, 4, 4, {}, epoch_end=True).fraction == 1.0
    assert TrainingProgress(3, 2, 4, 4, {}).fraction == 1.0  # never above 1


# --- configuration -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: AdvRegConfig(multiplier=-0.1),
    lambda: AdvRegConfig(multiplier=float("nan")),
    lambda: AdvRegConfig(attack=AttackConfig.fgsm(0.2, target_class=3)),
    lambda: AdvRegConfig(attack=AttackConfig.pgd(0.2, restarts=3)),
    lambda: AdvRegConfig(loss="mart"),
    lambda: AdvRegConfig(loss="trades"),  # FGSM neighbours: no random start, so the KL ascent never moves
    lambda: TrainConfig(epochs=0),
    lambda: TrainConfig(epochs=1.5),
    lambda: TrainConfig(batch_size=0),
    lambda: TrainConfig(learning_rate=0.0),
    lambda: TrainConfig(learning_rate=-1e-3),
    lambda: TrainConfig(learning_rate=float("inf")),
    lambda: TrainConfig(lr_schedule="linear"),
    lambda: TrainConfig(validation_size=-1),
    lambda: TrainConfig(precision="float16"),
], ids=["negative-multiplier", "nan-multiplier", "targeted", "restarts", "unknown-loss",
        "trades-without-random-start", "zero-epochs", "fractional-epochs", "zero-batch", "zero-lr", "negative-lr",
        "infinite-lr", "unknown-schedule", "negative-validation", "unknown-precision"])
def test_configs_reject_bad_values(make):
    with pytest.raises(ValueError):
        make()


def test_config_defaults_are_the_tutorials():
    config = AdvRegConfig()
    assert config.multiplier == 0.2 and config.loss is RegularizerLoss.NSL
    assert config.attack.is_fgsm and config.attack.epsilon == 0.2 and config.attack.adv_grad_norm is Norm.LINF
    assert AdvRegConfig(loss="trades", attack=AttackConfig.pgd(0.2, steps=3)).loss is RegularizerLoss.TRADES
    train = TrainConfig()
    assert (train.epochs, train.batch_size, train.learning_rate) == (5, 32, 1e-3)
