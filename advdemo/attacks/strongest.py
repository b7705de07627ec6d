"""The strongest attack: per example, the worst case over an ensemble of diverse attacks, as AutoAttack reports.

The ensemble (Croce and Hein 2020; Andriushchenko et al. 2020), each member run only on the images that the
previous members have not fooled yet:

1. **APGD-CE**: APGD ascending the cross-entropy;
2. **APGD-T**: APGD ascending the targeted DLR loss, once for each of the ``target_classes`` classes the clean
   image ranks highest after the first (the runner-up first);
3. **a random search**: gradient-free, on the logits' margin: **Square Attack** in L-inf and L2, **Sparse-RS**
   in L1 (``advdemo.attacks.sparse_rs``). It needs no gradient, so a model that hides its gradients (gradient masking)
   does not hide from it.

In L1 the APGD runs use sparse L1 descent's direction (``advdemo.attacks.norms``).

AutoAttack's standard version runs APGD-CE (100 steps), APGD-T (9 targets x 100 steps), FAB-T (9 targets)
and Square (5,000 queries). ``EVALUATION_BUDGET``, the budget every card figure starts from, is that budget
without FAB-T (a minimal-norm attack, not implemented here), and Sparse-RS with as many queries in L1. A budget
is only enough when doubling it no longer moves the figure:
``converge`` runs the ensemble, then ``doubled()`` budgets on the images still standing, until one doubling
fools fewer than ``tolerance`` of them, and says whether it got there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from advdemo.attacks.gradient import attack
from advdemo.attacks.sparse_rs import sparse_rs_attack
from advdemo.attacks.square import square_attack
from advdemo.configs import EVALUATION_BUDGET, Norm, StrongestConfig
from advdemo.models import predictions

#: Images the random search attacks at once: small enough to report progress every minute or two at the cards'
#: budget on 2 cores, large enough to keep a CPU busy (a batch of 200 evaluates faster per image than one of 1,000).
SEARCH_BATCH = 200
#: Progress callback: (the stage running, e.g. ``APGD-CE-100``; images done; images in this stage).
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
    for number, (name, member) in enumerate(config.members()):
        if standing.size == 0:
            break
        total = standing.size
        # the random search reports progress every SEARCH_BATCH images: one batch of it can run for many minutes
        step = batch_size if member is not None else min(batch_size, SEARCH_BATCH * config.chains)
        for start in range(0, total, step):
            chunk = standing[start:start + step]
            seed = config.seed * 1000 + start
            if member is None and config.norm is Norm.L1:
                adversarial = sparse_rs_attack(model, images[chunk], labels[chunk], config.epsilon,
                                               queries=config.queries, seed=seed, batch_size=batch_size,
                                               chains=config.chains)
            elif member is None:
                adversarial = square_attack(model, images[chunk], labels[chunk], config.epsilon, config.norm,
                                            queries=config.queries, seed=seed, batch_size=batch_size,
                                            chains=config.chains)
            else:
                adversarial = attack(model, images[chunk], labels[chunk], member, batch_size=batch_size,
                                     seed=seed * 100 + number)
            result[chunk] = adversarial
            if on_progress is not None:
                on_progress(name, min(start + step, total), total)
        standing = standing[predictions(model, result[standing], batch_size) == labels[standing]]
    return result


def member_costs(config: StrongestConfig) -> list[tuple[str, float]]:
    """(member name, model evaluations per image) of each member: an APGD step is a forward and a backward
    pass, about 3 forward passes; a random search makes ``queries`` forward passes per chain. For progress
    bars: members run on fewer and fewer images, so the true shares differ, but far less than by counting
    members (9 APGD-T runs cost less than one Square run of 5,000 queries)."""
    return [(name, 3.0 * config.apgd_steps if member is not None else float(config.queries * config.chains))
            for name, member in config.members()]


@dataclasses.dataclass(frozen=True)
class Converged:
    """What ``converge`` found.

    Attributes:
        adversarial: per image, the first adversarial image any run found (else the first run's result).
        budget: the budget whose doubling moved the figure by less than the tolerance (when ``passed``), else
            the largest budget run.
        runs: (budget described, accuracy on the checked images once it had run) for each run, in order; the
            first run covers every image, each doubling only the checked images still standing.
        moved: points (0-100) the last doubling lowered the accuracy on the checked images; None if none ran.
        passed: the last doubling moved it by less than the tolerance (or nothing was left standing).
        checked: how many images the doublings ran on.
    """

    adversarial: np.ndarray
    budget: StrongestConfig
    runs: tuple[tuple[str, float], ...]
    moved: float | None
    passed: bool
    checked: int


def converge(model, images: np.ndarray, labels: np.ndarray, config: StrongestConfig = EVALUATION_BUDGET, *,
             tolerance: float = 0.5, max_doublings: int = 2, check: np.ndarray | None = None,
             batch_size: int = 1000, on_progress: Callable[[str, float], None] | None = None) -> Converged:
    """The strongest attack at ``config``, then at twice its budget, four times, ..., until a doubling moves
    the accuracy by less than ``tolerance`` points, at most ``max_doublings`` times.

    Each doubling (``StrongestConfig.doubled``, a fresh seed) runs only on the images of ``check`` (default:
    all) that every earlier run left standing, so an image counts as robust only if every run failed on it,
    and the doubled run costs about twice the first one on the images still standing. A doubling that fools
    fewer than ``tolerance`` % of the checked images shows the budget before it was enough:

        moved_k = 100 * (acc_check(runs 0..k-1) - acc_check(runs 0..k)) < tolerance  ->  converged at run k-1

    Args:
        check: indices of the images the doublings run on (e.g. a fixed sample of a large test set); the
            accuracy ``moved`` is measured on them.
        on_progress: called as ``on_progress(stage, fraction of that stage done)``; stages ``"budget"`` and
            ``"doubling 1"``, ``"doubling 2"``, ...

    Long because it is the doubling loop and its bookkeeping (the runs, the images checked, the verdict) in one
    place, read top to bottom.
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    check = np.arange(len(images)) if check is None else np.asarray(check, np.int64)

    def stage_progress(stage: str, budget: StrongestConfig) -> Progress:
        """Progress of one run, each member weighted by its cost per image (``member_costs``)."""
        costs = dict(member_costs(budget))
        total, done = sum(costs.values()), {}

        def progress(member: str, count: int, images: int) -> None:
            done[member] = costs[member] * count / max(images, 1)
            if on_progress is not None:
                on_progress(stage, min(1.0, sum(done.values()) / total))
        return progress

    result = strongest_attack(model, images, labels, config, batch_size, stage_progress("budget", config))
    standing = predictions(model, result, batch_size) == labels
    runs = [(config.describe(), float(standing[check].mean()) if check.size else 0.0)]
    budget, moved, passed = config, None, False
    for doubling in range(1, max_doublings + 1):
        chosen = check[standing[check]]
        if chosen.size == 0:
            moved, passed = 0.0, True
            break
        stronger = budget.doubled()
        found = strongest_attack(model, images[chosen], labels[chosen], stronger, batch_size,
                                 stage_progress(f"doubling {doubling}", stronger))
        fooled = predictions(model, found, batch_size) != labels[chosen]
        result[chosen[fooled]] = found[fooled]
        standing[chosen[fooled]] = False
        runs.append((stronger.describe(), float(standing[check].mean())))
        moved = 100.0 * (runs[-2][1] - runs[-1][1])
        passed = moved < tolerance
        if passed:
            break
        budget = stronger
    return Converged(result, budget, tuple(runs), moved, passed, int(check.size))
