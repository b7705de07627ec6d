"""Honest robustness figures: clean accuracy, white-box and transfer attacks, eps sweeps, sanity checks.

Follows the checklist of Athalye et al. 2018, Carlini et al. 2019 and Croce & Hein 2020: attack the model
under test on its own logits (white-box) and label transfer figures as such; PGD from a random start with
40 steps of eps/10 and several restarts, worst case per example; the strongest attack (``advdemo.strongest``:
APGD-CE, APGD-T and the gradient-free Square Attack, worst case per example) behind every headline figure,
its budget doubled until a doubling no longer moves the figure (``advdemo.strongest.converge``); then check, in
every norm, that accuracy falls as eps grows, strongest <= PGD <= FGSM, a doubled budget does not lower the
strongest figure by ``DOUBLING_TOLERANCE`` points or more, a large eps drives accuracy to about 0, and (in L-inf)
that more steps or restarts never raise accuracy and a transfer attack never beats the white-box one. A failed
check is reported, never hidden: a gradient-masked model fails some.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np

from advdemo.attacks import attack
from advdemo.config import AttackConfig, Norm
from advdemo.data import Split
from advdemo.models import predict_logits
from advdemo.strongest import EVALUATION_BUDGET, Converged, StrongestConfig, converge

WHITE_BOX = "white-box"


@dataclasses.dataclass(frozen=True)
class AttackSpec:
    """One row of a model card's ``metrics``: which attack, with what budget, from which model's gradients.

    ``attack`` is ``none`` (clean), ``fgsm``, ``pgd`` or ``strongest`` (``advdemo.strongest``: ``steps`` APGD
    steps, ``targets`` APGD-T target classes, ``queries`` queries of the random search, Square Attack or
    Sparse-RS in L1); ``source`` is ``white-box`` (the model under test) or the name of the model the attack
    is computed on (a transfer attack, e.g. ``base``). FGSM and PGD use the strong direction
    (``Direction.STRONG``); in L2 and L1 the card entry says so (``"direction": "strong"``), since older cards
    measured those norms with NSL's weaker direction. In L-inf both directions are ``sign(g)``, so an L-inf
    entry is the same attack either way.
    """

    attack: str = "none"
    norm: Norm = Norm.LINF
    eps: float = 0.0
    steps: int = 0
    step_size: float = 0.0
    restarts: int = 0
    source: str = WHITE_BOX
    targets: int = 0
    queries: int = 0

    @classmethod
    def clean(cls) -> AttackSpec:
        return cls()

    @classmethod
    def fgsm(cls, eps: float, norm: Norm = Norm.LINF, source: str = WHITE_BOX) -> AttackSpec:
        return cls("fgsm", norm, eps, 1, eps, 1, source)

    @classmethod
    def pgd(cls, eps: float, norm: Norm = Norm.LINF, steps: int = 40, restarts: int = 3,
            step_size: float | None = None, source: str = WHITE_BOX) -> AttackSpec:
        return cls("pgd", norm, eps, steps, round(eps / 10 if step_size is None else step_size, 6), restarts, source)

    @classmethod
    def strongest(cls, eps: float, norm: Norm = Norm.LINF, budget: StrongestConfig = EVALUATION_BUDGET) -> AttackSpec:
        budget = dataclasses.replace(budget, norm=norm, epsilon=eps)
        return cls("strongest", norm, eps, budget.apgd_steps, 0.0, 1, WHITE_BOX, budget.target_classes,
                   budget.queries)

    def config(self) -> AttackConfig | StrongestConfig | None:
        """The ``AttackConfig`` (or ``StrongestConfig``) to run; ``None`` for clean."""
        if self.attack == "none":
            return None
        if self.attack == "fgsm":
            return AttackConfig.fgsm(self.eps, self.norm)
        if self.attack == "strongest":
            return dataclasses.replace(EVALUATION_BUDGET, norm=self.norm, epsilon=self.eps, apgd_steps=self.steps,
                                       target_classes=self.targets).with_queries(self.queries)
        return AttackConfig.pgd(self.eps, self.norm, steps=self.steps, step_size=self.step_size,
                                restarts=self.restarts)

    @property
    def name(self) -> str:
        """``clean``, ``FGSM``, ``PGD-40 x3`` or ``strongest``."""
        if self.attack == "none":
            return "clean"
        if self.attack == "fgsm":
            return "FGSM"
        if self.attack == "strongest":
            return "strongest"
        return f"PGD-{self.steps}" + (f" x{self.restarts}" if self.restarts > 1 else "")

    def describe(self) -> str:
        if self.attack == "none":
            return "clean"
        origin = "" if self.source == WHITE_BOX else f" from {self.source} (transfer)"
        return f"{self.name} {self.norm.label} {self.eps:g}{origin}"

    def budget(self) -> str:
        """The attack and its budget in words, e.g. ``APGD-CE 100 + APGD-T 3x100 + Square 1000``."""
        config = self.config()
        if config is None:
            return "none"
        if isinstance(config, StrongestConfig):
            return config.describe()
        if self.attack == "fgsm":
            return f"one step of {self.eps:g}"
        return (f"{self.steps} steps of {self.step_size:g} from a random start, {self.restarts} restart"
                f"{'s' if self.restarts > 1 else ''}, worst case per example")

    def key(self) -> dict[str, Any]:
        """What identifies the measurement in a card (``find_entry`` matches on it)."""
        key = {"attack": self.attack, "norm": self.norm.value, "eps": self.eps, "steps": self.steps,
               "step_size": self.step_size, "restarts": self.restarts, "source": self.source}
        if self.attack == "strongest":
            key.update(targets=self.targets, queries=self.queries)
        if self.attack in ("fgsm", "pgd") and self.norm is not Norm.LINF:
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


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``images`` whose arg-max logit equals ``labels``: a float in [0, 1]."""
    if len(labels) == 0:
        raise ValueError("cannot measure accuracy on zero images")
    return float(np.mean(np.argmax(predict_logits(model, images, batch_size), axis=1) == np.asarray(labels)))


#: Progress callback of ``evaluate``: (the spec being measured, a fraction of its current stage done in [0, 1],
#: the stage: ``""``, or for the strongest attack ``"budget"``, ``"doubling 1"``, ...).
SpecProgress = Callable[[AttackSpec, float, str], None]
#: A strongest figure's budget is enough when doubling it lowers the figure by less than this (points).
DOUBLING_TOLERANCE = 0.5
#: Doublings tried before a figure is reported as not converged.
MAX_DOUBLINGS = 2
#: The mark of a strongest figure whose doubling check did not pass or was not run: an upper bound that may fall.
UNCONVERGED = "†"


def adversarial_images(model: keras.Model, split: Split, spec: AttackSpec, batch_size: int = 1000,
                       on_progress: SpecProgress | None = None) -> np.ndarray:
    """The images of ``split`` attacked as ``spec`` says, on ``model``'s gradients (clean: the images); the
    strongest attack at ``spec``'s budget only (``converged_images`` adds the doubling check)."""
    config = spec.config()
    if config is None:
        return split.images
    if isinstance(config, StrongestConfig):
        return converged_images(model, split, spec, batch_size, on_progress, max_doublings=0).adversarial
    return attack(model, split.images, split.labels, config, batch_size=batch_size)


def converged_images(model: keras.Model, split: Split, spec: AttackSpec, batch_size: int = 1000,
                     on_progress: SpecProgress | None = None, check: np.ndarray | None = None,
                     max_doublings: int = MAX_DOUBLINGS) -> Converged:
    """``advdemo.strongest.converge`` of the strongest attack ``spec`` on ``split``, doubling on ``check``."""
    config = spec.config()
    if not isinstance(config, StrongestConfig):
        raise ValueError(f"{spec.describe()} is not the strongest attack")

    def progress(stage: str, fraction: float) -> None:
        if on_progress is not None:
            on_progress(spec, fraction, stage)

    return converge(model, split.images, split.labels, config, tolerance=DOUBLING_TOLERANCE,
                    max_doublings=max_doublings, check=check, batch_size=batch_size, on_progress=progress)


def doubling_record(found: Converged) -> dict[str, Any]:
    """The card's record of a strongest figure's doubling check."""
    return {"passed": found.passed, "moved_points": None if found.moved is None else round(found.moved, 2),
            "tolerance_points": DOUBLING_TOLERANCE, "n": found.checked, "enough": found.budget.describe(),
            "runs": [{"budget": budget, "accuracy": round(value, 5)} for budget, value in found.runs]}


def evaluate(model: keras.Model, split: Split, specs: Iterable[AttackSpec],
             sources: dict[str, keras.Model] | None = None, batch_size: int = 1000,
             on_result: Callable[[AttackSpec, float], None] | None = None,
             on_progress: SpecProgress | None = None, check: np.ndarray | None = None,
             max_doublings: int = MAX_DOUBLINGS,
             on_verdicts: Callable[[AttackSpec, np.ndarray], None] | None = None) -> list[dict[str, Any]]:
    """Accuracy of ``model`` under each attack of ``specs`` on ``split``; returns model-card entries.

    A spec whose ``source`` is not ``white-box`` is computed on ``sources[source]`` and fed to ``model``. The
    strongest attack's figures are converged (``converged_images``: doublings on the images ``check`` of
    ``split``, default all, at most ``max_doublings``) and their entries carry the ``doubling_check``.
    ``on_result(spec, accuracy)`` follows each measurement; ``on_progress(spec, fraction, stage)`` reports
    progress inside the long ones; ``on_verdicts(spec, held)`` receives each image's verdict (bool (n,): the
    model still answers correctly).
    """
    sources = sources or {}
    if len(split) == 0:
        raise ValueError("cannot measure accuracy on zero images")
    entries = []
    for spec in specs:
        if spec.source != WHITE_BOX and spec.source not in sources:
            raise ValueError(f"{spec.describe()} needs the source model {spec.source!r}: pass it in sources")
        attacked = model if spec.source == WHITE_BOX else sources[spec.source]
        record = None
        if spec.attack == "strongest":
            found = converged_images(attacked, split, spec, batch_size, on_progress, check, max_doublings)
            images, record = found.adversarial, doubling_record(found)
        else:
            images = adversarial_images(attacked, split, spec, batch_size, on_progress)
        held = np.argmax(predict_logits(model, images, batch_size), axis=1) == np.asarray(split.labels)
        value = float(np.mean(held))
        if on_verdicts is not None:
            on_verdicts(spec, held)
        if on_result is not None:
            on_result(spec, value)
        entry = spec.as_entry(len(split), value)
        if record is not None and max_doublings > 0:
            entry["doubling_check"] = record
        entries.append(entry)
    return entries


def find_entry(entries: Iterable[dict[str, Any]], spec: AttackSpec) -> dict[str, Any] | None:
    """The entry of ``entries`` measured with ``spec`` (``None`` if absent). An L2 or L1 FGSM/PGD entry
    without ``"direction": "strong"`` was measured with NSL's weaker direction and does not match."""
    wanted = spec.key()
    for entry in entries:
        if isinstance(entry, dict) and all(entry.get(key, 0 if key in ("targets", "queries") else None) == value
                                           for key, value in wanted.items()):
            return entry
    return None


def strongest_entry(entries: Iterable[dict[str, Any]], eps: float, norm: Norm = Norm.LINF) -> dict[str, Any] | None:
    """The white-box strongest figure at (``norm``, ``eps``): the one measured at the cards' budget
    (``AttackSpec.strongest``), else one measured at another budget with a random search (e.g. a card not yet
    re-measured since the budget changed; a figure of the gradient members alone is no strongest figure); its
    ``doubling_check``, or the lack of one, says whether the figure has converged."""
    entries = [entry for entry in entries if isinstance(entry, dict)]
    found = find_entry(entries, AttackSpec.strongest(eps, norm))
    if found is not None:
        return found
    others = [entry for entry in entries if entry.get("attack") == "strongest" and entry.get("norm") == norm.value
              and entry.get("eps") == eps and entry.get("source", WHITE_BOX) == WHITE_BOX
              and entry.get("queries", 0) > 0]
    return max(others, key=lambda entry: entry.get("n", 0), default=None)


def converged(entry: dict[str, Any] | None) -> bool:
    """A strongest figure whose doubling check passed (FGSM, PGD and clean figures need none)."""
    return entry is not None and (entry.get("attack") != "strongest"
                                  or bool(entry.get("doubling_check", {}).get("passed", False)))


def _slack(first: dict[str, Any], second: dict[str, Any], tolerance: float) -> float:
    """How far two figures may cross before a check fails: ``tolerance`` when they were measured on the same
    images, else also 2.5 binomial standard errors of their difference (a sample of 1,000 against the full
    test set differs by sampling alone)."""
    if first.get("n") == second.get("n"):
        return tolerance
    a, b = first["accuracy"], second["accuracy"]
    error = (a * (1 - a) / max(first.get("n", 1), 1) + b * (1 - b) / max(second.get("n", 1), 1)) ** 0.5
    return max(tolerance, 2.5 * error)


def doubling_check(norm: Norm, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """"a stronger budget does not lower accuracy by more than 0.5 point": every strongest figure of ``norm``
    carries a passed doubling check (one not run fails the check, and says so)."""
    figures = [entry for entry in entries if isinstance(entry, dict) and entry.get("attack") == "strongest"
               and entry.get("norm") == norm.value and entry.get("source", WHITE_BOX) == WHITE_BOX]
    if not figures:
        return None
    notes, failed = [], False
    for entry in sorted(figures, key=lambda entry: entry["eps"]):
        record = entry.get("doubling_check")
        where = f"eps {entry['eps']:g} ({entry['accuracy']:.2%}, n={entry.get('n')})"
        if record is None:
            failed = True
            notes.append(f"{where}: not run")
        elif not record["passed"]:
            failed = True
            notes.append(f"{where}: the last doubling ({record['runs'][-1]['budget']}) lowered it by "
                         f"{record['moved_points']:.2f} points (NOT converged)")
        else:
            notes.append(f"{where}: doubling {record['enough']} moved it {record['moved_points']:.2f} points")
    return {"check": f"{norm.label}: a doubled budget lowers the strongest figure by < {DOUBLING_TOLERANCE:g} point",
            "passed": not failed, "detail": "; ".join(notes)}


def sanity_checks(entries: list[dict[str, Any]], sweeps: list[dict[str, Any]] | None = None,
                  tolerance: float = 0.002, sweep_tolerance: float = 0.005) -> list[dict[str, Any]]:
    """Gradient-masking checks over ``entries`` of the standard suite and the card's ``sweeps``: a list of
    {"check", "passed", "detail"}. The tolerances absorb the noise of random starts (0.2 points on the full
    test set, 0.5 on the sweeps' smaller sample). A check whose figures were not measured is left out."""

    def check(name: str, pairs: list[tuple[AttackSpec, AttackSpec]], source: list[dict[str, Any]],
              slack: float) -> dict[str, Any] | None:
        """Passes when acc(weaker) + slack >= acc(stronger) for every pair (weaker, stronger) measured."""
        values = [(w, s, find_entry(source, w), find_entry(source, s)) for w, s in pairs]
        values = [(w, s, a["accuracy"], b["accuracy"], _slack(a, b, slack)) for w, s, a, b in values
                  if a is not None and b is not None]
        if not values:
            return None
        failures = [f"{w.describe()} {a:.2%} < {s.describe()} {b:.2%}" for w, s, a, b, z in values if a + z < b]
        detail = "; ".join(failures) if failures else ", ".join(
            f"{w.describe()} {a:.2%} >= {s.describe()} {b:.2%}" for w, s, a, b, _ in values)
        return {"check": name, "passed": not failures, "detail": detail}

    def falling(epsilons: Iterable[float], make: Callable[[float], AttackSpec]) -> list[tuple[AttackSpec, AttackSpec]]:
        specs = [AttackSpec.clean()] + [make(eps) for eps in epsilons]
        return list(zip(specs, specs[1:]))

    sweeps = sweeps or []
    clean = find_entry(entries, AttackSpec.clean())
    sweeps_with_clean = sweeps + ([clean] if clean is not None else [])
    linf = HEADLINE_EPSILONS[Norm.LINF]
    results = [
        check("PGD accuracy falls as eps grows", falling(linf, AttackSpec.pgd), entries, tolerance),
        check("FGSM accuracy falls as eps grows", falling(linf, AttackSpec.fgsm), entries, tolerance),
        check("more steps never raise accuracy",
              [(AttackSpec.pgd(0.2, steps=10, restarts=1), AttackSpec.pgd(0.2, steps=40, restarts=1))], entries,
              tolerance),
        check("more restarts never raise accuracy",
              [(AttackSpec.pgd(0.2, restarts=1), AttackSpec.pgd(0.2, restarts=3))], entries, tolerance),
        # A white-box attack weaker than the same attack computed on another model means the model's own
        # gradients point nowhere useful: the signature of gradient masking (Athalye et al. 2018).
        check("transfer attack never beats white-box",
              [(AttackSpec.fgsm(0.2, source="base"), AttackSpec.fgsm(0.2)),
               (AttackSpec.fgsm(0.2, source="base"), AttackSpec.pgd(0.2)),
               (AttackSpec.fgsm(0.2, source="base"), AttackSpec.strongest(0.2))], entries, tolerance),
    ]
    for norm in Norm:
        headline, swept = HEADLINE_EPSILONS[norm], SWEEP_EPSILONS[norm]
        ordered = [(AttackSpec.fgsm(eps, norm), headline_pgd(eps, norm)) for eps in headline] + [
            (headline_pgd(eps, norm), AttackSpec.strongest(eps, norm)) for eps in headline]
        ordered_sweep = [(AttackSpec.fgsm(eps, norm), AttackSpec.pgd(eps, norm, restarts=1)) for eps in swept] + [
            (AttackSpec.pgd(eps, norm, restarts=1), AttackSpec.strongest(eps, norm)) for eps in swept]
        results += [
            check(f"{norm.label}: strongest <= PGD <= FGSM", ordered, entries, tolerance),
            check(f"{norm.label} sweeps: strongest <= PGD <= FGSM", ordered_sweep, sweeps, sweep_tolerance),
            *(check(f"{norm.label} sweeps: {name} accuracy falls as eps grows", falling(swept, make),
                    sweeps_with_clean, sweep_tolerance)
              for name, make in (("FGSM", lambda eps, n=norm: AttackSpec.fgsm(eps, n)),
                                 ("PGD", lambda eps, n=norm: AttackSpec.pgd(eps, n, restarts=1)),
                                 ("strongest", lambda eps, n=norm: AttackSpec.strongest(eps, n)))),
        ]
        results.append(doubling_check(norm, entries + sweeps))
        large = find_entry(entries, large_eps_spec(norm))
        if large is not None:
            pgd = find_entry(entries, large_eps_pgd(norm))
            aside = f"; {large_eps_pgd(norm).describe()} alone: {pgd['accuracy']:.2%}" if pgd is not None else ""
            results.append({"check": f"{norm.label}: eps {LARGE_EPSILONS[norm]:g} gives about 0%",
                            "passed": large["accuracy"] <= 0.01,
                            "detail": f"{large_eps_spec(norm).describe()}: {large['accuracy']:.2%} (must be <= 1%)"
                                      f"{aside}"})
    return [result for result in results if result is not None]
