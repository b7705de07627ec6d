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
    """How a gradient becomes a step (``advdemo.attacks.norms``); the two differ only in L2 and L1.

    ``NSL`` is NSL 1.4.0's adversarial neighbour, kept for training (the tutorial's semantics): L2 divides by
    ``max(||g||_2, 1e-6)``, L1 puts the whole step on the largest ``|g|``. ``STRONG`` is for attacks that are
    shown and evaluated: L2 divides by ``||g||_2`` exactly (no floor that shrinks steps where a confident
    model's gradient is tiny), L1 is sparse L1 descent over the pixels that can still move (Tramer and
    Boneh 2019), which does not stall on saturated pixels.
    """

    NSL = "nsl"
    STRONG = "strong"


class AttackLoss(enum.StrEnum):
    """The per-example loss an attack ascends (``advdemo.attacks.losses``)."""

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


def check(condition: bool, message: str) -> None:
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
        check(math.isfinite(self.adv_step_size) and self.adv_step_size >= 0,
               f"adv_step_size must be a finite number >= 0, got {self.adv_step_size!r}")
        check(isinstance(self.pgd_iterations, int) and self.pgd_iterations >= 1,
               f"pgd_iterations must be an integer >= 1 (1 is FGSM), got {self.pgd_iterations!r}")
        check(self.pgd_epsilon is None or (math.isfinite(self.pgd_epsilon) and self.pgd_epsilon >= 0),
               f"pgd_epsilon must be None or a finite number >= 0, got {self.pgd_epsilon!r}")
        check(isinstance(self.restarts, int) and self.restarts >= 1,
               f"restarts must be an integer >= 1, got {self.restarts!r}")
        check(self.restarts == 1 or self.random_init,
               "restarts > 1 needs random_init=True: without a random start every restart is identical")
        check(self.target_class is None or (isinstance(self.target_class, int) and 0 <= self.target_class <= 9),
               f"target_class must be None or an integer class 0-9, got {self.target_class!r}")
        check(self.target_rank is None or (isinstance(self.target_rank, int) and 2 <= self.target_rank <= 10),
               f"target_rank must be None or an integer 2-10 (2 = the runner-up class), got {self.target_rank!r}")
        check(self.target_rank is None or self.target_class is None,
               "give target_class or target_rank, not both")
        check(not (self.adaptive_step and self.direction is Direction.NSL),
               "APGD (adaptive_step) is an evaluation attack: use Direction.STRONG")
        check(self.clip_value_min < self.clip_value_max,
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


#: APGD-T's targets: every class but the true one.
MAX_TARGETS = 9


@dataclasses.dataclass(frozen=True)
class StrongestConfig:
    """The ensemble's norm, radius and budget.

    Attributes:
        norm, epsilon: the ball.
        apgd_steps: steps of each APGD run.
        target_classes: APGD-T runs, one per target class (the classes ranked 2, 3, ... by the clean logits).
        square_queries: Square Attack's queries (model evaluations) per image and chain in L-inf and L2; 0 skips it.
        sparse_rs_queries: Sparse-RS's queries per image and chain in L1; 0 skips it.
        chains: independent random searches per image, run side by side in one batch (``queries`` each): on
            one image this buys queries cheaply (the app's budget), on a batch of images it changes nothing.
        seed: seeds the APGD runs' random starts and the random search.
    """

    norm: Norm = Norm.LINF
    epsilon: float = 0.3
    apgd_steps: int = 100
    target_classes: int = 9
    square_queries: int = 5000
    sparse_rs_queries: int = 5000
    chains: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", Norm.parse(self.norm))
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        if not (isinstance(self.apgd_steps, int) and self.apgd_steps >= 1):
            raise ValueError(f"apgd_steps must be an integer >= 1, got {self.apgd_steps!r}")
        if not (isinstance(self.target_classes, int) and 0 <= self.target_classes <= MAX_TARGETS):
            raise ValueError(f"target_classes must be an integer 0-{MAX_TARGETS}, got {self.target_classes!r}")
        for name in ("square_queries", "sparse_rs_queries", "chains"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= (name == "chains")):
                raise ValueError(f"{name} must be an integer >= {int(name == 'chains')}, got {value!r}")

    @property
    def search(self) -> str:
        """The random search of this norm: ``Square`` (L-inf, L2) or ``Sparse-RS`` (L1)."""
        return "Sparse-RS" if self.norm is Norm.L1 else "Square"

    @property
    def queries(self) -> int:
        """The random search's queries in this norm (per chain)."""
        return self.sparse_rs_queries if self.norm is Norm.L1 else self.square_queries

    def with_queries(self, queries: int) -> StrongestConfig:
        """This budget with ``queries`` for the random search of its norm."""
        field = "sparse_rs_queries" if self.norm is Norm.L1 else "square_queries"
        return dataclasses.replace(self, **{field: queries})

    def doubled(self) -> StrongestConfig:
        """Every member's budget twice: APGD steps x2, APGD-T targets x2 (at most the 9 classes there are),
        the random search's queries x2, with a new seed, so that on top of the first run every member also
        gets a second random start (a restart)."""
        return dataclasses.replace(self, apgd_steps=2 * self.apgd_steps,
                                   target_classes=min(MAX_TARGETS, 2 * self.target_classes),
                                   square_queries=2 * self.square_queries,
                                   sparse_rs_queries=2 * self.sparse_rs_queries, seed=self.seed + 1)

    def members(self) -> list[tuple[str, AttackConfig | None]]:
        """(name, APGD config or None for the random search) of each member, in the order they run."""
        members: list[tuple[str, AttackConfig | None]] = [
            (f"APGD-CE-{self.apgd_steps}", AttackConfig.apgd(self.epsilon, self.norm, self.apgd_steps)),
        ]
        for rank in range(2, 2 + self.target_classes):
            members.append((f"APGD-T-{self.apgd_steps} (target ranked {rank})",
                            AttackConfig.apgd(self.epsilon, self.norm, self.apgd_steps, loss=AttackLoss.DLR,
                                              target_rank=rank)))
        if self.queries:
            members.append((f"{self.search}-{self.queries}", None))
        return members

    def describe(self) -> str:
        """E.g. ``APGD-CE 100 + APGD-T 9x100 + Square 5000`` (``Square 8x1000`` for 8 chains of 1,000)."""
        parts = [f"APGD-CE {self.apgd_steps}"]
        if self.target_classes:
            parts.append(f"APGD-T {self.target_classes}x{self.apgd_steps}")
        if self.queries:
            parts.append(f"{self.search} {f'{self.chains}x' if self.chains > 1 else ''}{self.queries}")
        return " + ".join(parts)


#: Where every card figure starts: AutoAttack's standard budget (APGD-CE 100, APGD-T 9x100, Square 5,000), and
#: Sparse-RS 5,000 in L1; ``converge`` doubles it until a doubling no longer moves the figure.
EVALUATION_BUDGET = StrongestConfig()
#: The sidebar's measurement of a model a user has just trained (1,000 test images in a minute or two on 2 cores,
#: in a process of low priority): far below the cards' budget, so its figure is an upper bound that a stronger
#: attack may lower; the user's card names this budget and has no doubling check, and the app marks it so.
QUICK_BUDGET = StrongestConfig(apgd_steps=100, target_classes=1, square_queries=300, sparse_rs_queries=1000)
#: The app's budget on one image: about a second per model on 2 cores, its random search in chains
#: (``benchmarks/app_agreement.py`` measures how often it agrees with the cards' converged budget).
APP_BUDGET = StrongestConfig(apgd_steps=50, target_classes=3, square_queries=700, sparse_rs_queries=700, chains=16)

#: One description of an attack, for the app, the cards and the evaluation alike: a single gradient attack (FGSM,
#: PGD, APGD) or the strongest ensemble. ``advdemo.attacks.run`` runs either.
Attack = AttackConfig | StrongestConfig
