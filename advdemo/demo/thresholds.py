"""Two thresholds for the digit on screen, for a class that can see the change: the smallest eps that fools each
model, and how visible a perturbation is.

Pure functions (no Streamlit, no TensorFlow). Where a model is first fooled comes from the "Look closer" sweep's
own points (``analysis.Sweep``), refined by bisection on the eps slider's grid between the sweep's last eps that
held and its first that fooled: a few more attacks (``refine``), each cached by the caller, at eps values that do
not depend on the slider's, so moving the slider never recomputes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from advdemo.configs import Norm

#: A pixel change below about 5% of the grey scale (13 of 255 levels) is hard to see on a screen or a projector; at
#: 20% (L-inf 0.2, the default) the black background of an attacked digit is a visible grey haze.
VISIBLE_CHANGE = 0.05
#: Background pixels (darker than VISIBLE_CHANGE) brightened visibly: from this many, a grey haze.
HAZE_PIXELS = 60
#: At most this many extra attacks per model when refining (a bracket of 4 slider steps needs 2 or 3).
MAX_REFINEMENTS = 4


@dataclasses.dataclass(frozen=True)
class Flip:
    """Where one model is first fooled on this digit, among the eps values tried.

    Attributes:
        fooled: the smallest eps tried that fools it (0: wrong without an attack); None if none did.
        held: the largest eps tried below ``fooled`` that did not (None if ``fooled`` is 0); with ``fooled`` None,
            the largest eps tried.
        exact: whether ``held`` and ``fooled`` are neighbours on the slider's grid (the bracket was refined).
    """

    fooled: float | None
    held: float | None
    exact: bool = False


def bracket(points: Mapping[float, bool]) -> Flip:
    """The ``Flip`` of ``points`` (each eps tried: whether it fooled the model)."""
    fooled = [eps for eps, wrong in points.items() if wrong]
    if not fooled:
        return Flip(None, max(points) if points else None)
    first = min(fooled)
    held = [eps for eps, wrong in points.items() if not wrong and eps < first]
    return Flip(first, max(held) if held else None)


def refine(points: Mapping[float, bool], step: float, is_fooled: Callable[[float], bool],
           budget: int = MAX_REFINEMENTS) -> dict[float, bool]:
    """``points`` and the eps values a bisection adds between the last one that held and the first that fooled,
    on the slider's grid (multiples of ``step``), until they are neighbours or ``budget`` attacks (``is_fooled``)
    are spent. Where the attack is not monotone in eps this finds a flip point, not always the smallest."""
    points = dict(points)
    for _ in range(budget):
        flip = bracket(points)
        if flip.fooled is None or flip.held is None:
            break
        low, high = round(flip.held / step) + 1, round(flip.fooled / step) - 1  # slider values strictly between
        if low > high:
            break
        eps = round((low + high) // 2 * step, 6)
        points[eps] = bool(is_fooled(eps))
    return points


def smallest_flip(points: Mapping[float, bool], step: float) -> Flip:
    """``bracket`` of ``points``, marked exact when its two ends are neighbours on the slider's grid."""
    flip = bracket(points)
    exact = flip.fooled is not None and (flip.fooled == 0 or (flip.held is not None and
                                                             flip.fooled - flip.held <= step * 1.001))
    return dataclasses.replace(flip, exact=exact)


def describe_flip(flip: Flip) -> str:
    """One line on where a model is first fooled (markdown)."""
    if flip.fooled is None:
        return f"Holds at every ε tried on this digit, up to {flip.held:g}."
    if flip.fooled == 0:
        return "Wrong on this digit even without an attack."
    if flip.exact:
        return f"Smallest ε that fools it on this digit: **{flip.fooled:g}** (it holds at {flip.held:g})."
    held = f"; it holds at {flip.held:g}" if flip.held is not None else ""
    return f"Fooled on this digit by ε = **{flip.fooled:g}**{held} (between the sweep's steps: not refined)."


def visibility(image: np.ndarray, adversarial: np.ndarray, norm: Norm) -> str:
    """One line on whether the change from ``image`` to ``adversarial`` (28x28, [0, 1]) can be seen: how many
    pixels change by VISIBLE_CHANGE or more, the largest change, and what it looks like."""
    delta = np.asarray(adversarial, dtype=np.float64) - np.asarray(image, dtype=np.float64)
    largest = float(np.abs(delta).max()) if delta.size else 0.0
    visible = int(np.count_nonzero(np.abs(delta) >= VISIBLE_CHANGE))
    below = (f"changes under about {VISIBLE_CHANGE:.0%} of the grey scale ({round(VISIBLE_CHANGE * 255)} of 255 "
             "levels) are hard to see")
    if visible == 0:
        return f"**Hard to see**: no pixel changes by more than {largest:.0%}, and {below}."
    haze = int(np.count_nonzero((np.asarray(image) < VISIBLE_CHANGE) & (delta >= VISIBLE_CHANGE)))
    if haze >= HAZE_PIXELS:
        looks = ", a grey haze on the black background"
    elif norm is Norm.L1 or visible < HAZE_PIXELS:
        looks = ", a few specks"
    else:
        looks = ""
    return (f"**Visible**{looks}: {visible} pixels change by {VISIBLE_CHANGE:.0%} of the grey scale or more, up to "
            f"{largest:.0%} ({round(largest * 255)} of 255 levels); {below}.")
