"""The figures a model card carries: ``AttackSpec`` (an attack description and whose gradients compute it, one
card entry) and the suites of them: the headline figures, the sanity checks' extra figures and the eps sweeps."""

from __future__ import annotations

import dataclasses
from typing import Any

from advdemo.attacks.strongest import member_costs
from advdemo.configs import EVALUATION_BUDGET, Attack, AttackConfig, Norm, StrongestConfig

WHITE_BOX = "white-box"
#: A strongest figure's budget is enough when doubling it lowers the figure by less than this (points).
DOUBLING_TOLERANCE = 0.5
#: Doublings tried before a figure is reported as not converged.
MAX_DOUBLINGS = 2


@dataclasses.dataclass(frozen=True)
class AttackSpec:
    """One row of a model card's ``metrics``: an attack description and whose gradients compute it.

    ``attack`` is ``None`` (clean), an ``AttackConfig`` (FGSM or PGD in the strong direction) or a
    ``StrongestConfig`` (the ensemble and its budget); ``source`` is ``white-box`` (the model under test) or the
    name of the model the attack is computed on (a transfer attack, e.g. ``base``). A card entry stores the
    attack's ``kind`` (``none``, ``fgsm``, ``pgd`` or ``strongest``) and budget as plain fields (``key``), read
    back by ``from_entry``. In L2 and L1 an FGSM or PGD entry says ``"direction": "strong"``, since older cards
    measured those norms with NSL's weaker direction; in L-inf both directions are ``sign(g)``.
    """

    attack: Attack | None = None
    source: str = WHITE_BOX

    def __post_init__(self) -> None:
        if isinstance(self.attack, AttackConfig) and self.attack.adaptive_step:
            raise ValueError("a card's gradient figures are FGSM or PGD; APGD runs inside the strongest attack")

    @classmethod
    def clean(cls) -> AttackSpec:
        return cls()

    @classmethod
    def fgsm(cls, eps: float, norm: Norm = Norm.LINF, source: str = WHITE_BOX) -> AttackSpec:
        return cls(AttackConfig.fgsm(eps, norm), source)

    @classmethod
    def pgd(cls, eps: float, norm: Norm = Norm.LINF, steps: int = 40, restarts: int = 3,
            step_size: float | None = None, source: str = WHITE_BOX) -> AttackSpec:
        step = round(eps / 10 if step_size is None else step_size, 6)
        return cls(AttackConfig.pgd(eps, norm, steps=steps, step_size=step, restarts=restarts), source)

    @classmethod
    def strongest(cls, eps: float, norm: Norm = Norm.LINF, budget: StrongestConfig = EVALUATION_BUDGET) -> AttackSpec:
        return cls(dataclasses.replace(budget, norm=Norm.parse(norm), epsilon=eps, chains=1, seed=0))

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> AttackSpec:
        """The spec a card entry was measured with (the inverse of ``as_entry``)."""
        kind, norm, eps = entry["attack"], Norm.parse(entry["norm"]), float(entry["eps"])
        source = str(entry.get("source", WHITE_BOX))
        if kind == "none":
            return cls(None, source)
        if kind == "fgsm":
            return cls.fgsm(eps, norm, source)
        if kind == "strongest":
            budget = dataclasses.replace(EVALUATION_BUDGET, apgd_steps=int(entry["steps"]),
                                         target_classes=int(entry.get("targets", 0)))
            return cls(cls.strongest(eps, norm, budget).attack.with_queries(int(entry.get("queries", 0))), source)
        if kind == "pgd":
            return cls.pgd(eps, norm, int(entry["steps"]), int(entry["restarts"]), float(entry["step_size"]), source)
        raise ValueError(f"unknown attack {kind!r} in a card entry")

    @property
    def kind(self) -> str:
        """``none``, ``fgsm``, ``pgd`` or ``strongest``: the card's name for the attack."""
        if self.attack is None:
            return "none"
        if isinstance(self.attack, StrongestConfig):
            return "strongest"
        return "fgsm" if self.attack.is_fgsm else "pgd"

    @property
    def norm(self) -> Norm:
        if self.attack is None:
            return Norm.LINF
        return self.attack.norm if isinstance(self.attack, StrongestConfig) else self.attack.adv_grad_norm

    @property
    def eps(self) -> float:
        return 0.0 if self.attack is None else float(self.attack.epsilon)

    @property
    def name(self) -> str:
        """``clean``, ``FGSM``, ``PGD-40 x3`` or ``strongest``."""
        if self.kind in ("none", "fgsm", "strongest"):
            return {"none": "clean", "fgsm": "FGSM", "strongest": "strongest"}[self.kind]
        return f"PGD-{self.attack.pgd_iterations}" + (f" x{self.attack.restarts}" if self.attack.restarts > 1 else "")

    def describe(self) -> str:
        if self.attack is None:
            return "clean"
        origin = "" if self.source == WHITE_BOX else f" from {self.source} (transfer)"
        return f"{self.name} {self.norm.label} {self.eps:g}{origin}"

    def budget(self) -> str:
        """The attack and its budget in words, e.g. ``APGD-CE 100 + APGD-T 3x100 + Square 1000``."""
        if self.attack is None:
            return "none"
        if isinstance(self.attack, StrongestConfig):
            return self.attack.describe()
        if self.kind == "fgsm":
            return f"one step of {self.eps:g}"
        restarts = self.attack.restarts
        return (f"{self.attack.pgd_iterations} steps of {self.attack.adv_step_size:g} from a random start, "
                f"{restarts} restart{'s' if restarts > 1 else ''}, worst case per example")

    def passes(self, standing: float = 1.0) -> float:
        """Model evaluations per image this figure costs, for progress bars and ETAs: a gradient step is about three
        forward passes (``attacks.member_costs``), the accuracy one more. The strongest attack's later members run
        only on the images still standing: ``standing`` is the share expected to be left (e.g. the accuracy under
        PGD, measured just before)."""
        if self.attack is None:
            return 1.0
        if isinstance(self.attack, StrongestConfig):
            costs = [cost for _, cost in member_costs(self.attack)]
            return costs[0] + max(0.0, min(1.0, standing)) * sum(costs[1:]) + 1.0
        return 3.0 * self.attack.pgd_iterations * self.attack.restarts + 1.0

    def key(self) -> dict[str, Any]:
        """What identifies the measurement in a card (``checks.find_entry`` matches on it)."""
        attack = self.attack
        if attack is None:
            steps, step_size, restarts = 0, 0.0, 0
        elif isinstance(attack, StrongestConfig):
            steps, step_size, restarts = attack.apgd_steps, 0.0, 1
        else:
            steps, step_size, restarts = attack.pgd_iterations, attack.adv_step_size, attack.restarts
        key = {"attack": self.kind, "norm": self.norm.value, "eps": self.eps, "steps": steps,
               "step_size": step_size, "restarts": restarts, "source": self.source}
        if isinstance(attack, StrongestConfig):
            key.update(targets=attack.target_classes, queries=attack.queries)
        if self.kind in ("fgsm", "pgd") and self.norm is not Norm.LINF:
            key["direction"] = "strong"
        return key

    def as_entry(self, n: int, accuracy: float) -> dict[str, Any]:
        """The model-card entry: the key (attack, norm, eps, steps, step_size, restarts, source, and the
        budget of the strongest attack), ``budget`` in words, n and accuracy."""
        return {**self.key(), "budget": self.budget(), "n": n, "accuracy": round(accuracy, 5)}


#: The eps of the headline figures in each norm (full test set): FGSM, PGD-40 x3 and the strongest attack.
HEADLINE_EPSILONS: dict[Norm, tuple[float, ...]] = {Norm.LINF: (0.1, 0.2, 0.3), Norm.L2: (2.0,), Norm.L1: (10.0,)}
#: A radius in each norm at which any MNIST classifier can be fooled (about 0% accuracy under a working attack).
LARGE_EPSILONS: dict[Norm, float] = {Norm.LINF: 1.0, Norm.L2: 8.0, Norm.L1: 50.0}


def headline_pgd(eps: float, norm: Norm) -> AttackSpec:
    """The PGD of the headline figures: PGD-40 with 3 restarts in L-inf (as the cards always had), one restart
    in L2 and L1 (the strongest attack is the figure to read there; restarts cost 3x on 2 cores)."""
    return AttackSpec.pgd(eps, norm, restarts=3 if norm is Norm.LINF else 1)


def large_eps_spec(norm: Norm) -> AttackSpec:
    """The strongest attack at ``LARGE_EPSILONS[norm]``: the "about 0%" sanity check."""
    return AttackSpec.strongest(LARGE_EPSILONS[norm], norm)


def large_eps_pgd(norm: Norm) -> AttackSpec:
    """PGD-20 (one restart, step eps/10) at ``LARGE_EPSILONS[norm]``, shown beside the check: a gradient attack
    that cannot get there while the gradient-free search can is a sign of gradient masking."""
    return AttackSpec.pgd(LARGE_EPSILONS[norm], norm, steps=20, restarts=1)


#: The figures every bundled model's card carries (the tutorial's attack is FGSM L-inf 0.2 from ``base``).
STANDARD_SUITE: tuple[AttackSpec, ...] = (
    AttackSpec.clean(),
    AttackSpec.fgsm(0.2, source="base"),
    *(spec for norm, epsilons in HEADLINE_EPSILONS.items() for eps in epsilons
      for spec in (AttackSpec.fgsm(eps, norm), headline_pgd(eps, norm), AttackSpec.strongest(eps, norm))),
    # only for the sanity checks: fewer steps, one restart, and a radius large enough to fool any model.
    AttackSpec.pgd(0.2, steps=10, restarts=1),
    AttackSpec.pgd(0.2, steps=40, restarts=1),
    *(spec for norm in Norm for spec in (large_eps_pgd(norm), large_eps_spec(norm))),
)

#: Accuracy-vs-eps curves (FGSM, one-restart PGD-40 and the strongest attack in each norm), on a subset.
SWEEP_EPSILONS: dict[Norm, tuple[float, ...]] = {
    Norm.LINF: (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4),
    Norm.L2: (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    Norm.L1: (2.5, 5.0, 10.0, 15.0, 20.0),
}


def sweep_suite(strongest: bool = False) -> list[AttackSpec]:
    """FGSM and PGD-40 (one restart), and with ``strongest`` the strongest attack, at every eps of
    ``SWEEP_EPSILONS``."""
    return [spec for norm, epsilons in SWEEP_EPSILONS.items() for eps in epsilons
            for spec in (AttackSpec.fgsm(eps, norm), AttackSpec.pgd(eps, norm, restarts=1),
                         *((AttackSpec.strongest(eps, norm),) if strongest else ()))]




#: The L-inf radii of the cards' certified figures (interval bound propagation, every test image).
CERTIFIED_EPSILONS: tuple[float, ...] = (0.1, 0.2, 0.3)
#: The certificate behind them.
IBP = "IBP"


def certified_entry(eps: float, n: int, accuracy: float) -> dict[str, Any]:
    """A card's certified figure: the fraction of ``n`` test images IBP proves robust at L-inf ``eps``."""
    return {"certificate": IBP, "norm": Norm.LINF.value, "eps": eps, "n": n, "accuracy": round(accuracy, 5)}
