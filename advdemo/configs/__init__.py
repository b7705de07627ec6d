"""Settings: small frozen, validated dataclasses, no TensorFlow. The lowest layer: it imports nothing of advdemo.

``attack``: the norm, the attacks (``AttackConfig`` for FGSM, PGD and APGD, ``StrongestConfig`` for the ensemble)
and their budgets; ``training``: the adversarial regularizer and the optimiser; ``recipes``: the named recipes
that trained the bundled models.
"""

from advdemo.configs.attack import (
    APP_BUDGET,
    EPSILON_DEFAULTS,
    EVALUATION_BUDGET,
    MAX_TARGETS,
    QUICK_BUDGET,
    Attack,
    AttackConfig,
    AttackLoss,
    Direction,
    Norm,
    StrongestConfig,
)
from advdemo.configs.training import PRECISIONS, AdvRegConfig, RegularizerLoss, TrainConfig

__all__ = ["APP_BUDGET", "EPSILON_DEFAULTS", "EVALUATION_BUDGET", "MAX_TARGETS", "QUICK_BUDGET", "PRECISIONS",
           "AdvRegConfig", "Attack", "AttackConfig", "AttackLoss", "Direction", "Norm", "RegularizerLoss",
           "StrongestConfig", "TrainConfig"]
