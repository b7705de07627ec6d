"""Honest robustness figures: clean accuracy, white-box and transfer attacks, eps sweeps, sanity checks.

Follows the checklist of Athalye et al. 2018, Carlini et al. 2019 and Croce & Hein 2020: attack the model
under test on its own logits (white-box) and label transfer figures as such; PGD from a random start with
40 steps of eps/10 and several restarts, worst case per example; then check that accuracy falls as eps
grows, PGD <= FGSM, more steps or restarts never raise accuracy, L-inf eps 1.0 gives ~0%, and a transfer
attack never beats the white-box one. A failed check is reported, never hidden: the tutorial's model fails
some of them (gradient masking).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from advdemo.attacks import attack
from advdemo.config import AttackConfig, Norm
from advdemo.data import Split

WHITE_BOX = "white-box"


@dataclasses.dataclass(frozen=True)
class AttackSpec:
    """One row of a model card's ``metrics``: which attack, from which model's gradients.

    ``attack`` is ``none`` (clean), ``fgsm`` or ``pgd``; ``source`` is ``white-box`` (the model under test)
    or the name of the model the attack is computed on (a transfer attack, e.g. ``base``).
    """

    attack: str = "none"
    norm: Norm = Norm.LINF
    eps: float = 0.0
    steps: int = 0
    step_size: float = 0.0
    restarts: int = 0
    source: str = WHITE_BOX

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

    def config(self) -> AttackConfig | None:
        """The ``AttackConfig`` to run (``None`` for clean)."""
        if self.attack == "none":
            return None
        if self.attack == "fgsm":
            return AttackConfig.fgsm(self.eps, self.norm)
        return AttackConfig.pgd(self.eps, self.norm, steps=self.steps, step_size=self.step_size,
                                restarts=self.restarts)

    def describe(self) -> str:
        if self.attack == "none":
            return "clean"
        name = "FGSM" if self.attack == "fgsm" else f"PGD-{self.steps}"
        if self.attack == "pgd" and self.restarts > 1:
            name += f" x{self.restarts}"
        origin = "" if self.source == WHITE_BOX else f" from {self.source} (transfer)"
        return f"{name} {self.norm.label} {self.eps:g}{origin}"

    def as_entry(self, n: int, accuracy: float) -> dict[str, Any]:
        """The model-card entry: attack, norm, eps, steps, step_size, restarts, source, n and accuracy."""
        return {"attack": self.attack, "norm": self.norm.value, "eps": self.eps, "steps": self.steps,
                "step_size": self.step_size, "restarts": self.restarts, "source": self.source, "n": n,
                "accuracy": round(accuracy, 5)}


#: The figures every bundled model's card carries (the tutorial's attack is FGSM L-inf 0.2 from ``base``).
STANDARD_SUITE: tuple[AttackSpec, ...] = (
    AttackSpec.clean(),
    AttackSpec.fgsm(0.2, source="base"),
    *(AttackSpec.fgsm(eps) for eps in (0.1, 0.2, 0.3)),
    *(AttackSpec.pgd(eps) for eps in (0.1, 0.2, 0.3)),
    AttackSpec.pgd(2.0, Norm.L2),
    AttackSpec.pgd(10.0, Norm.L1),
    # only for the sanity checks: fewer steps, one restart, and the whole pixel range.
    AttackSpec.pgd(0.2, steps=10, restarts=1),
    AttackSpec.pgd(0.2, steps=40, restarts=1),
    AttackSpec.pgd(1.0, steps=20, restarts=1, step_size=0.1),
)

#: Accuracy-vs-eps curves (FGSM and one-restart PGD-40 in each norm), on a subset of the test set.
SWEEP_EPSILONS: dict[Norm, tuple[float, ...]] = {
    Norm.LINF: (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4),
    Norm.L2: (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    Norm.L1: (2.5, 5.0, 10.0, 15.0, 20.0),
}


def sweep_suite() -> list[AttackSpec]:
    """FGSM and PGD-40 (one restart) at every eps of ``SWEEP_EPSILONS``."""
    return [spec for norm, epsilons in SWEEP_EPSILONS.items() for eps in epsilons
            for spec in (AttackSpec.fgsm(eps, norm), AttackSpec.pgd(eps, norm, restarts=1))]


@tf.function(reduce_retracing=True)
def _logits(model, images):
    return model(images, training=False)


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logits float32 (n, 10) of ``images`` float32 (n, 28, 28, 1) in [0, 1] (compiled, batched)."""
    images = np.asarray(images, np.float32)
    if len(images) == 0:
        return np.zeros((0, 10), np.float32)
    return np.concatenate([_logits(model, tf.constant(images[i:i + batch_size])).numpy()
                           for i in range(0, len(images), batch_size)])


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``images`` whose arg-max logit equals ``labels``: a float in [0, 1]."""
    if len(labels) == 0:
        raise ValueError("cannot measure accuracy on zero images")
    return float(np.mean(np.argmax(predict_logits(model, images, batch_size), axis=1) == np.asarray(labels)))


def evaluate(model: keras.Model, split: Split, specs: Iterable[AttackSpec],
             sources: dict[str, keras.Model] | None = None, batch_size: int = 1000,
             on_result: Callable[[AttackSpec, float], None] | None = None) -> list[dict[str, Any]]:
    """Accuracy of ``model`` under each attack of ``specs`` on ``split``; returns model-card entries.

    A spec whose ``source`` is not ``white-box`` is computed on ``sources[source]`` and fed to ``model``.
    """
    sources = sources or {}
    entries = []
    for spec in specs:
        config = spec.config()
        if config is None:
            images = split.images
        else:
            if spec.source != WHITE_BOX and spec.source not in sources:
                raise ValueError(f"{spec.describe()} needs the source model {spec.source!r}: pass it in sources")
            attacked = model if spec.source == WHITE_BOX else sources[spec.source]
            images = attack(attacked, split.images, split.labels, config, batch_size=batch_size)
        value = accuracy(model, images, split.labels, batch_size)
        if on_result is not None:
            on_result(spec, value)
        entries.append(spec.as_entry(len(split), value))
    return entries


def find_entry(entries: Iterable[dict[str, Any]], spec: AttackSpec) -> dict[str, Any] | None:
    """The entry of ``entries`` measured with ``spec`` (``None`` if absent)."""
    wanted = spec.as_entry(0, 0.0)
    keys = ("attack", "norm", "eps", "steps", "step_size", "restarts", "source")
    for entry in entries:
        if all(entry.get(key) == wanted[key] for key in keys):
            return entry
    return None


def sanity_checks(entries: list[dict[str, Any]], tolerance: float = 0.002) -> list[dict[str, Any]]:
    """Gradient-masking checks over ``entries`` of the standard suite: a list of
    {"check", "passed", "detail"}. ``tolerance`` absorbs the noise of random starts (0.2 points)."""

    def acc(spec: AttackSpec) -> float | None:
        entry = find_entry(entries, spec)
        return None if entry is None else entry["accuracy"]

    def check(name: str, pairs: list[tuple[AttackSpec, AttackSpec]]) -> dict[str, Any] | None:
        """Passes when acc(weaker) + tolerance >= acc(stronger) for every pair (weaker, stronger)."""
        values = [(weaker, stronger, acc(weaker), acc(stronger)) for weaker, stronger in pairs]
        if any(a is None or b is None for *_, a, b in values):
            return None
        failures = [f"{w.describe()} {a:.2%} < {s.describe()} {b:.2%}" for w, s, a, b in values if a + tolerance < b]
        detail = "; ".join(failures) if failures else ", ".join(
            f"{w.describe()} {a:.2%} >= {s.describe()} {b:.2%}" for w, s, a, b in values)
        return {"check": name, "passed": not failures, "detail": detail}

    linf = (0.1, 0.2, 0.3)
    results = [
        check("PGD accuracy falls as eps grows",
              [(AttackSpec.clean(), AttackSpec.pgd(linf[0]))]
              + [(AttackSpec.pgd(a), AttackSpec.pgd(b)) for a, b in zip(linf, linf[1:])]),
        check("FGSM accuracy falls as eps grows",
              [(AttackSpec.clean(), AttackSpec.fgsm(linf[0]))]
              + [(AttackSpec.fgsm(a), AttackSpec.fgsm(b)) for a, b in zip(linf, linf[1:])]),
        check("PGD <= FGSM", [(AttackSpec.fgsm(eps), AttackSpec.pgd(eps)) for eps in linf]),
        check("more steps never raise accuracy",
              [(AttackSpec.pgd(0.2, steps=10, restarts=1), AttackSpec.pgd(0.2, steps=40, restarts=1))]),
        check("more restarts never raise accuracy",
              [(AttackSpec.pgd(0.2, restarts=1), AttackSpec.pgd(0.2, restarts=3))]),
        # A white-box FGSM weaker than the same FGSM computed on another model means the model's own gradients
        # point nowhere useful: the signature of gradient masking (Athalye et al. 2018).
        check("transfer attack never beats white-box",
              [(AttackSpec.fgsm(0.2, source="base"), AttackSpec.fgsm(0.2)),
               (AttackSpec.fgsm(0.2, source="base"), AttackSpec.pgd(0.2))]),
    ]
    unbounded = acc(AttackSpec.pgd(1.0, steps=20, restarts=1, step_size=0.1))
    if unbounded is not None:
        results.append({"check": "L-inf eps 1.0 gives about 0%", "passed": unbounded <= 0.01,
                        "detail": f"PGD-20 L-inf 1.0: {unbounded:.2%} (must be <= 1%)"})
    return [result for result in results if result is not None]
