"""Test-set figures read from the model cards (``pretrained/NAME.json``), never recomputed by the app.

A card's ``metrics`` and ``sweeps`` are lists of entries {"attack", "norm", "eps", "steps", "step_size",
"restarts", "source", "n", "accuracy"} written by ``python -m advdemo.evaluate --write-card``. Malformed
entries are skipped, so a half-written or older card never breaks the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from advdemo.configs import Norm
from advdemo.evaluation import WHITE_BOX, AttackSpec


def entry_spec(entry: Mapping[str, Any]) -> AttackSpec | None:
    """The ``AttackSpec`` an entry was measured with (``None`` if the entry is malformed)."""
    try:
        return AttackSpec.from_entry(dict(entry))
    except (KeyError, TypeError, ValueError):
        return None


def _valid(entries: Any) -> Iterable[tuple[AttackSpec, Mapping[str, Any]]]:
    """(spec, entry) for each well-formed entry with a numeric accuracy and n."""
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        spec = entry_spec(entry)
        try:
            accuracy, n = float(entry["accuracy"]), int(entry["n"])
        except (KeyError, TypeError, ValueError):
            continue
        if spec is not None and 0.0 <= accuracy <= 1.0 and n > 0:
            yield spec, entry


def attack_label(spec: AttackSpec) -> str:
    """``FGSM`` or ``PGD-40`` (with ``x3`` for restarts)."""
    return spec.name


def clean_accuracy(card: Mapping[str, Any]) -> tuple[float, int] | None:
    """(accuracy, n) of the card's clean entry, if any."""
    for spec, entry in _valid(card.get("metrics")):
        if spec.kind == "none":
            return float(entry["accuracy"]), int(entry["n"])
    return None


def curve_rows(cards: Mapping[str, Mapping[str, Any]], norm: Norm) -> list[dict[str, Any]]:
    """Rows {"model", "attack", "eps", "accuracy", "n"} of the cards' white-box sweeps in ``norm``, each
    curve starting at eps 0 with the card's clean accuracy (when the card has one)."""
    rows: list[dict[str, Any]] = []
    for model, card in cards.items():
        curves: dict[str, list[dict[str, Any]]] = {}
        for spec, entry in _valid(card.get("sweeps")):
            if spec.norm is norm and spec.kind in ("fgsm", "pgd") and spec.source == WHITE_BOX:
                curves.setdefault(attack_label(spec), []).append(
                    {"model": model, "attack": attack_label(spec), "eps": spec.eps,
                     "accuracy": float(entry["accuracy"]), "n": int(entry["n"])})
        clean = clean_accuracy(card)
        for name, points in curves.items():
            if clean is not None:
                points.append({"model": model, "attack": name, "eps": 0.0, "accuracy": clean[0], "n": clean[1]})
            rows.extend(sorted(points, key=lambda row: row["eps"]))
    return rows


def headline_rows(cards: Mapping[str, Mapping[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """One row per measurement of the cards' ``metrics`` (in the first card's order): {"measurement",
    "n", model: accuracy or None, ...}. ``n`` is the largest n of the row's entries."""
    order: list[AttackSpec] = []
    values: dict[AttackSpec, dict[str, float]] = {}
    sizes: dict[AttackSpec, int] = {}
    for model in models:
        for spec, entry in _valid(cards.get(model, {}).get("metrics")):
            if spec not in values:
                order.append(spec)
                values[spec] = {}
            values[spec][model] = float(entry["accuracy"])
            sizes[spec] = max(sizes.get(spec, 0), int(entry["n"]))
    return [{"measurement": spec.describe(), "n": sizes[spec], **{model: values[spec].get(model) for model in models}}
            for spec in order]


def failed_checks(card: Mapping[str, Any]) -> list[dict[str, str]]:
    """The card's sanity checks that failed: [{"check", "detail"}] (a sign of gradient masking)."""
    checks = card.get("sanity_checks")
    if not isinstance(checks, list):
        return []
    return [{"check": str(check.get("check", "?")), "detail": str(check.get("detail", ""))}
            for check in checks if isinstance(check, Mapping) and check.get("passed") is False]
