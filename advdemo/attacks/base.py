"""The one way to run an attack: ``run(attack, model, images, labels, *, seed, on_progress)``.

An attack is described by a frozen config (``advdemo.configs.Attack``): an ``AttackConfig`` (FGSM, PGD or APGD in
one norm) or a ``StrongestConfig`` (the ensemble and its budget). The app, the cards and the evaluation all pass
such a description here; nothing else dispatches on the kind of attack.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from advdemo.attacks.gradient import attack as gradient_attack
from advdemo.attacks.strongest import Progress, strongest_attack
from advdemo.configs import Attack, AttackConfig, StrongestConfig

__all__ = ["Progress", "run"]


def run(attack: Attack, model, images: np.ndarray, labels: np.ndarray, *, seed: int | None = 0,
        batch_size: int = 1000, on_progress: Progress | None = None) -> np.ndarray:
    """Adversarial versions of ``images`` (float32 (n, 28, 28, 1) in [0, 1]) against ``model`` (images -> logits).

    Args:
        attack: the description of the attack, e.g. ``AttackConfig.pgd(0.3)`` or ``EVALUATION_BUDGET``.
        labels: int (n,) true classes.
        seed: the random starts' and the random search's seed: the same seed, images and batches give the same
            result. ``None`` draws a gradient attack's starts from TensorFlow's global state (the strongest attack,
            always reproducible, then uses its config's own seed).
        batch_size: images attacked at once.
        on_progress: called after each batch of each stage.

    Returns:
        float32 array shaped like ``images``: every image within the attack's eps in its norm, inside [0, 1].
    """
    if isinstance(attack, StrongestConfig):
        config = attack if seed is None else dataclasses.replace(attack, seed=seed)
        return strongest_attack(model, images, labels, config, batch_size=batch_size, on_progress=on_progress)
    if isinstance(attack, AttackConfig):
        return gradient_attack(model, images, labels, attack, batch_size=batch_size, seed=seed,
                               on_progress=on_progress)
    raise TypeError(f"not an attack description: {attack!r} (use AttackConfig or StrongestConfig)")
