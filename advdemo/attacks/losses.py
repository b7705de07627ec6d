"""Every loss of the project, in one place: per-example attack objectives and the training objectives.

Per-example losses map integer ``labels`` (batch,) and ``logits`` (batch, classes) to a tensor (batch,):

* ``cross_entropy``:  CE(y, z) = -log softmax(z)_y;
* ``kl_divergence``:  KL(softmax(z_ref) || softmax(z)), TRADES' inner objective;
* ``margin``:         z_y - max_{i != y} z_i, negative exactly when the prediction is wrong (Square Attack
  minimises it; Carlini and Wagner 2017);
* ``dlr``:            -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12), the Difference of Logits Ratio of
  Croce and Hein 2020 (pi sorts the logits in decreasing order): like the margin, but invariant to shifting
  and rescaling the logits, so it does not vanish where the softmax saturates;
* ``targeted_dlr``:   -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12), its targeted version (APGD-T).

Attacks ascend them. The training objectives combine batch means with the ``multiplier`` in one visible place:

* ``nsl_objective``:    CE(x) + multiplier * CE(x_adv) (NSL's adversarial regularization);
* ``trades_objective``: CE(x) + multiplier * KL(p(x) || p(x_adv)) (Zhang et al. 2019, multiplier = beta).
"""

from __future__ import annotations

import tensorflow as tf

#: Keeps the DLR denominators away from zero (Croce and Hein 2020 use the same constant).
DLR_EPSILON = 1e-12


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example cross-entropy (batch,) of integer ``labels`` under ``logits`` (computed in float32)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                          logits=tf.cast(logits, tf.float32))


def mean_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """The batch mean of ``cross_entropy``: the training loss of normal training."""
    return tf.reduce_mean(cross_entropy(labels, logits))


def kl_divergence(reference_logits: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example KL(softmax(reference_logits) || softmax(logits)), shape (batch,)."""
    reference_log_p = tf.nn.log_softmax(tf.cast(reference_logits, tf.float32))
    log_p = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    return tf.reduce_sum(tf.exp(reference_log_p) * (reference_log_p - log_p), axis=-1)


def _label_logit_and_best_other(labels: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(z_y, max_{i != y} z_i), each (batch,)."""
    logits = tf.cast(logits, tf.float32)
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(logits)[-1], dtype=logits.dtype)
    label_logit = tf.reduce_sum(one_hot * logits, axis=-1)
    best_other = tf.reduce_max(logits - one_hot * 1e9, axis=-1)
    return label_logit, best_other


def margin(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """z_y - max_{i != y} z_i per example: positive while the model is right, negative once it is fooled."""
    label_logit, best_other = _label_logit_and_best_other(labels, logits)
    return label_logit - best_other


def dlr(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Untargeted DLR loss per example: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)."""
    top = tf.math.top_k(tf.cast(logits, tf.float32), k=3).values
    return -margin(labels, logits) / (top[:, 0] - top[:, 2] + DLR_EPSILON)


def targeted_dlr(labels: tf.Tensor, targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Targeted DLR loss per example: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12).

    Ascending it pushes the target logit ``z_t`` above the label's ``z_y``.
    """
    logits = tf.cast(logits, tf.float32)
    label_logit = tf.gather(logits, tf.cast(labels, tf.int32), batch_dims=1)
    target_logit = tf.gather(logits, tf.cast(targets, tf.int32), batch_dims=1)
    top = tf.math.top_k(logits, k=4).values
    return -(label_logit - target_logit) / (top[:, 0] - (top[:, 2] + top[:, 3]) / 2 + DLR_EPSILON)


def nsl_objective(clean_loss: tf.Tensor, adversarial_loss: tf.Tensor, multiplier: float) -> tf.Tensor:
    """NSL's adversarial regularization: CE(x) + multiplier * CE(x_adv) (both batch means)."""
    return clean_loss + multiplier * adversarial_loss


def trades_objective(clean_loss: tf.Tensor, divergence: tf.Tensor, multiplier: float) -> tf.Tensor:
    """TRADES: CE(x) + multiplier * KL(p(x) || p(x_adv)) (both batch means; multiplier is TRADES' beta)."""
    return clean_loss + multiplier * divergence
