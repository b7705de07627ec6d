"""FGSM and PGD in every norm: one attack loop; each norm only contributes its math (``advdemo.norms``).

FGSM is PGD with one step of length epsilon and no random start, so there is a single loop:

    delta_0 = 0, or uniform in the epsilon ball (random start)
    delta_{t+1} = project_eps(delta_t + step_size * d(grad_x loss(x + delta_t))),
    then clipped so that x + delta stays in [clip_value_min, clip_value_max].

The attack keeps, per example, the worst case over the iterates x_1..x_T and over restarts: an example
that any iterate or restart misclassifies stays misclassified, so more restarts can never raise accuracy.

The loss is the cross-entropy of the logits (untargeted: ascend it for the true label; targeted: descend
it for the target class). Works on any Keras classifier that maps images to logits.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from advdemo import norms
from advdemo.config import AttackConfig, Norm

#: Added to the score of an iterate that already fools the model, so that it is always preferred.
_SUCCESS_BONUS = 1e6


def _cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example cross-entropy (batch,) of integer ``labels`` under ``logits`` (batch, classes)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def kl_divergence(reference_logits: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example KL(softmax(reference) || softmax(logits)), shape (batch,)."""
    reference_log_p = tf.nn.log_softmax(reference_logits)
    return tf.reduce_sum(tf.exp(reference_log_p) * (reference_log_p - tf.nn.log_softmax(logits)), axis=-1)


def _objective_and_score(logits, labels, targeted: bool, reference_logits):
    """The loss to ascend and the score to keep the worst case by, both (batch,)."""
    if reference_logits is not None:  # TRADES: push the prediction away from the clean one.
        loss = kl_divergence(reference_logits, logits)
        return loss, loss
    predicted = tf.argmax(logits, axis=-1, output_type=labels.dtype)
    cross_entropy = _cross_entropy(labels, logits)
    if targeted:
        success = tf.cast(tf.equal(predicted, labels), logits.dtype)
        return -cross_entropy, success * _SUCCESS_BONUS - cross_entropy
    success = tf.cast(tf.not_equal(predicted, labels), logits.dtype)
    return cross_entropy, success * _SUCCESS_BONUS + cross_entropy


def clip_to_range(images: tf.Tensor, delta: tf.Tensor, clip_min: float, clip_max: float) -> tf.Tensor:
    """The part of ``delta`` that keeps ``images + delta`` inside [clip_min, clip_max]."""
    return tf.clip_by_value(images + delta, clip_min, clip_max) - images


def take_step(images: tf.Tensor, delta: tf.Tensor, gradient: tf.Tensor, epsilon, step_size, norm: Norm,
              clip_min: float, clip_max: float) -> tf.Tensor:
    """One attack step: ``delta + step_size * d(gradient)``, projected onto the ``epsilon`` ball of ``norm``
    and clipped to the pixel range. All tensors (batch, ...); returns the new ``delta``.

    From ``delta = 0`` with ``step_size == epsilon`` this is FGSM (NSL's adversarial neighbour).
    """
    step = step_size * norms.steepest_ascent_direction(gradient, norm)
    return clip_to_range(images, norms.project(delta + step, epsilon, norm), clip_min, clip_max)


def _run_once(model, images, labels, epsilon, step_size, steps, norm: Norm, random_init: bool, targeted: bool,
              clip_min: float, clip_max: float, reference_logits=None, keep_worst: bool = True):
    """One PGD run from one start. Returns (adversarial images, their scores).

    With ``keep_worst`` the images are the worst case over the iterates x_1..x_T; without it (training,
    exactly NSL's semantics) they are the last iterate x_T, and the scores are not computed (zeros).
    """

    def evaluate(delta):
        adversarial = tf.clip_by_value(images + delta, clip_min, clip_max)  # exact range despite rounding
        with tf.GradientTape() as tape:
            tape.watch(adversarial)
            logits = model(adversarial, training=False)
            loss, score = _objective_and_score(logits, labels, targeted, reference_logits)
            total = tf.reduce_sum(loss)  # per-example directions do not depend on the batch size
        return adversarial, score, tape.gradient(total, adversarial)

    if random_init:
        delta = clip_to_range(images, norms.random_in_ball(tf.shape(images), epsilon, norm, images.dtype),
                              clip_min, clip_max)
    else:
        delta = tf.zeros_like(images)
    best_images = tf.clip_by_value(images + delta, clip_min, clip_max)
    best_scores = tf.fill([tf.shape(images)[0]], tf.constant(-np.inf, images.dtype))

    def better_of(candidate, score, best_images, best_scores):
        better = score > best_scores
        return (tf.where(norms.per_example(better, candidate), candidate, best_images),
                tf.where(better, score, best_scores))

    def body(t, delta, best_images, best_scores):
        adversarial, score, gradient = evaluate(delta)
        if keep_worst:  # x_0 (the clean image or the random start) is no candidate: FGSM returns x_1.
            best_images, best_scores = tf.cond(
                t > 0, lambda: better_of(adversarial, score, best_images, best_scores),
                lambda: (best_images, best_scores))
        delta = take_step(images, delta, gradient, epsilon, step_size, norm, clip_min, clip_max)
        return t + 1, delta, best_images, best_scores

    _, delta, best_images, best_scores = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), delta, best_images, best_scores))
    final_images = tf.clip_by_value(images + delta, clip_min, clip_max)
    if not keep_worst:
        return final_images, tf.zeros_like(best_scores)
    final_logits = model(final_images, training=False)
    _, final_scores = _objective_and_score(final_logits, labels, targeted, reference_logits)
    return better_of(final_images, final_scores, best_images, best_scores)


def _restarts(model, images, labels, epsilon, step_size, steps, norm: Norm, random_init: bool, targeted: bool,
              restarts: int, clip_min: float, clip_max: float, reference_logits=None, keep_worst: bool = True):
    """``restarts`` runs of ``_run_once``, keeping the worst case per example."""
    arguments = (model, images, labels, epsilon, step_size, steps, norm, random_init, targeted, clip_min, clip_max,
                 reference_logits, keep_worst)
    best_images, best_scores = _run_once(*arguments)
    for _ in range(restarts - 1):
        candidate, scores = _run_once(*arguments)
        better = scores > best_scores
        best_images = tf.where(norms.per_example(better, candidate), candidate, best_images)
        best_scores = tf.where(better, scores, best_scores)
    return tf.stop_gradient(best_images)


#: The same loop compiled once per (model, norm, random start, targeted, restarts); epsilon, step size and
#: step count are tensors, so moving a slider does not retrace.
_compiled_restarts = tf.function(_restarts, reduce_retracing=True)


def _arguments(images, labels, config: AttackConfig):
    """Positional arguments of ``_restarts`` for ``config``."""
    labels = tf.cast(labels, tf.int32)
    targeted = config.target_class is not None
    if targeted:
        labels = tf.fill(tf.shape(labels), tf.constant(config.target_class, tf.int32))
    return (tf.convert_to_tensor(images, tf.float32), labels, tf.constant(config.epsilon, tf.float32),
            tf.constant(config.adv_step_size, tf.float32), tf.constant(config.pgd_iterations, tf.int32),
            config.adv_grad_norm, config.random_init, targeted, config.restarts,
            config.clip_value_min, config.clip_value_max)


def attack_tensor(model, images: tf.Tensor, labels: tf.Tensor, config: AttackConfig,
                  reference_logits: tf.Tensor | None = None) -> tf.Tensor:
    """Adversarial images for a batch, as a tensor; usable inside a compiled training step.

    Args:
        model: a Keras classifier, images (batch, 28, 28, 1) -> logits (batch, classes).
        images: float32 (batch, ...) in [config.clip_value_min, config.clip_value_max].
        labels: int (batch,) true classes (ignored for a targeted attack, which uses config.target_class).
        config: the attack.
        reference_logits: if given, the attack ascends KL(softmax(reference_logits) || softmax(f(x_adv)))
            instead of the cross-entropy (TRADES' inner maximisation).

    Returns:
        float32 tensor shaped like ``images``, within ``config.epsilon`` of it in ``config.adv_grad_norm``
        and inside the clip range: the last iterate, as in NSL (``attack`` keeps the worst iterate
        instead). No gradient flows through it.
    """
    return _restarts(model, *_arguments(images, labels, config), reference_logits, keep_worst=False)


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


def attack(model, images: np.ndarray, labels: np.ndarray, config: AttackConfig, batch_size: int = 1000) -> np.ndarray:
    """Adversarial versions of ``images`` against ``model`` (compiled, batched; the main entry point).

    Args:
        model: a Keras classifier that outputs logits, e.g. ``advdemo.models.build_cnn()``.
        images: float32 (n, 28, 28, 1) in [0, 1].
        labels: int (n,) true classes; for a targeted config they are only used for shape.
        config: the attack, e.g. ``AttackConfig.fgsm(0.2)`` or ``AttackConfig.pgd(0.2, steps=40, restarts=3)``.
        batch_size: images attacked at once.

    Returns:
        float32 array shaped like ``images``: every example within ``config.epsilon`` of the original in
        ``config.adv_grad_norm`` and inside [clip_value_min, clip_value_max].
    """
    images, labels = _check_inputs(images, labels, config)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    outputs = [
        _compiled_restarts(model, *_arguments(images[start:start + batch_size], labels[start:start + batch_size],
                                              config)).numpy()
        for start in range(0, len(images), batch_size)
    ]
    if not outputs:
        return images.copy()
    return np.concatenate(outputs, axis=0)


def fgsm(model, images: np.ndarray, labels: np.ndarray, epsilon: float, norm: Norm | str = Norm.LINF) -> np.ndarray:
    """The fast gradient (sign) method: one step of length ``epsilon``; NSL's adversarial neighbour."""
    return attack(model, images, labels, AttackConfig.fgsm(epsilon, norm))


def pgd(model, images: np.ndarray, labels: np.ndarray, epsilon: float, norm: Norm | str = Norm.LINF,
        steps: int = 40, step_size: float | None = None, restarts: int = 1) -> np.ndarray:
    """Projected gradient descent from a random start, ``steps`` steps of ``step_size`` (default eps/10)."""
    return attack(model, images, labels, AttackConfig.pgd(epsilon, norm, steps, step_size, restarts))
