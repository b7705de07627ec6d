"""One model's result as a picture file: the attacked image, its perturbation and the confidence bars, as in
section 2, drawn with Matplotlib into PNG bytes (for slides and handouts). Pure: no Streamlit.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from advdemo.demo.analysis import Outcome
from advdemo.demo.charts import FOOLED_COLOUR, HELD_COLOUR, OTHER_COLOUR


def bar_colours(outcome: Outcome, label: int) -> list[str]:
    """The confidence bars' colours, as in the app: the label green, a wrong answer red, the rest grey."""
    return [HELD_COLOUR if c == label else FOOLED_COLOUR if c == outcome.prediction else OTHER_COLOUR
            for c in range(len(outcome.adversarial_probs))]


def outcome_png(outcome: Outcome, clean: np.ndarray, label: int, title: str) -> bytes:
    """``outcome``'s attacked image, its perturbation (red brighter, blue darker, scaled to its largest change) and
    the confidence in every class after the attack (bars) and before it (black ticks), titled ``title``."""
    delta = np.asarray(outcome.adversarial, dtype=np.float64) - np.asarray(clean, dtype=np.float64)
    largest = float(np.abs(delta).max()) or 1.0
    figure = Figure(figsize=(12, 4.2), dpi=100)
    figure.suptitle(title, fontsize=16, fontweight="bold", x=0.01, ha="left")
    attacked, perturbation, bars = figure.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.8]})
    attacked.imshow(outcome.adversarial, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    attacked.set_title(f"attacked image: says {outcome.prediction} "
                       f"({outcome.adversarial_probs[outcome.prediction]:.0%})", fontsize=13)
    perturbation.imshow(delta, cmap="RdBu_r", vmin=-largest, vmax=largest, interpolation="nearest")
    perturbation.set_title(f"perturbation ×{1 / largest:.1f} (red +, blue −)", fontsize=13)
    for axis in (attacked, perturbation):
        axis.set_axis_off()
    classes = np.arange(len(outcome.adversarial_probs))
    bars.bar(classes, outcome.adversarial_probs, color=bar_colours(outcome, label), label="after the attack")
    bars.scatter(classes, outcome.clean_probs, marker="_", s=500, linewidths=3, color="black",
                 label="before the attack", zorder=3)
    bars.set_xticks(classes)
    bars.set_ylim(0, 1)
    bars.set_ylabel("confidence", fontsize=13)
    bars.set_title(f"confidence in each digit (label {label})", fontsize=13)
    bars.legend(loc="upper right", fontsize=11)
    bars.tick_params(labelsize=12)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
