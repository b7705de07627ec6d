"""The strongest attack: per example, the worst case over an ensemble of diverse attacks, as AutoAttack reports.

The ensemble (Croce and Hein 2020; Andriushchenko et al. 2020), each member run only on the images that the
previous members have not fooled yet:

1. **APGD-CE**: APGD ascending the cross-entropy;
2. **APGD-T**: APGD ascending the targeted DLR loss, once for each of the ``target_classes`` classes the clean
   image ranks highest after the first (the runner-up first);
3. **a random search**: gradient-free, on the logits' margin: **Square Attack** in L-inf and L2, **Sparse-RS**
   in L1 (``advdemo.sparse_rs``). It needs no gradient, so a model that hides its gradients (gradient masking)
   does not hide from it.

In L1 the APGD runs use sparse L1 descent's direction (``advdemo.norms``).

AutoAttack's standard version runs APGD-CE (100 steps), APGD-T (9 targets x 100 steps), FAB-T (9 targets)
and Square (5,000 queries). ``EVALUATION_BUDGET`` is that budget scaled down to fit 2 CPU cores (fewer targets
and queries, no FAB-T); every model card names the budget its figures were measured with. Sparse-RS gets more
queries than Square: on the robust model at L1 eps 10 (200 images) 300 queries left 20.0% standing, 1,000 left
6.5% (``benchmarks/l1_search.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from advdemo.attacks import attack
from advdemo.config import AttackConfig, AttackLoss, Norm
from advdemo.models import predictions
from advdemo.sparse_rs import sparse_rs_attack
from advdemo.square import square_attack


@dataclasses.dataclass(frozen=True)
class StrongestConfig:
    """The ensemble's norm, radius and budget.

    Attributes:
        norm, epsilon: the ball.
        apgd_steps: steps of each APGD run.
        target_classes: APGD-T runs, one per target class (the classes ranked 2, 3, ... by the clean logits).
        square_queries: Square Attack's queries (model evaluations) per image in L-inf and L2; 0 skips it.
        sparse_rs_queries: Sparse-RS's queries per image in L1; 0 skips it.
        seed: seeds the random search (APGD's random starts follow the global seed).
    """

    norm: Norm = Norm.LINF
    epsilon: float = 0.3
    apgd_steps: int = 100
    target_classes: int = 3
    square_queries: int = 1000
    sparse_rs_queries: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", Norm.parse(self.norm))
        if not (np.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        if not (isinstance(self.apgd_steps, int) and self.apgd_steps >= 1):
            raise ValueError(f"apgd_steps must be an integer >= 1, got {self.apgd_steps!r}")
        if not (isinstance(self.target_classes, int) and 0 <= self.target_classes <= 9):
            raise ValueError(f"target_classes must be an integer 0-9, got {self.target_classes!r}")
        for name in ("square_queries", "sparse_rs_queries"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")

    @property
    def search(self) -> str:
        """The random search of this norm: ``Square`` (L-inf, L2) or ``Sparse-RS`` (L1)."""
        return "Sparse-RS" if self.norm is Norm.L1 else "Square"

    @property
    def queries(self) -> int:
        """The random search's queries in this norm."""
        return self.sparse_rs_queries if self.norm is Norm.L1 else self.square_queries

    def with_queries(self, queries: int) -> StrongestConfig:
        """This budget with ``queries`` for the random search of its norm."""
        field = "sparse_rs_queries" if self.norm is Norm.L1 else "square_queries"
        return dataclasses.replace(self, **{field: queries})

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
        """E.g. ``APGD-CE 100 + APGD-T 3x100 + Square 1000``."""
        parts = [f"APGD-CE {self.apgd_steps}"]
        if self.target_classes:
            parts.append(f"APGD-T {self.target_classes}x{self.apgd_steps}")
        if self.queries:
            parts.append(f"{self.search} {self.queries}")
        return " + ".join(parts)


#: The budget of every "strongest" figure in the model cards (AutoAttack's standard version scaled down).
EVALUATION_BUDGET = StrongestConfig(apgd_steps=100, target_classes=1, square_queries=300, sparse_rs_queries=1000)
#: The app's budget on one image: a few hundred milliseconds per model on 2 cores.
APP_BUDGET = StrongestConfig(apgd_steps=50, target_classes=2, square_queries=500, sparse_rs_queries=500)

#: Progress callback: (member name, images done, images in this member's run).
Progress = Callable[[str, int, int], None]


def strongest_attack(model, images: np.ndarray, labels: np.ndarray, config: StrongestConfig = EVALUATION_BUDGET,
                     batch_size: int = 1000, on_progress: Progress | None = None) -> np.ndarray:
    """Per example, the first adversarial image any member of the ensemble finds (else the last member's
    result, which is a point of the ball too); images the model already gets wrong are returned unchanged.

    Args:
        model: a Keras classifier, images (n, 28, 28, 1) in [0, 1] -> logits (n, 10).
        images: float32 (n, 28, 28, 1) in [0, 1]; labels: int (n,) true classes.
        config: the norm, eps and budget.
        batch_size: images attacked at once.
        on_progress: called after each batch of each member.

    Returns:
        float32 array shaped like ``images``, within ``config.epsilon`` in ``config.norm`` and inside [0, 1].
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    result = images.copy()
    if len(images) == 0 or config.epsilon == 0:
        return result
    standing = np.flatnonzero(predictions(model, images, batch_size) == labels)
    for name, member in config.members():
        if standing.size == 0:
            break
        total = standing.size
        for start in range(0, total, batch_size):
            chunk = standing[start:start + batch_size]
            if member is None and config.norm is Norm.L1:
                adversarial = sparse_rs_attack(model, images[chunk], labels[chunk], config.epsilon,
                                               queries=config.queries, seed=config.seed + start,
                                               batch_size=batch_size)
            elif member is None:
                adversarial = square_attack(model, images[chunk], labels[chunk], config.epsilon, config.norm,
                                            queries=config.queries, seed=config.seed + start,
                                            batch_size=batch_size)
            else:
                adversarial = attack(model, images[chunk], labels[chunk], member, batch_size=batch_size)
            result[chunk] = adversarial
            if on_progress is not None:
                on_progress(name, min(start + batch_size, total), total)
        standing = standing[predictions(model, result[standing], batch_size) == labels[standing]]
    return result
