"""The three bundled models' training recipes (each a TrainConfig and an optional AdvRegConfig).

Training neighbours follow NSL's semantics (``Direction.NSL``); in L-inf, the norm of every recipe, NSL's
direction and the strong one are the same ``sign(g)``.
"""

from __future__ import annotations

import dataclasses

from advdemo.configs import AdvRegConfig, AttackConfig, Direction, Norm, RegularizerLoss, TrainConfig


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named way to train the CNN. ``adv_config`` is ``None`` for normal training."""

    name: str
    description: str
    train_config: TrainConfig
    adv_config: AdvRegConfig | None


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe("base", "Normal training (no adversarial term): adam with cosine decay, batch 64, 10 epochs.",
               TrainConfig(epochs=10, batch_size=64, learning_rate=1e-3, lr_schedule="cosine"), None),
        Recipe("tutorial", "The NSL tutorial exactly: CE(x) + 0.2 * CE(x_adv), x_adv one FGSM step of 0.2 in "
               "L-inf (adv_step_size 0.2), adam, batch 32, 5 epochs.",
               TrainConfig(epochs=5, batch_size=32, learning_rate=1e-3),
               AdvRegConfig(multiplier=0.2, attack=AttackConfig.fgsm(0.2, Norm.LINF, direction=Direction.NSL),
                            loss=RegularizerLoss.NSL)),
        Recipe("robust", "TRADES: CE(x) + 3 * KL(p(x) || p(x_adv)), x_adv from PGD-10 (step 0.0625, random start) "
               "in the L-inf ball of 0.25 (a margin over the 0.2 it is evaluated at); adam with cosine decay, "
               "batch 128, 15 epochs; the last 2,000 training images held out for validation.",
               TrainConfig(epochs=15, batch_size=128, learning_rate=1e-3, lr_schedule="cosine", validation_size=2000),
               AdvRegConfig(multiplier=3.0, attack=AttackConfig.pgd(0.25, Norm.LINF, steps=10, step_size=0.0625,
                                                                direction=Direction.NSL),
                            loss=RegularizerLoss.TRADES)),
        Recipe("certified", "Interval bound propagation (Gowal et al. 2018): CE(x) + 1 * CE(worst-case logits over "
               "the L-inf ball of 0.3), eps and the multiplier ramped up from 0 over the first 6 epochs' steps; "
               "adam with cosine decay, batch 100, 12 epochs.",
               TrainConfig(epochs=12, batch_size=100, learning_rate=1e-3, lr_schedule="cosine"),
               AdvRegConfig(multiplier=1.0, attack=AttackConfig.fgsm(0.3, Norm.LINF), loss=RegularizerLoss.IBP,
                            ramp_steps=3600)),
    )
}
