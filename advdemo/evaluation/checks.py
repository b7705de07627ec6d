"""Reading a card's figures back and checking them: find an entry, the strongest figure at a point and whether it
converged, and the gradient-masking sanity checks.

Follows the checklist of Athalye et al. 2018, Carlini et al. 2019 and Croce & Hein 2020: in every norm, accuracy
falls as eps grows, strongest <= PGD <= FGSM, a doubled budget does not lower the strongest figure by
``DOUBLING_TOLERANCE`` points or more, a large eps drives accuracy to about 0, and (in L-inf) more steps or restarts
never raise accuracy and a transfer attack never beats the white-box one. A failed check is reported, never
hidden: a gradient-masked model fails some.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from advdemo.configs import Norm
from advdemo.evaluation.suite import (
    DOUBLING_TOLERANCE,
    HEADLINE_EPSILONS,
    LARGE_EPSILONS,
    SWEEP_EPSILONS,
    WHITE_BOX,
    AttackSpec,
    headline_pgd,
    large_eps_pgd,
    large_eps_spec,
)

#: The mark of a strongest figure whose doubling check did not pass or was not run: an upper bound that may fall.
UNCONVERGED = "†"


def find_entry(entries: Iterable[dict[str, Any]], spec: AttackSpec) -> dict[str, Any] | None:
    """The entry of ``entries`` measured with ``spec`` (``None`` if absent). An L2 or L1 FGSM/PGD entry
    without ``"direction": "strong"`` was measured with NSL's weaker direction and does not match."""
    wanted = spec.key()
    for entry in entries:
        if isinstance(entry, dict) and all(entry.get(key, 0 if key in ("targets", "queries") else None) == value
                                           for key, value in wanted.items()):
            return entry
    return None


def certified_figure(card: dict[str, Any] | None, eps: float) -> dict[str, Any] | None:
    """The card's certified figure (IBP, L-inf) at ``eps``, or None."""
    return next((figure for figure in (card or {}).get("certified", []) if figure.get("eps") == eps), None)


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


def bracket_check(entries: list[dict[str, Any]], certified: list[dict[str, Any]]) -> dict[str, Any] | None:
    """"certified <= strongest": a proof can never certify more images than an attack leaves standing at the same
    eps. Where the two were measured on different images, sampling alone may cross them by up to 2.5 standard
    errors; beyond that a crossing is a bug in the certificate or the attack, and the check fails."""
    notes, failed = [], False
    for figure in sorted(certified, key=lambda figure: figure["eps"]):
        strongest = strongest_entry(entries, figure["eps"], Norm.parse(figure["norm"]))
        if strongest is None:
            continue
        crossed = figure["accuracy"] > strongest["accuracy"] + _slack(figure, strongest, 0.0)
        failed |= crossed
        notes.append(f"L-inf {figure['eps']:g}: certified {figure['accuracy']:.2%} (n={figure['n']}) "
                     f"{'>' if crossed else '<='} strongest {strongest['accuracy']:.2%} (n={strongest.get('n')})")
    if not notes:
        return None
    return {"check": "certified (IBP) <= strongest attack", "passed": not failed, "detail": "; ".join(notes)}


def sanity_checks(entries: list[dict[str, Any]], sweeps: list[dict[str, Any]] | None = None,
                  tolerance: float = 0.002, sweep_tolerance: float = 0.005,
                  certified: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Gradient-masking checks over ``entries`` of the standard suite and the card's ``sweeps``, and the bracket
    of the ``certified`` figures: a list of {"check", "passed", "detail"}. The tolerances absorb the noise of
    random starts (0.2 points on the full test set, 0.5 on the sweeps' smaller sample). A check whose figures
    were not measured is left out. Long because it is the list of checks itself, one entry each."""

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
    results.append(bracket_check(entries, certified or []))
    return [result for result in results if result is not None]
