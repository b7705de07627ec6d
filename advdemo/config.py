"""Small typed configurations, in the vocabulary of TensorFlow Neural Structured Learning.

NSL names its knobs ``multiplier``, ``adv_step_size``, ``adv_grad_norm``, ``pgd_iterations``,
``pgd_epsilon``, ``random_init`` and ``clip_value_min``/``clip_value_max``; we keep those names so that a
reader of the NSL tutorial recognises every setting here.
"""

from __future__ import annotations

import dataclasses
import enum
import math


class Norm(enum.StrEnum):
    """The norm whose unit ball bounds a perturbation."""

    LINF = "linf"
    L2 = "l2"
    L1 = "l1"

    @classmethod
    def parse(cls, value: str | Norm) -> Norm:
        """Accepts ``linf``/``inf``/``infinity``, ``l2`` and ``l1`` (any case)."""
        if isinstance(value, Norm):
            return value
        aliases = {"linf": cls.LINF, "inf": cls.LINF, "infinity": cls.LINF, "l-inf": cls.LINF,
                   "l2": cls.L2, "l1": cls.L1}
        try:
            return aliases[str(value).strip().lower()]
        except KeyError:
            raise ValueError(f"unknown norm {value!r}: use one of 'linf', 'l2', 'l1'") from None

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``L-inf``."""
        return {"linf": "L-inf", "l2": "L2", "l1": "L1"}[self.value]


class Direction(enum.StrEnum):
    """How a gradient becomes a step (``advdemo.norms``); the two differ only in L2 and L1.

    ``NSL`` is NSL 1.4.0's adversarial neighbour, kept for training (the tutorial's semantics): L2 divides by
    ``max(||g||_2, 1e-6)``, L1 puts the whole step on the largest ``|g|``. ``STRONG`` is for attacks that are
    shown and evaluated: L2 divides by ``||g||_2`` exactly (no floor that shrinks steps where a confident
    model's gradient is tiny), L1 is sparse L1 descent over the pixels that can still move (Tramer and
    Boneh 2019), which does not stall on saturated pixels.
    """

    NSL = "nsl"
    STRONG = "strong"


class AttackLoss(enum.StrEnum):
    """The per-example loss an attack ascends (``advdemo.losses``)."""

    #: Cross-entropy of the logits (FGSM, PGD, APGD-CE).
    CE = "ce"
    #: Difference of Logits Ratio (Croce and Hein 2020); targeted DLR when the attack has a target.
    DLR = "dlr"


#: Sensible ball radii for 28x28 images in [0, 1]: (default, maximum) for each norm.
#: L-inf 0.2 is the NSL tutorial's step size; L2 2.0 and L1 10 are common MNIST radii.
EPSILON_DEFAULTS: dict[Norm, tuple[float, float]] = {
    Norm.LINF: (0.2, 1.0),
    Norm.L2: (2.0, 10.0),
    Norm.L1: (10.0, 50.0),
}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class AttackConfig:
    """How to build an adversarial example: FGSM (one step), PGD (several) or APGD, in one norm.

    Attributes:
        adv_grad_norm: the norm of the ball (``Norm.LINF``, ``Norm.L2`` or ``Norm.L1``).
        adv_step_size: length of each step, measured in ``adv_grad_norm``.
        pgd_iterations: number of steps; 1 is FGSM.
        pgd_epsilon: radius of the ball the perturbation is projected back onto; ``None`` means
            ``adv_step_size`` (so FGSM's perturbation has exactly the step's length, as in NSL).
        random_init: start from a uniformly random point of the ball instead of the clean image.
        restarts: independent runs from random starts; the worst case per example is kept.
        target_class: ``None`` for an untargeted attack, else the class (0-9) to push every image to.
        clip_value_min, clip_value_max: the valid pixel range the adversarial image is clipped to.
        direction: ``Direction.STRONG`` (attacks shown and evaluated) or ``Direction.NSL`` (training
            neighbours, NSL's exact semantics).
        loss: the loss ascended, ``AttackLoss.CE`` or ``AttackLoss.DLR``.
        adaptive_step: APGD (Croce and Hein 2020): the step size starts at ``2 * epsilon`` (``epsilon`` in
            L1) and halves where progress stalls, with momentum 0.75; ``adv_step_size`` is then unused.
        target_rank: per-example target: the class ranked ``target_rank`` by the clean logits (2 = the
            runner-up), as APGD-T does; ``None`` for none. Exclusive with ``target_class``.
    """

    adv_grad_norm: Norm = Norm.LINF
    adv_step_size: float = 0.2
    pgd_iterations: int = 1
    pgd_epsilon: float | None = None
    random_init: bool = False
    restarts: int = 1
    target_class: int | None = None
    clip_value_min: float = 0.0
    clip_value_max: float = 1.0
    direction: Direction = Direction.STRONG
    loss: AttackLoss = AttackLoss.CE
    adaptive_step: bool = False
    target_rank: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "adv_grad_norm", Norm.parse(self.adv_grad_norm))
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "loss", AttackLoss(self.loss))
        _check(math.isfinite(self.adv_step_size) and self.adv_step_size >= 0,
               f"adv_step_size must be a finite number >= 0, got {self.adv_step_size!r}")
        _check(isinstance(self.pgd_iterations, int) and self.pgd_iterations >= 1,
               f"pgd_iterations must be an integer >= 1 (1 is FGSM), got {self.pgd_iterations!r}")
        _check(self.pgd_epsilon is None or (math.isfinite(self.pgd_epsilon) and self.pgd_epsilon >= 0),
               f"pgd_epsilon must be None or a finite number >= 0, got {self.pgd_epsilon!r}")
        _check(isinstance(self.restarts, int) and self.restarts >= 1,
               f"restarts must be an integer >= 1, got {self.restarts!r}")
        _check(self.restarts == 1 or self.random_init,
               "restarts > 1 needs random_init=True: without a random start every restart is identical")
        _check(self.target_class is None or (isinstance(self.target_class, int) and 0 <= self.target_class <= 9),
               f"target_class must be None or an integer class 0-9, got {self.target_class!r}")
        _check(self.target_rank is None or (isinstance(self.target_rank, int) and 2 <= self.target_rank <= 10),
               f"target_rank must be None or an integer 2-10 (2 = the runner-up class), got {self.target_rank!r}")
        _check(self.target_rank is None or self.target_class is None,
               "give target_class or target_rank, not both")
        _check(not (self.adaptive_step and self.direction is Direction.NSL),
               "APGD (adaptive_step) is an evaluation attack: use Direction.STRONG")
        _check(self.clip_value_min < self.clip_value_max,
               f"clip_value_min ({self.clip_value_min}) must be below clip_value_max ({self.clip_value_max})")

    @property
    def epsilon(self) -> float:
        """Radius of the ball that bounds the final perturbation."""
        return self.adv_step_size if self.pgd_epsilon is None else self.pgd_epsilon

    @property
    def is_fgsm(self) -> bool:
        return self.pgd_iterations == 1 and not self.random_init and not self.adaptive_step

    @property
    def targeted(self) -> bool:
        return self.target_class is not None or self.target_rank is not None

    @classmethod
    def fgsm(cls, epsilon: float, norm: Norm | str = Norm.LINF, target_class: int | None = None,
             direction: Direction = Direction.STRONG) -> AttackConfig:
        """One step of length ``epsilon`` along the steepest-ascent direction (with ``Direction.NSL``:
        exactly NSL's adversarial neighbour)."""
        return cls(adv_grad_norm=Norm.parse(norm), adv_step_size=epsilon, pgd_iterations=1,
                   target_class=target_class, direction=direction)

    @classmethod
    def pgd(cls, epsilon: float, norm: Norm | str = Norm.LINF, steps: int = 40, step_size: float | None = None,
            restarts: int = 1, random_init: bool = True, target_class: int | None = None,
            direction: Direction = Direction.STRONG) -> AttackConfig:
        """``steps`` projected steps of ``step_size`` (default ``epsilon / 10``) inside the ``epsilon`` ball."""
        return cls(adv_grad_norm=Norm.parse(norm),
                   adv_step_size=epsilon / 10 if step_size is None else step_size,
                   pgd_iterations=steps, pgd_epsilon=epsilon, random_init=random_init,
                   restarts=restarts, target_class=target_class, direction=direction)

    @classmethod
    def apgd(cls, epsilon: float, norm: Norm | str = Norm.LINF, steps: int = 100,
             loss: AttackLoss | str = AttackLoss.CE, target_rank: int | None = None,
             target_class: int | None = None, restarts: int = 1) -> AttackConfig:
        """APGD (Croce and Hein 2020) from a random start: ``steps`` steps whose size adapts; APGD-CE with
        ``loss="ce"``, APGD-T with ``loss="dlr"`` and a ``target_rank``."""
        norm = Norm.parse(norm)
        return cls(adv_grad_norm=norm, adv_step_size=(1 if norm is Norm.L1 else 2) * epsilon, pgd_iterations=steps,
                   pgd_epsilon=epsilon, random_init=True, restarts=restarts, target_class=target_class,
                   loss=AttackLoss(loss), adaptive_step=True, target_rank=target_rank)

    @property
    def name(self) -> str:
        """``FGSM``, ``PGD-40``, ``APGD-CE-100`` or ``APGD-T-100`` (targeted DLR)."""
        if self.is_fgsm:
            return "FGSM"
        if not self.adaptive_step:
            return f"PGD-{self.pgd_iterations}" + ("" if self.loss is AttackLoss.CE else "-DLR")
        kind = "T" if self.targeted and self.loss is AttackLoss.DLR else self.loss.value.upper()
        return f"APGD-{kind}-{self.pgd_iterations}"

    def describe(self) -> str:
        """Short human-readable name, e.g. ``PGD-40 L-inf eps=0.2 (x3 restarts)``."""
        text = f"{self.name} {self.adv_grad_norm.label} eps={self.epsilon:g}"
        if self.restarts > 1:
            text += f" (x{self.restarts} restarts)"
        if self.target_class is not None:
            text += f" targeted at {self.target_class}"
        if self.target_rank is not None:
            text += f" targeted at each image's class ranked {self.target_rank}"
        return text


class RegularizerLoss(enum.StrEnum):
    """The adversarial term of the training loss."""

    #: NSL's adversarial regularization: CE(y, f(x)) + multiplier * CE(y, f(x_adv)).
    NSL = "nsl"
    #: TRADES (Zhang et al. 2019): CE(y, f(x)) + multiplier * KL(p(x) || p(x_adv)), x_adv maximising the KL.
    TRADES = "trades"


@dataclasses.dataclass(frozen=True)
class AdvRegConfig:
    """Adversarial regularization: which neighbours to build and how much their loss weighs.

    Attributes:
        multiplier: weight of the adversarial term (NSL's ``multiplier``; TRADES calls it beta).
        attack: how the adversarial neighbours are built each training step.
        loss: ``RegularizerLoss.NSL`` (the tutorial) or ``RegularizerLoss.TRADES``.
    """

    multiplier: float = 0.2
    attack: AttackConfig = dataclasses.field(
        default_factory=lambda: AttackConfig.fgsm(0.2, Norm.LINF, direction=Direction.NSL))
    loss: RegularizerLoss = RegularizerLoss.NSL

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss", RegularizerLoss(self.loss))
        # At x_adv = x the KL term and its gradient are exactly zero, so an ascent from the clean image never
        # moves: TRADES starts from x + 0.001 * N(0, 1) in its paper; we start uniformly in the ball.
        _check(self.loss is not RegularizerLoss.TRADES or self.attack.random_init,
               "TRADES needs a random start (random_init=True): KL(p(x) || p(x_adv)) has zero gradient at "
               "x_adv = x, so an ascent from the clean image never moves")
        _check(not self.attack.targeted, "adversarial regularization uses untargeted neighbours")
        _check(not self.attack.adaptive_step, "adversarial regularization builds neighbours with FGSM or PGD")
        _check(math.isfinite(self.multiplier) and self.multiplier >= 0,
               f"multiplier must be a finite number >= 0, got {self.multiplier!r}")
        _check(self.attack.restarts == 1, "adversarial regularization builds one neighbour per example (restarts=1)")


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
        _check(isinstance(self.epochs, int) and self.epochs >= 1,
               f"epochs must be an integer >= 1, got {self.epochs!r}")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 1,
               f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        _check(math.isfinite(self.learning_rate) and self.learning_rate > 0,
               f"learning_rate must be a positive number, got {self.learning_rate!r}")
        _check(self.lr_schedule in ("constant", "cosine"),
               f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        _check(isinstance(self.validation_size, int) and self.validation_size >= 0,
               f"validation_size must be an integer >= 0, got {self.validation_size!r}")
        _check(self.precision in PRECISIONS,
               f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
