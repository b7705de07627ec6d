"""Training settings: the adversarial regularizer and the optimisation, in NSL's vocabulary (``multiplier``,
``adv_step_size``...)."""

from __future__ import annotations

import dataclasses
import enum
import math

from advdemo.configs.attack import AttackConfig, Direction, Norm, check


class RegularizerLoss(enum.StrEnum):
    """The adversarial term of the training loss."""

    #: NSL's adversarial regularization: CE(y, f(x)) + multiplier * CE(y, f(x_adv)).
    NSL = "nsl"
    #: TRADES (Zhang et al. 2019): CE(y, f(x)) + multiplier * KL(p(x) || p(x_adv)), x_adv maximising the KL.
    TRADES = "trades"
    #: Interval bound propagation (Gowal et al. 2018): CE(y, f(x)) + multiplier * CE(y, -m(x)), m(x) the lower
    #: bounds on the margins z_y - z_j over the whole L-inf ball (``advdemo.certificates.ibp``): no neighbour is
    #: built, the worst case over the ball is bounded instead.
    IBP = "ibp"


@dataclasses.dataclass(frozen=True)
class AdvRegConfig:
    """Adversarial regularization: which neighbours to build and how much their loss weighs.

    Attributes:
        multiplier: weight of the adversarial term (NSL's ``multiplier``; TRADES calls it beta; IBP's kappa is
            ``1 / (1 + multiplier)``).
        attack: how the adversarial neighbours are built each training step; for IBP only its ball counts (an
            L-inf ``epsilon``).
        loss: ``RegularizerLoss.NSL`` (the tutorial), ``RegularizerLoss.TRADES`` or ``RegularizerLoss.IBP``.
        ramp_steps: training steps over which eps and the multiplier grow linearly from 0 to their values (IBP
            needs it: the bounds of an untrained network are too loose to learn from); 0: from the start.
    """

    multiplier: float = 0.2
    attack: AttackConfig = dataclasses.field(
        default_factory=lambda: AttackConfig.fgsm(0.2, Norm.LINF, direction=Direction.NSL))
    loss: RegularizerLoss = RegularizerLoss.NSL
    ramp_steps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss", RegularizerLoss(self.loss))
        check(isinstance(self.ramp_steps, int) and self.ramp_steps >= 0,
              f"ramp_steps must be an integer >= 0, got {self.ramp_steps!r}")
        check(self.loss is not RegularizerLoss.IBP or self.attack.adv_grad_norm is Norm.LINF,
              "interval bounds are for the L-inf ball")
        # At x_adv = x the KL term and its gradient are exactly zero, so an ascent from the clean image never
        # moves: TRADES starts from x + 0.001 * N(0, 1) in its paper; we start uniformly in the ball.
        check(self.loss is not RegularizerLoss.TRADES or self.attack.random_init,
               "TRADES needs a random start (random_init=True): KL(p(x) || p(x_adv)) has zero gradient at "
               "x_adv = x, so an ascent from the clean image never moves")
        check(not self.attack.targeted, "adversarial regularization uses untargeted neighbours")
        check(not self.attack.adaptive_step, "adversarial regularization builds neighbours with FGSM or PGD")
        check(math.isfinite(self.multiplier) and self.multiplier >= 0,
               f"multiplier must be a finite number >= 0, got {self.multiplier!r}")
        check(self.attack.restarts == 1, "adversarial regularization builds one neighbour per example (restarts=1)")


#: Compute precisions training can use; the weights, and the trained model, are float32 in both.
PRECISIONS = ("float32", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. The defaults are the NSL tutorial's: adam, batch 32, 5 epochs.

    Attributes:
        epochs: passes over the training set.
        batch_size: examples per step.
        learning_rate: Adam's (initial) learning rate.
        lr_schedule: ``constant`` or ``cosine`` (decays to 1% of ``learning_rate`` over all steps).
        seed: seeds Keras, NumPy and TensorFlow, and the data shuffling.
        validation_size: examples held out of the training set to report validation accuracy (0: none).
        precision: ``float32``, or ``mixed_bfloat16`` to compute in bfloat16 with float32 weights (about twice
            as fast on CPUs with AMX/AVX512-BF16, much slower on CPUs without); the trained model is float32.
    """

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    seed: int = 0
    validation_size: int = 0
    precision: str = "float32"

    def __post_init__(self) -> None:
        check(isinstance(self.epochs, int) and self.epochs >= 1,
               f"epochs must be an integer >= 1, got {self.epochs!r}")
        check(isinstance(self.batch_size, int) and self.batch_size >= 1,
               f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        check(math.isfinite(self.learning_rate) and self.learning_rate > 0,
               f"learning_rate must be a positive number, got {self.learning_rate!r}")
        check(self.lr_schedule in ("constant", "cosine"),
               f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        check(isinstance(self.validation_size, int) and self.validation_size >= 0,
               f"validation_size must be an integer >= 0, got {self.validation_size!r}")
        check(self.precision in PRECISIONS,
               f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
