"""FGSM, PGD and APGD in every norm: one kind of loop; each norm only contributes its math (``advdemo.attacks.norms``).

FGSM is PGD with one step of length epsilon and no random start:

    delta_0 = 0, or uniform in the epsilon ball (random start)
    delta_{t+1} = project_eps(delta_t + step_size * d(grad_x loss(x + delta_t))),
    then clipped so that x + delta stays in [clip_value_min, clip_value_max].

APGD (Croce and Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks") is the same step with two changes: momentum and a step size that adapts per example,

    z       = P(x_k + eta_k * d(grad_x loss(x_k)))
    x_{k+1} = P(x_k + 0.75 * (z - x_k) + 0.25 * (x_k - x_{k-1})),

with eta_0 = 2 epsilon (epsilon in L1), halved at checkpoints where fewer than 75% of the steps since the last
checkpoint raised the loss, or where the best loss did not improve (then the iterate restarts from the best
point). The checkpoints come closer together as the run goes: after 22% of the steps, then every
max(22% - 3% per checkpoint, 6%) of them.

Every attack keeps, per example, the worst case over its iterates and over restarts: an example that any
iterate or restart misclassifies stays misclassified, so more steps or restarts can never raise accuracy.
``d`` is the norm's direction (``advdemo.attacks.norms``): NSL's for training neighbours, the strong one for attacks
that are shown and evaluated. The losses live in ``advdemo.attacks.losses``: cross-entropy (untargeted: ascend it for
the true label; targeted: descend it for the target class), DLR and targeted DLR, and TRADES' KL.
Works on any Keras classifier that maps images to logits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from advdemo.attacks import losses, norms
from advdemo.configs import AttackConfig, AttackLoss, Direction, Norm

#: Added to the score of an iterate that already fools the model, so that it is always preferred.
_SUCCESS_BONUS = 1e6
#: APGD's constants (Croce and Hein 2020): momentum, the fraction of loss increases below which the step
#: halves, and the checkpoint spacing (first after 22% of the steps, shrinking by 3% to at least 6%).
APGD_MOMENTUM = 0.75
APGD_RHO = 0.75
APGD_FIRST_CHECKPOINT, APGD_CHECKPOINT_DECREASE, APGD_MIN_CHECKPOINT = 0.22, 0.03, 0.06


class Budget(NamedTuple):
    """The numbers of an attack, as tensors, so that moving a slider never retraces the compiled loop."""

    epsilon: tf.Tensor  # radius of the ball
    step_size: tf.Tensor  # length of each step (APGD: the first step size)
    steps: tf.Tensor  # number of steps


class Setup(NamedTuple):
    """The switches of an attack (Python values: one compiled loop per combination)."""

    norm: Norm
    direction: Direction = Direction.STRONG
    loss: AttackLoss = AttackLoss.CE
    random_init: bool = False
    adaptive_step: bool = False
    #: success means reaching the target (a user's target class), not just any misclassification (APGD-T)
    success_is_target: bool = False
    clip_min: float = 0.0
    clip_max: float = 1.0
    #: keep the worst iterate (attacks) or return the last one (training neighbours, as NSL does)
    keep_worst: bool = True
    #: FGSM in L1 with the strong direction: the best single step inside the ball and the pixel range
    #: (``norms.l1_box_step``) rather than a unit direction times eps
    l1_box_step: bool = False


def _objective(setup: Setup, logits, labels, targets, reference_logits):
    """The loss to ascend and the score to keep the worst case by, both (batch,)."""
    if reference_logits is not None:  # TRADES: push the prediction away from the clean one.
        loss = losses.kl_divergence(reference_logits, logits)
        return loss, loss
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    if targets is None:
        success = tf.not_equal(predicted, labels)
        loss = losses.dlr(labels, logits) if setup.loss is AttackLoss.DLR else losses.cross_entropy(labels, logits)
    else:
        success = tf.equal(predicted, targets) if setup.success_is_target else tf.not_equal(predicted, labels)
        loss = (losses.targeted_dlr(labels, targets, logits) if setup.loss is AttackLoss.DLR
                else -losses.cross_entropy(targets, logits))
    return loss, tf.cast(success, loss.dtype) * _SUCCESS_BONUS + loss


def clip_to_range(images: tf.Tensor, delta: tf.Tensor, clip_min: float, clip_max: float) -> tf.Tensor:
    """The part of ``delta`` that keeps ``images + delta`` inside [clip_min, clip_max]."""
    return tf.clip_by_value(images + delta, clip_min, clip_max) - images


def direction(gradient: tf.Tensor, adversarial: tf.Tensor, setup: Setup) -> tf.Tensor:
    """The unit step direction of ``setup`` (NSL's or the strong one) at the current image ``adversarial``."""
    if setup.direction is Direction.NSL:
        return norms.steepest_ascent_direction(gradient, setup.norm)
    return norms.attack_direction(gradient, setup.norm, adversarial, setup.clip_min, setup.clip_max)


def take_step(images: tf.Tensor, delta: tf.Tensor, gradient: tf.Tensor, epsilon, step_size, setup: Setup) -> tf.Tensor:
    """One attack step: ``delta + step_size * d(gradient)``, projected onto the ``epsilon`` ball of the norm
    and clipped to the pixel range. All tensors (batch, ...); ``step_size`` a scalar or (batch, 1, ..., 1);
    returns the new ``delta``.

    From ``delta = 0`` with ``step_size == epsilon`` this is FGSM (with ``Direction.NSL``, NSL's adversarial
    neighbour).
    """
    if setup.l1_box_step:
        step = norms.l1_box_step(gradient, images + delta, step_size, setup.clip_min, setup.clip_max)
    else:
        step = step_size * direction(gradient, images + delta, setup)
    return clip_to_range(images, norms.project(delta + step, epsilon, setup.norm), setup.clip_min, setup.clip_max)


def _start(images: tf.Tensor, epsilon: tf.Tensor, setup: Setup, seed: tf.Tensor | None = None) -> tf.Tensor:
    """The first ``delta``: 0, or uniform in the ball (clipped to the pixel range); drawn from ``seed`` (a
    stateless seed, shape (2,)) if given, else from TensorFlow's global random state."""
    if not setup.random_init:
        return tf.zeros_like(images)
    if seed is None:
        point = norms.random_in_ball(tf.shape(images), epsilon, setup.norm, images.dtype)
    else:
        point = norms.random_in_ball(tf.shape(images), epsilon, setup.norm, images.dtype, seed=seed)
    return clip_to_range(images, point, setup.clip_min, setup.clip_max)


def _restart_seed(seed: tf.Tensor | None, restart: int) -> tf.Tensor | None:
    """The stateless seed of restart number ``restart`` (None: unseeded)."""
    return None if seed is None else tf.random.experimental.stateless_fold_in(seed, restart)


def _evaluator(model, images, labels, targets, setup: Setup, reference_logits):
    """``evaluate(delta) -> (adversarial image, loss, score, input gradient of the summed loss)``."""

    def evaluate(delta):
        adversarial = tf.clip_by_value(images + delta, setup.clip_min, setup.clip_max)  # exact despite rounding
        with tf.GradientTape() as tape:
            tape.watch(adversarial)
            logits = model(adversarial, training=False)
            loss, score = _objective(setup, logits, labels, targets, reference_logits)
            total = tf.reduce_sum(loss)  # per-example directions do not depend on the batch size
        # a model that cuts the gradient (a masked one) gives zeros, not None: the attack then simply stalls
        gradient = tape.gradient(total, adversarial, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return adversarial, loss, score, gradient

    return evaluate


def _better_of(candidate, score, best_images, best_scores):
    better = score > best_scores
    return (tf.where(norms.per_example(better, candidate), candidate, best_images),
            tf.where(better, score, best_scores))


def _pgd_loop(model, images, labels, targets, budget: Budget, setup: Setup, reference_logits=None, seed=None,
              record: bool = False):
    """The PGD loop from one start: (adversarial images, their scores, trace).

    With ``setup.keep_worst`` the images are the worst case over the iterates x_1..x_T; without it
    (training, exactly NSL's semantics) they are the last iterate x_T, and the scores are zeros. With
    ``record`` the trace is (every iterate x_0..x_T, (T + 1, batch, ...); their scores, (T + 1, batch)), else ().
    """
    evaluate = _evaluator(model, images, labels, targets, setup, reference_logits)
    delta = _start(images, budget.epsilon, setup, seed)
    best_images = tf.clip_by_value(images + delta, setup.clip_min, setup.clip_max)
    best_scores = tf.fill([tf.shape(images)[0]], tf.constant(-np.inf, images.dtype))
    trace = ((tf.TensorArray(images.dtype, size=budget.steps + 1), tf.TensorArray(images.dtype, size=budget.steps + 1))
             if record else ())

    def body(t, delta, best_images, best_scores, trace):
        adversarial, _, score, gradient = evaluate(delta)
        if setup.keep_worst:  # x_0 (the clean image or the random start) is no candidate: FGSM returns x_1.
            best_images, best_scores = tf.cond(
                t > 0, lambda: _better_of(adversarial, score, best_images, best_scores),
                lambda: (best_images, best_scores))
        if record:
            trace = (trace[0].write(t, adversarial), trace[1].write(t, score))
        delta = take_step(images, delta, gradient, budget.epsilon, budget.step_size, setup)
        return t + 1, delta, best_images, best_scores, trace

    _, delta, best_images, best_scores, trace = tf.while_loop(
        lambda t, *_: t < budget.steps, body, (tf.constant(0), delta, best_images, best_scores, trace))
    final_images = tf.clip_by_value(images + delta, setup.clip_min, setup.clip_max)
    if record:
        _, _, final_scores, _ = evaluate(delta)
        trace = (trace[0].write(budget.steps, final_images).stack(), trace[1].write(budget.steps, final_scores).stack())
    if not setup.keep_worst:
        return final_images, tf.zeros_like(best_scores), trace
    if not record:
        _, _, final_scores, _ = evaluate(delta)
    return (*_better_of(final_images, final_scores, best_images, best_scores), trace)


def _pgd_once(model, images, labels, targets, budget: Budget, setup: Setup, reference_logits=None, seed=None):
    """One PGD run from one start (``_pgd_loop``). Returns (adversarial images, their scores)."""
    adversarial, scores, _ = _pgd_loop(model, images, labels, targets, budget, setup, reference_logits, seed)
    return adversarial, scores


def _apgd_once(model, images, labels, targets, budget: Budget, setup: Setup, reference_logits=None, seed=None):
    """One APGD run from a random start (see the module docstring). Returns (worst images, their scores).

    One function on purpose: it is the paper's algorithm read top to bottom (step, momentum, checkpoints, halving,
    restart from the best point), and a TensorFlow loop whose state is passed along as one tuple."""
    evaluate = _evaluator(model, images, labels, targets, setup, reference_logits)
    batch = tf.shape(images)[0]
    steps = tf.cast(budget.steps, tf.float32)
    first_check = tf.maximum(tf.cast(APGD_FIRST_CHECKPOINT * steps, tf.int32), 1)
    check_decrease = tf.maximum(tf.cast(APGD_CHECKPOINT_DECREASE * steps, tf.int32), 1)
    min_check = tf.maximum(tf.cast(APGD_MIN_CHECKPOINT * steps, tf.int32), 1)

    def project(candidate_delta):
        return clip_to_range(images, norms.project(candidate_delta, budget.epsilon, setup.norm),
                             setup.clip_min, setup.clip_max)

    delta = _start(images, budget.epsilon, setup, seed)
    adversarial, loss, score, gradient = evaluate(delta)
    state = dict(
        t=tf.constant(0), delta=delta, previous=delta, gradient=gradient, loss=loss,
        step_size=tf.fill([batch], tf.cast(budget.step_size, images.dtype)),
        best_delta=delta, best_gradient=gradient, best_loss=loss,  # the highest loss (where restarts go)
        worst_images=adversarial, worst_scores=score,  # the worst case for the model (returned)
        since_check=tf.constant(0), check_length=first_check, increases=tf.zeros([batch]),
        best_loss_at_check=loss, reduced_at_check=tf.zeros([batch], tf.bool))

    def body(s):
        momentum = tf.where(s["t"] > 0, APGD_MOMENTUM, 1.0)
        step = norms.per_example(s["step_size"], images)
        z = project(s["delta"] + step * direction(s["gradient"], images + s["delta"], setup))
        delta = project(s["delta"] + momentum * (z - s["delta"]) + (1 - momentum) * (s["delta"] - s["previous"]))
        adversarial, loss, score, gradient = evaluate(delta)
        worst_images, worst_scores = _better_of(adversarial, score, s["worst_images"], s["worst_scores"])
        increases = s["increases"] + tf.cast(loss > s["loss"], tf.float32)
        improved = loss > s["best_loss"]
        best_delta = tf.where(norms.per_example(improved, delta), delta, s["best_delta"])
        best_gradient = tf.where(norms.per_example(improved, delta), gradient, s["best_gradient"])
        best_loss = tf.where(improved, loss, s["best_loss"])
        since_check = s["since_check"] + 1
        at_check = tf.equal(since_check, s["check_length"])
        # at a checkpoint: halve the step (and go back to the best point) where the loss rose in at most 75%
        # of the steps since the last one, or where the best loss stalled without a halving last time
        oscillating = increases <= APGD_RHO * tf.cast(s["check_length"], tf.float32)
        stalled = tf.logical_and(tf.logical_not(s["reduced_at_check"]), s["best_loss_at_check"] >= best_loss)
        reduce = tf.logical_and(at_check, tf.logical_or(oscillating, stalled))
        back = norms.per_example(reduce, delta)
        new_state = dict(
            t=s["t"] + 1, previous=s["delta"], loss=loss,
            delta=tf.where(back, best_delta, delta), gradient=tf.where(back, best_gradient, gradient),
            step_size=tf.where(reduce, s["step_size"] / 2, s["step_size"]),
            best_delta=best_delta, best_gradient=best_gradient, best_loss=best_loss,
            worst_images=worst_images, worst_scores=worst_scores,
            since_check=tf.where(at_check, 0, since_check),
            check_length=tf.where(at_check, tf.maximum(s["check_length"] - check_decrease, min_check),
                                  s["check_length"]),
            increases=tf.where(at_check, tf.zeros_like(increases), increases),
            best_loss_at_check=tf.where(at_check, best_loss, s["best_loss_at_check"]),
            reduced_at_check=tf.where(at_check, reduce, s["reduced_at_check"]))
        return (new_state,)

    (final,) = tf.while_loop(lambda s: s["t"] < budget.steps, body, (state,))
    return final["worst_images"], final["worst_scores"]


def _targets(model, images, labels, rank: int | None, target_class: int | None):
    """Per-example target classes: a fixed class, or each image's class ranked ``rank`` by its clean logits."""
    if target_class is not None:
        return tf.fill(tf.shape(labels), tf.constant(target_class, tf.int32))
    if rank is not None:
        return tf.math.top_k(model(images, training=False), k=rank).indices[:, rank - 1]
    return None


def _restarts(model, images, labels, budget: Budget, setup: Setup, restarts: int, target_rank: int | None = None,
              target_class: int | None = None, reference_logits=None, seed=None):
    """``restarts`` runs (PGD or APGD), keeping the worst case per example; restart ``r`` starts from
    ``_restart_seed(seed, r)`` (unseeded without a ``seed``)."""
    run = _apgd_once if setup.adaptive_step else _pgd_once
    labels = tf.cast(labels, tf.int32)
    targets = _targets(model, images, labels, target_rank, target_class)
    best_images, best_scores = run(model, images, labels, targets, budget, setup, reference_logits,
                                   _restart_seed(seed, 0))
    for restart in range(1, restarts):
        candidate, scores = run(model, images, labels, targets, budget, setup, reference_logits,
                                _restart_seed(seed, restart))
        best_images, best_scores = _better_of(candidate, scores, best_images, best_scores)
    return tf.stop_gradient(best_images)


def _trajectory(model, images, labels, budget: Budget, setup: Setup, target_rank: int | None = None,
                target_class: int | None = None, seed=None):
    """The first restart of ``_restarts``'s PGD, recorded: (its result, every iterate, their scores)."""
    labels = tf.cast(labels, tf.int32)
    targets = _targets(model, images, labels, target_rank, target_class)
    adversarial, _, (iterates, scores) = _pgd_loop(model, images, labels, targets, budget, setup,
                                                   seed=_restart_seed(seed, 0), record=True)
    return adversarial, iterates, scores


#: The same loop compiled once per (model, setup, restarts, target); epsilon, step size and step count are
#: tensors, so moving a slider does not retrace. The loops are written with ``tf.while_loop`` and ``tf.cond``
#: already, so AutoGraph has nothing to convert; without it the first trace of a process takes 0.2 s instead
#: of 1.2 s (the app's first page; ``python benchmarks/start_breakdown.py``).
_compiled_restarts = tf.function(_restarts, reduce_retracing=True, autograph=False)
_compiled_trajectory = tf.function(_trajectory, reduce_retracing=True, autograph=False)


#: Radii and step sizes are capped at this in float32 (``_budget``). A larger ball changes nothing (it already holds
#: the whole pixel range [0, 1] of any image of up to 10^15 pixels), while float32 turns 3.5e38 (or twice 1.8e38,
#: APGD's first step) into inf, and inf times a zero direction into NaN images.
MAX_LENGTH = 1e15


def _budget(config: AttackConfig) -> Budget:
    return Budget(tf.constant(min(config.epsilon, MAX_LENGTH), tf.float32),
                  tf.constant(min(config.adv_step_size, MAX_LENGTH), tf.float32),
                  tf.constant(config.pgd_iterations, tf.int32))


def setup_of(config: AttackConfig, keep_worst: bool = True) -> Setup:
    """The switches of ``config`` (``keep_worst=False`` for training neighbours: the last iterate)."""
    return Setup(norm=config.adv_grad_norm, direction=config.direction, loss=config.loss,
                 random_init=config.random_init, adaptive_step=config.adaptive_step,
                 success_is_target=config.target_class is not None, clip_min=config.clip_value_min,
                 clip_max=config.clip_value_max, keep_worst=keep_worst,
                 l1_box_step=(config.is_fgsm and config.adv_grad_norm is Norm.L1
                              and config.direction is Direction.STRONG))


def attack_tensor(model, images: tf.Tensor, labels: tf.Tensor, config: AttackConfig,
                  reference_logits: tf.Tensor | None = None) -> tf.Tensor:
    """Adversarial images for a batch, as a tensor; usable inside a compiled training step.

    Args:
        model: a Keras classifier, images (batch, 28, 28, 1) -> logits (batch, classes).
        images: float32 (batch, ...) in [config.clip_value_min, config.clip_value_max].
        labels: int (batch,) true classes.
        config: the attack (FGSM or PGD).
        reference_logits: if given, the attack ascends KL(softmax(reference_logits) || softmax(f(x_adv)))
            instead of the cross-entropy (TRADES' inner maximisation).

    Returns:
        float32 tensor shaped like ``images``, within ``config.epsilon`` of it in ``config.adv_grad_norm``
        and inside the clip range: the last iterate, as in NSL (``attack`` keeps the worst iterate
        instead). No gradient flows through it.
    """
    return _restarts(model, tf.convert_to_tensor(images), tf.cast(labels, tf.int32), _budget(config),
                     setup_of(config, keep_worst=False), config.restarts, config.target_rank, config.target_class,
                     reference_logits)


def _check_inputs(images: np.ndarray, labels: np.ndarray, config: AttackConfig) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels).reshape(-1).astype(np.int32)
    if images.ndim < 2:
        raise ValueError(f"images must be a batch shaped (batch, ...), got shape {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {labels.shape[0]} labels")
    if images.size and (images.min() < config.clip_value_min - 1e-6 or images.max() > config.clip_value_max + 1e-6):
        raise ValueError(f"pixel values must lie in [{config.clip_value_min}, {config.clip_value_max}], "
                         f"got [{images.min():.3g}, {images.max():.3g}]: scale uint8 images by 1/255")
    return images, labels


def _seed_of(seed: int | None, batch_start: int) -> tf.Tensor | None:
    """The stateless seed of the batch starting at ``batch_start`` of an attack seeded with ``seed``."""
    return None if seed is None else tf.constant([seed, batch_start], tf.int64)


def attack(model, images: np.ndarray, labels: np.ndarray, config: AttackConfig, batch_size: int = 1000,
           seed: int | None = None, on_progress: Callable[[str, int, int], None] | None = None) -> np.ndarray:
    """Adversarial versions of ``images`` against ``model`` (compiled, batched; the main entry point).

    Args:
        model: a Keras classifier that outputs logits, e.g. ``advdemo.models.build_cnn()``.
        images: float32 (n, 28, 28, 1) in [0, 1].
        labels: int (n,) true classes (a targeted config with ``target_class`` only uses them for shape).
        config: the attack, e.g. ``AttackConfig.fgsm(0.2)``, ``AttackConfig.pgd(0.2, steps=40, restarts=3)``
            or ``AttackConfig.apgd(0.3, loss="dlr", target_rank=2)``.
        batch_size: images attacked at once.
        seed: draws the random starts from this seed (the same seed, images and batches give the same
            starts, whatever else ran before); ``None``: from TensorFlow's global random state.
        on_progress: called after each batch as ``on_progress(config.name, images done, images)``.

    Returns:
        float32 array shaped like ``images``: every example within ``config.epsilon`` of the original in
        ``config.adv_grad_norm`` and inside [clip_value_min, clip_value_max]; with ``config.epsilon == 0``, a copy
        of ``images`` (bit for bit: TensorFlow's CPU kernels would flush subnormal pixels to 0).
    """
    images, labels = _check_inputs(images, labels, config)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if config.epsilon == 0:
        return np.clip(images, config.clip_value_min, config.clip_value_max)
    budget, setup = _budget(config), setup_of(config)
    outputs = []
    for start in range(0, len(images), batch_size):
        outputs.append(_compiled_restarts(model, tf.constant(images[start:start + batch_size]),
                                          tf.constant(labels[start:start + batch_size]), budget, setup,
                                          config.restarts, config.target_rank, config.target_class, None,
                                          _seed_of(seed, start)).numpy())
        if on_progress is not None:
            on_progress(config.name, min(start + batch_size, len(images)), len(images))
    if not outputs:
        return images.copy()
    return np.concatenate(outputs, axis=0)


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Every iterate of one PGD run (FGSM: one step), as ``attack`` computes it.

    Attributes:
        iterates: float32 (steps + 1, n, ...): x_0 (the clean image, or the random start) to x_T.
        scores: float32 (steps + 1, n): the score ``attack`` keeps the worst case by (the loss, plus a large
            bonus where the model is fooled).
        kept: int (n,): the step ``attack`` returns for each image: the worst of x_1..x_T (the first one with
            the highest score), often but not always the last; with ``keep_worst`` off it would be the last.
    """

    iterates: np.ndarray
    scores: np.ndarray
    kept: np.ndarray

    @property
    def result(self) -> np.ndarray:
        """The images ``attack`` returns (n, ...): each image's iterate ``kept``."""
        return self.iterates[self.kept, np.arange(self.iterates.shape[1])]


def pgd_trajectory(model, images: np.ndarray, labels: np.ndarray, config: AttackConfig,
                   seed: int | None = None) -> Trajectory:
    """The PGD (or FGSM) run of ``attack(model, images, labels, config, seed=seed)``, step by step: the same
    compiled loop (``_pgd_loop``), recording every iterate. All ``images`` form one batch (as ``attack``'s
    first batch); with ``config.restarts > 1`` this is the first restart only.

    ``result`` equals ``attack``'s output when ``seed`` is given (the same random start) or there is no random
    start. The last iterate is what ``attack_tensor`` (NSL's semantics) returns.

    Raises:
        ValueError: an APGD config (its adaptive steps are no single PGD path), or bad inputs.
    """
    if config.adaptive_step:
        raise ValueError("APGD's steps adapt per image and restart from the best point: it has no PGD trajectory")
    images, labels = _check_inputs(images, labels, config)
    result, iterates, scores = _compiled_trajectory(model, tf.constant(images), tf.constant(labels), _budget(config),
                                                    setup_of(config), config.target_rank, config.target_class,
                                                    _seed_of(seed, 0))
    iterates, result = iterates.numpy(), result.numpy()
    # the loop's result is a copy of one iterate: the first of x_1..x_T equal to it (x_0 only if none is)
    same = np.stack([np.all((step == result).reshape(len(result), -1), axis=1) for step in iterates])
    kept = np.where(same[1:].any(axis=0), 1 + np.argmax(same[1:], axis=0), 0)
    return Trajectory(iterates, scores.numpy(), kept)


def fgsm(model, images: np.ndarray, labels: np.ndarray, epsilon: float, norm: Norm | str = Norm.LINF) -> np.ndarray:
    """The fast gradient (sign) method: one step of length ``epsilon`` along the strong direction."""
    return attack(model, images, labels, AttackConfig.fgsm(epsilon, norm))


def pgd(model, images: np.ndarray, labels: np.ndarray, epsilon: float, norm: Norm | str = Norm.LINF,
        steps: int = 40, step_size: float | None = None, restarts: int = 1) -> np.ndarray:
    """Projected gradient descent from a random start, ``steps`` steps of ``step_size`` (default eps/10)."""
    return attack(model, images, labels, AttackConfig.pgd(epsilon, norm, steps, step_size, restarts))
