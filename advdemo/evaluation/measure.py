"""Measuring a model: its accuracy under each ``AttackSpec`` of a suite, the strongest attack's figures converged
(``advdemo.attacks.converge``: the budget doubled until a doubling no longer moves the figure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np

from advdemo.attacks import Converged, converge, run
from advdemo.certificates import verified_accuracy
from advdemo.configs import StrongestConfig
from advdemo.data import Split
from advdemo.evaluation.suite import (
    CERTIFIED_EPSILONS,
    DOUBLING_TOLERANCE,
    MAX_DOUBLINGS,
    WHITE_BOX,
    AttackSpec,
    certified_entry,
)
from advdemo.models import predict_logits


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``images`` whose arg-max logit equals ``labels``: a float in [0, 1]."""
    if len(labels) == 0:
        raise ValueError("cannot measure accuracy on zero images")
    return float(np.mean(np.argmax(predict_logits(model, images, batch_size), axis=1) == np.asarray(labels)))


#: Progress callback of ``evaluate``: (the spec being measured, a fraction of its current stage done in [0, 1],
#: the stage: ``""``, or for the strongest attack ``"budget"``, ``"doubling 1"``, ...).
SpecProgress = Callable[[AttackSpec, float, str], None]


def adversarial_images(model: keras.Model, split: Split, spec: AttackSpec, batch_size: int = 1000,
                       on_progress: SpecProgress | None = None) -> np.ndarray:
    """The images of ``split`` attacked as ``spec`` says, on ``model``'s gradients (clean: the images); the
    strongest attack at ``spec``'s budget only (``converged_images`` adds the doubling check)."""
    if spec.attack is None:
        return split.images
    if isinstance(spec.attack, StrongestConfig):
        return converged_images(model, split, spec, batch_size, on_progress, max_doublings=0).adversarial

    def progress(member: str, done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(spec, done / max(total, 1), member)

    return run(spec.attack, model, split.images, split.labels, seed=None, batch_size=batch_size,
               on_progress=progress)


def converged_images(model: keras.Model, split: Split, spec: AttackSpec, batch_size: int = 1000,
                     on_progress: SpecProgress | None = None, check: np.ndarray | None = None,
                     max_doublings: int = MAX_DOUBLINGS) -> Converged:
    """``advdemo.attacks.converge`` of the strongest attack ``spec`` on ``split``, doubling on ``check``."""
    config = spec.attack
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
        if isinstance(spec.attack, StrongestConfig):
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




def certify(model: keras.Model, split: Split, epsilons: Iterable[float] = CERTIFIED_EPSILONS,
            batch_size: int = 1000) -> list[dict[str, Any]]:
    """The card's certified figures: at each L-inf eps of ``epsilons``, the fraction of ``split`` that interval
    bound propagation proves robust (``advdemo.certificates.ibp``), a lower bound on the robust accuracy."""
    if len(split) == 0:
        raise ValueError("cannot certify zero images")
    return [certified_entry(eps, len(split), verified_accuracy(model, split.images, split.labels, eps, batch_size))
            for eps in epsilons]
