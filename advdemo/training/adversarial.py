"""Adversarial regularization in Keras 3 (NSL's ``AdversarialRegularization`` semantics, no NSL needed).

One implementation serves every caller (CLI, app, tests): ``train_model`` takes a progress callback and
a stop flag, and a cancelled run reports ``completed=False`` so that nobody saves a half-trained model.

Loss per batch (``AdvRegConfig.loss``):

* ``nsl``:    CE(y, f(x)) + multiplier * CE(y, f(x_adv)),       x_adv ascends CE(y, f(.));
* ``trades``: CE(y, f(x)) + multiplier * KL(p(x) || p(x_adv)),  x_adv ascends that KL (Zhang et al. 2019);
* ``ibp``:    CE(y, f(x)) + multiplier * CE(y, -m(x)),  m(x) the interval bounds on the margins over the ball
  (Gowal et al. 2018; ``advdemo.certificates.ibp``), no x_adv;
* no config: CE(y, f(x)), normal training.

With ``ramp_steps``, eps and the multiplier grow linearly from 0 over the first ``ramp_steps`` steps.

x_adv is built every step by ``advdemo.attacks.gradient`` from ``AdvRegConfig.attack`` (FGSM or PGD, any norm),
on the current weights, with no gradient flowing through its construction.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from advdemo.attacks import gradient as attacks
from advdemo.attacks import losses
from advdemo.certificates import ibp
from advdemo.configs import AdvRegConfig, RegularizerLoss, TrainConfig
from advdemo.data import Split
from advdemo.models import build_cnn, with_compute_precision


class AdversarialRegularization(keras.Model):
    """Wraps a classifier; its ``train_step`` adds the adversarial term of ``config`` to the loss.

    Only ``base_model`` is saved afterwards: a plain functional CNN that loads with ``safe_mode=True``.
    """

    def __init__(self, base_model: keras.Model, config: AdvRegConfig | None = None, **kwargs):
        super().__init__(**kwargs)
        self.base_model = base_model
        self.adv_config = config
        if config is not None and config.loss is RegularizerLoss.IBP:
            ibp.chain(base_model)  # checks the layers once, outside the compiled train_step
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.adversarial_loss_tracker = keras.metrics.Mean(name="adversarial_loss")
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def call(self, inputs, training=False):
        return self.base_model(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.adversarial_loss_tracker, self.accuracy_metric]

    def train_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        config = self.adv_config
        if config is None:
            loss, adversarial, logits, gradients = self._normal_gradients(images, labels)
        elif config.loss is RegularizerLoss.TRADES:
            loss, adversarial, logits, gradients = self._trades_gradients(images, labels)
        elif config.loss is RegularizerLoss.IBP:
            loss, adversarial, logits, gradients = self._ibp_gradients(images, labels)
        else:
            loss, adversarial, logits, gradients = self._nsl_gradients(images, labels)
        self.optimizer.apply_gradients(zip(gradients, self.base_model.trainable_variables))
        return self._update_metrics(loss, adversarial, labels, logits)

    def _normal_gradients(self, images, labels):
        variables = self.base_model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.base_model(images, training=True)
            loss = losses.mean_cross_entropy(labels, logits)
        return loss, tf.zeros_like(loss), logits, tape.gradient(loss, variables)

    def _nsl_gradients(self, images, labels):
        """CE(x) + multiplier * CE(x_adv). For FGSM neighbours the input gradient comes from the clean
        loss's own backward pass, as in NSL, so a step costs two forward and two backward passes."""
        config, variables = self.adv_config, self.base_model.trainable_variables
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = self.base_model(images, training=True)
            clean_loss = losses.mean_cross_entropy(labels, logits)
        if config.attack.is_fgsm:
            clean_gradients, input_gradient = tape.gradient(clean_loss, [variables, images])
            attack = config.attack
            neighbours = images + attacks.take_step(images, tf.zeros_like(images), input_gradient, attack.epsilon,
                                                    attack.adv_step_size, attacks.setup_of(attack, keep_worst=False))
        else:
            clean_gradients = tape.gradient(clean_loss, variables)
            neighbours = attacks.attack_tensor(self.base_model, images, labels, config.attack)
        with tf.GradientTape() as tape:
            adversarial_logits = self.base_model(tf.stop_gradient(neighbours), training=True)
            adversarial = losses.mean_cross_entropy(labels, adversarial_logits)
        adversarial_gradients = tape.gradient(adversarial, variables)
        # the gradient of losses.nsl_objective, term by term (the clean term's backward pass is already done)
        gradients = [losses.nsl_objective(clean, adv, config.multiplier)
                     for clean, adv in zip(clean_gradients, adversarial_gradients)]
        return losses.nsl_objective(clean_loss, adversarial, config.multiplier), adversarial, logits, gradients

    def _trades_gradients(self, images, labels):
        """CE(x) + multiplier * KL(p(x) || p(x_adv)), x_adv ascending that KL from a random start."""
        config, variables = self.adv_config, self.base_model.trainable_variables
        neighbours = attacks.attack_tensor(self.base_model, images, labels, config.attack,
                                           reference_logits=self.base_model(images, training=False))
        with tf.GradientTape() as tape:  # one forward pass over clean and adversarial images together
            both = self.base_model(tf.concat([images, neighbours], axis=0), training=True)
            logits, adversarial_logits = tf.split(both, 2, axis=0)
            adversarial = tf.reduce_mean(losses.kl_divergence(logits, adversarial_logits))
            loss = losses.trades_objective(losses.mean_cross_entropy(labels, logits), adversarial, config.multiplier)
        return loss, adversarial, logits, tape.gradient(loss, variables)

    def _ramp(self):
        """The fraction of eps and the multiplier in force at this step: step / ramp_steps, at most 1."""
        if not self.adv_config.ramp_steps:
            return tf.constant(1.0)
        step = tf.cast(self.optimizer.iterations, tf.float32)
        return tf.minimum(1.0, step / float(self.adv_config.ramp_steps))

    def _ibp_gradients(self, images, labels):
        """CE(x) + multiplier * CE(y, -m(x)): the cross-entropy of the worst-case logits the interval bounds allow
        (the label's logit 0, every other -m_j, m_j the lower bound on z_y - z_j over the ball)."""
        config, variables = self.adv_config, self.base_model.trainable_variables
        ramp = self._ramp()
        with tf.GradientTape() as tape:
            logits = self.base_model(images, training=True)
            clean_loss = losses.mean_cross_entropy(labels, logits)
            margins = ibp.margins(self._ibp_layers, images, tf.cast(labels, tf.int64),
                                  ramp * config.attack.epsilon)
            adversarial = losses.mean_cross_entropy(labels, -margins)
            loss = clean_loss + ramp * config.multiplier * adversarial
        return loss, adversarial, logits, tape.gradient(loss, variables)

    @property
    def _ibp_layers(self):
        return ibp.chain(self.base_model)

    def test_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self.base_model(images, training=False)
        return self._update_metrics(losses.mean_cross_entropy(labels, logits), tf.zeros([]), labels, logits)

    def _update_metrics(self, loss, adversarial, labels, logits):
        self.loss_tracker.update_state(loss)
        self.adversarial_loss_tracker.update_state(adversarial)
        self.accuracy_metric.update_state(labels, logits)
        return {metric.name: metric.result() for metric in self.metrics}


def _dataset(split: Split, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches of (images, labels), reshuffled every epoch when ``shuffle_seed`` is given."""
    dataset = tf.data.Dataset.from_tensor_slices((split.images, split.labels.astype(np.int32)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass(frozen=True)
class TrainingProgress:
    """What a progress callback receives after every batch and at the end of every epoch.

    ``epoch`` counts from 1; ``batch`` from 1 to ``batches``; ``fraction`` of the whole run is in [0, 1];
    ``logs`` holds the running loss/accuracy (and ``val_*`` at an epoch's end).
    """

    epoch: int
    epochs: int
    batch: int
    batches: int
    logs: dict[str, float]
    epoch_end: bool = False

    @property
    def fraction(self) -> float:
        return min(1.0, ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches))


@dataclasses.dataclass
class TrainResult:
    """The trained classifier and how its training went.

    ``completed`` is False when the stop flag cancelled the run: such a model must not be saved.
    """

    model: keras.Model
    completed: bool
    epoch_seconds: list[float]
    history: dict[str, list[float]]
    seconds: float


class _ProgressAndStop(keras.callbacks.Callback):
    """Reports progress, times epochs, and stops training when ``should_stop()`` turns true."""

    def __init__(self, epochs: int, batches: int, on_progress, should_stop, on_epoch=None, classifier=None):
        super().__init__()
        self.epochs, self.batches = epochs, batches
        self.on_progress, self.should_stop = on_progress, should_stop
        self.on_epoch, self.classifier = on_epoch, classifier
        self.epoch_seconds: list[float] = []
        self.cancelled = False
        self._epoch = 0
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start = epoch + 1, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.on_progress is not None:
            self.on_progress(TrainingProgress(self._epoch, self.epochs, batch + 1, self.batches,
                                              {k: float(v) for k, v in (logs or {}).items()}))
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.cancelled:
            return
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if self.on_epoch is not None:  # after the epoch is timed: what it measures is not training time
            self.on_epoch(self._epoch, self.classifier, logs)
        if self.on_progress is not None:
            self.on_progress(TrainingProgress(self._epoch, self.epochs, self.batches, self.batches, logs,
                                              epoch_end=True))


def train_model(train: Split, train_config: TrainConfig = TrainConfig(), adv_config: AdvRegConfig | None = None, *,
                validation: Split | None = None,
                on_progress: Callable[[TrainingProgress], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                model: keras.Model | None = None,
                on_epoch: Callable[[int, keras.Model, dict[str, float]], None] | None = None) -> TrainResult:
    """Trains the tutorial's CNN (or ``model``) normally, or with adversarial regularization.

    Args:
        train: training images float32 (n, 28, 28, 1) in [0, 1] and labels (n,).
        train_config: epochs, batch size, learning rate, seed, compute precision.
        adv_config: ``None`` for normal training, else the adversarial term.
        validation: optional held-out split, evaluated (clean) after every epoch.
        on_progress: called after every batch and epoch with a ``TrainingProgress``.
        should_stop: polled after every batch; returning True cancels the run (``completed=False``).
        model: a classifier to train instead of a fresh ``build_cnn()``.
        on_epoch: called after every epoch (not after a cancelled one) as ``on_epoch(epoch, classifier, logs)``,
            with the classifier being trained (its weights as they are now), to measure it.

    Returns:
        a ``TrainResult``; its ``model`` is the plain classifier (not the wrapper), computing in float32
        whatever ``train_config.precision`` was.
    """
    if len(train) == 0:
        raise ValueError("the training split is empty")
    keras.utils.set_random_seed(train_config.seed)
    classifier = model if model is not None else build_cnn()
    batches = int(np.ceil(len(train) / train_config.batch_size))
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = train_config.learning_rate
    if train_config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            train_config.learning_rate, decay_steps=batches * train_config.epochs, alpha=0.01)
    trained = classifier
    if train_config.precision != "float32":  # train a mixed-precision twin, then copy its weights back
        trained = with_compute_precision(classifier, train_config.precision)
    wrapper = AdversarialRegularization(trained, adv_config)
    wrapper.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    progress = _ProgressAndStop(train_config.epochs, batches, on_progress, should_stop, on_epoch, trained)
    started = time.perf_counter()
    history = wrapper.fit(_dataset(train, train_config.batch_size, shuffle_seed=train_config.seed),
                          epochs=train_config.epochs, shuffle=False, verbose=0, callbacks=[progress],
                          validation_data=None if validation is None else _dataset(validation, 1000))
    if trained is not classifier:
        classifier.set_weights(trained.get_weights())
    return TrainResult(model=classifier, completed=not progress.cancelled, epoch_seconds=progress.epoch_seconds,
                       history={k: [float(v) for v in values] for k, values in history.history.items()},
                       seconds=time.perf_counter() - started)
