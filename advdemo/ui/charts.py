"""Pictures and charts, sized for a projector: big fonts, high contrast, colour-blind-safe model colours.

Pure functions (no Streamlit): NumPy images for ``st.image``, Altair charts for ``st.altair_chart`` and a
Matplotlib figure rendered to PNG bytes for the batch grid.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from advdemo.registry import colour_of
from advdemo.ui.analysis import BatchResult, Outcome, Sweep

HELD_COLOUR = "#1B7F3B"
FOOLED_COLOUR = "#C0151B"
OTHER_COLOUR = "#9AA0A6"
#: Axis labels, titles and legends: black, not the theme's grey (a projector washes grey out).
TEXT_COLOUR = "#000000"
FONT_SIZE = 16
TITLE_SIZE = 18
#: Pixels per MNIST pixel when an image is shown.
UPSCALE = 8


def model_colour(name: str) -> str:
    """The colour of a model in every chart: the registry's (Okabe-Ito, colour-blind safe)."""
    return colour_of(name)


def upscale(image: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """A [0, 1] grey image (H, W) -> uint8 (H*factor, W*factor), nearest neighbour (crisp pixels)."""
    pixels = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    pixels = np.kron(pixels, np.ones((factor, factor)))
    return np.round(pixels * 255).astype(np.uint8)


def perturbation_picture(delta: np.ndarray, factor: int = UPSCALE) -> tuple[np.ndarray, float]:
    """The perturbation (H, W) on a diverging colour map (red: brighter, blue: darker, white: unchanged),
    amplified so that its largest change fills the scale. Returns (uint8 RGB image, amplification)."""
    delta = np.asarray(delta, dtype=np.float64)
    largest = float(np.abs(delta).max())
    amplification = 1.0 / largest if largest > 0 else 1.0
    scaled = 0.5 + 0.5 * np.clip(delta * amplification, -1.0, 1.0)
    rgb = colormaps["RdBu_r"](scaled)[..., :3]
    rgb = np.kron(rgb, np.ones((factor, factor, 1)))
    return np.round(rgb * 255).astype(np.uint8), amplification


def _configure(chart: alt.TopLevelMixin, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Projector-sized fonts; the width fits the page and the height is the plot's own (Streamlit's default
    "fit" would squeeze the plot to make room for the title and legend)."""
    chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    return (chart.configure_axis(labelFontSize=font_size, titleFontSize=font_size, grid=True, labelColor=TEXT_COLOUR,
                                 titleColor=TEXT_COLOUR)
            .configure_legend(labelFontSize=font_size, titleFontSize=font_size, symbolSize=200, orient="bottom",
                              labelColor=TEXT_COLOUR, titleColor=TEXT_COLOUR)
            .configure_title(fontSize=font_size + 2, anchor="start", color=TEXT_COLOUR))


#: The confidence bars' legend entry for the black tick.
BEFORE_ATTACK = "before the attack"
#: The classes on the confidence bars' x axis, every one labelled.
CLASSES = [str(c) for c in range(10)]


def confidence_bars(outcome: Outcome, label: int, height: int = 220, font_size: int = FONT_SIZE) -> alt.TopLevelMixin:
    """Bars of the 10 class probabilities after the attack; a black tick marks each before the attack, and a
    legend on the chart says so.

    The stated label's bar is green; a wrong predicted class's bar is red. Every digit 0-9 is labelled on the x
    axis, however narrow the chart (Vega-Lite would otherwise drop every other label when they crowd).
    """
    prediction = outcome.prediction
    roles = ["label" if c == label else "wrong answer" if c == prediction else "other" for c in range(10)]
    data = pd.DataFrame({"class": CLASSES, "after attack": outcome.adversarial_probs,
                         "before attack": outcome.clean_probs, "role": roles, "tick": BEFORE_ATTACK})
    colour = alt.Color("role:N", scale=alt.Scale(domain=["label", "wrong answer", "other"],
                                                 range=[HELD_COLOUR, FOOLED_COLOUR, OTHER_COLOUR]), legend=None)
    x = alt.X("class:N", sort=CLASSES, scale=alt.Scale(domain=CLASSES), title=None,
              axis=alt.Axis(values=CLASSES, labelOverlap=False, labelAngle=0, labelFontSize=font_size + 2,
                            labelPadding=2))
    y = alt.Y("after attack:Q", scale=alt.Scale(domain=[0, 1]), title="after the attack",
              axis=alt.Axis(format="%", tickCount=5))
    bars = alt.Chart(data).mark_bar().encode(x=x, y=y, color=colour,
                                             tooltip=["class", alt.Tooltip("after attack:Q", format=".1%"),
                                                      alt.Tooltip("before attack:Q", format=".1%")])
    tick_key = alt.Stroke("tick:N", scale=alt.Scale(domain=[BEFORE_ATTACK], range=["black"]),
                          legend=alt.Legend(title=None, symbolType="stroke", symbolStrokeWidth=4, symbolSize=300))
    ticks = alt.Chart(data).mark_tick(color="black", thickness=3, size=22).encode(x=x, y="before attack:Q",
                                                                                stroke=tick_key)
    return _configure((bars + ticks).properties(height=height), font_size)


def sweep_chart(result: Sweep, names: Sequence[str], current: float, title: str) -> alt.TopLevelMixin:
    """Confidence in the label against eps for each model, a cross where each model is first fooled and a
    grey line at the current eps."""
    rows = [{"model": name, "eps": float(eps), "confidence": float(conf)}
            for name in names for eps, conf in zip(result.epsilons, result.confidence[name])]
    data = pd.DataFrame(rows)
    colour = alt.Color("model:N", scale=alt.Scale(domain=list(names), range=[model_colour(n) for n in names]),
                       title="model")
    x = alt.X("eps:Q", title="ε (attack size)", axis=alt.Axis(tickCount=8))
    lines = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=80), strokeWidth=4).encode(
        x=x, y=alt.Y("confidence:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                     title=f"confidence in {result.label}"),
        color=colour, tooltip=["model", alt.Tooltip("eps:Q", format=".3g"),
                               alt.Tooltip("confidence:Q", format=".1%")])
    flips = []
    for name in names:
        eps = result.first_fooled(name)
        if eps is not None:
            index = int(np.flatnonzero(result.epsilons == eps)[0])
            flips.append({"model": name, "eps": eps, "confidence": float(result.confidence[name][index])})
    layers = [lines]
    if flips:
        layers.append(alt.Chart(pd.DataFrame(flips)).mark_point(shape="cross", size=500, filled=True,
                                                                 strokeWidth=2).encode(
            x=x, y="confidence:Q", color=colour, tooltip=["model", alt.Tooltip("eps:Q", title="first fooled at ε")]))
    layers.append(_rule(current))
    return _configure(alt.layer(*layers).properties(height=320, title=title))


def _rule(eps: float) -> alt.Chart:
    """A grey vertical line at the current eps."""
    return alt.Chart(pd.DataFrame({"eps": [eps]})).mark_rule(color="#888888", strokeWidth=3,
                                                             opacity=0.7).encode(x="eps:Q")


def accuracy_chart(rows: list[dict[str, Any]], names: Sequence[str], current: float, title: str) -> alt.TopLevelMixin:
    """Test-set accuracy against eps from the cards' sweeps: colour per model, dashes per attack."""
    data = pd.DataFrame(rows)
    present = [name for name in names if name in set(data["model"])]
    colour = alt.Color("model:N", scale=alt.Scale(domain=present, range=[model_colour(n) for n in present]),
                       title="model")
    attacks = sorted(set(data["attack"]), key=lambda name: (name == "FGSM", name))  # PGD solid, FGSM dashed
    dash = alt.StrokeDash("attack:N", title="attack",
                          scale=alt.Scale(domain=attacks, range=[[1, 0], [8, 5], [2, 3]][:len(attacks)]),
                          legend=None)  # the title says which is which
    chart = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=60), strokeWidth=4).encode(
        x=alt.X("eps:Q", title="ε (attack size)", axis=alt.Axis(tickCount=8)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="test accuracy"),
        color=colour, strokeDash=dash, detail="attack:N",
        tooltip=["model", "attack", alt.Tooltip("eps:Q", format=".3g"), alt.Tooltip("accuracy:Q", format=".1%"),
                 "n"])
    return _configure(alt.layer(chart, _rule(current)).properties(height=360, title=title))


def batch_grid_png(result: BatchResult, names: Sequence[str], shown: str, columns: int = 8) -> bytes:
    """The batch as a grid of adversarial digits (those crafted for ``shown``), each titled with the true
    label, and under it each model's prediction (first letter of its name) in green (right) or red (wrong)."""
    count = len(result.labels)
    rows = int(np.ceil(count / columns))
    figure = Figure(figsize=(columns * 1.55, rows * 2.0), dpi=90)
    figure.subplots_adjust(left=0.01, right=0.99, top=1 - 0.25 / (rows * 2.0), bottom=0.35 / (rows * 2.0),
                           wspace=0.08, hspace=0.6)
    for i in range(rows * columns):
        axis = figure.add_subplot(rows, columns, i + 1)
        axis.set_axis_off()
        if i >= count:
            continue
        axis.imshow(result.adversarial[shown][i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        label = int(result.labels[i])
        axis.set_title(f"true {label}", fontsize=15, fontweight="bold", pad=3)
        for k, name in enumerate(names):
            prediction = int(result.predictions[name][i])
            axis.text((k + 0.5) / len(names), -0.04, f"{name[0]}:{prediction}", transform=axis.transAxes,
                      ha="center", va="top", fontsize=15, fontweight="bold",
                      color=HELD_COLOUR if prediction == label else FOOLED_COLOUR)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
