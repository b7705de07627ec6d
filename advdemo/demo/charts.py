"""Pictures and charts, sized for a projector: big fonts, high contrast, colour-blind-safe model colours.

Pure functions (no Streamlit): NumPy images for ``st.image``, the confidence bars as a little HTML (styled by
``BARS_CSS``, part of ``advdemo.ui.style.CSS``), the sweep chart as a Vega-Lite spec for ``st.vega_lite_chart``,
Altair charts for ``st.altair_chart`` (Altair imported only when one is drawn) and a Matplotlib figure rendered
to PNG bytes for the batch grid.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from advdemo.demo.analysis import BatchResult, Outcome, Sweep
from advdemo.demo.i18n import N_
from advdemo.models.registry import colour_of

if TYPE_CHECKING:
    import altair as alt

HELD_COLOUR = "#1B7F3B"
FOOLED_COLOUR = "#C0151B"
OTHER_COLOUR = "#9AA0A6"
#: The grey line at the current eps (or step).
RULE_COLOUR = "#888888"
#: Axis labels, titles and legends: black, not the theme's grey (a projector washes grey out).
TEXT_COLOUR = "#000000"
FONT_SIZE = 16
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


#: Projector-sized, black text for every chart (Vega-Lite's ``config``; ``_configure`` applies it to Altair's).
CHART_CONFIG = {
    "axis": {"labelFontSize": FONT_SIZE, "titleFontSize": FONT_SIZE, "grid": True, "labelColor": TEXT_COLOUR,
             "titleColor": TEXT_COLOUR},
    "legend": {"labelFontSize": FONT_SIZE, "titleFontSize": FONT_SIZE, "symbolSize": 200, "orient": "bottom",
               "labelColor": TEXT_COLOUR, "titleColor": TEXT_COLOUR},
    "title": {"fontSize": FONT_SIZE + 2, "anchor": "start", "color": TEXT_COLOUR},
}
#: The width fits the page and the height is the plot's own (Streamlit's default "fit" would squeeze the plot to
#: make room for the title and legend).
AUTOSIZE = {"type": "fit-x", "contains": "padding"}


def _configure(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """An Altair chart with ``AUTOSIZE`` and ``CHART_CONFIG``."""
    return (chart.properties(autosize=AUTOSIZE).configure_axis(**CHART_CONFIG["axis"])
            .configure_legend(**CHART_CONFIG["legend"]).configure_title(**CHART_CONFIG["title"]))


#: The confidence bars' legend entry for the black tick.
BEFORE_ATTACK = N_("before the attack")
#: The confidence bars' look (part of ``advdemo.ui.style.CSS``): the bars in the chart colours, black tick, legend
#: and labels, sizes in rem so that presentation mode's larger type enlarges them too.
BARS_CSS = (
    ".advdemo-bars { margin: 0.3rem 0 0.8rem 0; color: " + TEXT_COLOUR + "; }\n"
    ".advdemo-bars-title { font-size: 0.85rem; margin-left: 2.8rem; }\n"
    ".advdemo-bars-plot { position: relative; display: flex; align-items: flex-end; margin: 1.3rem 0 0 2.8rem;"
    " border-bottom: 2px solid " + TEXT_COLOUR + "; }\n"
    ".advdemo-bar-grid { position: absolute; left: 0; right: 0; height: 0; border-top: 1px solid #D0D0D0; }\n"
    ".advdemo-bar-grid span { position: absolute; right: 100%; margin-right: 0.3rem; font-size: 0.75rem;"
    " line-height: 1; transform: translateY(-50%); }\n"
    ".advdemo-bar-column { position: relative; flex: 1; height: 100%; display: flex; align-items: flex-end;"
    " justify-content: center; }\n"
    ".advdemo-bar { position: relative; width: 72%; min-height: 1px; }\n"
    ".advdemo-bar-label { background: " + HELD_COLOUR + "; }\n"
    ".advdemo-bar-wrong { background: " + FOOLED_COLOUR + "; }\n"
    ".advdemo-bar-other { background: " + OTHER_COLOUR + "; }\n"
    ".advdemo-bar-value { position: absolute; bottom: 100%; left: 50%; transform: translateX(-50%);"
    " font-size: 0.8rem; font-weight: 700; line-height: 1.2; white-space: nowrap; }\n"
    ".advdemo-bar-value-inside { bottom: auto; top: 0.15rem; color: #FFFFFF; }\n"
    ".advdemo-bar-tick { position: absolute; left: 6%; right: 6%; height: 0; border-top: 3px solid #000000;"
    " transform: translateY(50%); }\n"
    ".advdemo-bars-digits { display: flex; margin-left: 2.8rem; }\n"
    ".advdemo-bars-digits span { flex: 1; text-align: center; font-size: 1.05rem; font-weight: 700; }\n"
    ".advdemo-bars-legend { margin-left: 2.8rem; font-size: 0.85rem; }\n"
    ".advdemo-bars-key { display: inline-block; width: 1.6rem; margin-right: 0.4rem; vertical-align: middle;"
    " border-top: 3px solid #000000; }\n"
)
#: A bar at least this high carries its percentage inside its top, in white (above it, a tick could cover it).
VALUE_INSIDE = 0.25
#: Gridlines of the confidence bars (fractions), each labelled on the left.
BAR_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def confidence_bars(outcome: Outcome, label: int, height: int, gettext: Callable[[str], str] = str) -> str:
    """The 10 class probabilities after the attack as bars ``height`` pixels high at 100%, a black tick on each at
    its value before the attack, and a legend that says so: HTML for ``st.html`` (styled by ``BARS_CSS``).

    The stated label's bar is green; a wrong predicted class's bar is red (and both carry their percentage).
    Every digit 0-9 is labelled under its bar, however narrow the column. Plain HTML rather than a Vega-Lite
    chart: three of these are redrawn on every move of a slider, and a browser draws them about as fast as
    text (the three charts cost the server 0.12 and the browser 0.2 CPU-seconds per slider move; ``python
    benchmarks/load_test.py --one-at-a-time``). Only numbers and fixed words go into it (nothing a user typed),
    escaped all the same. ``gettext``: the words' language (``advdemo.demo.i18n``).
    """
    _ = gettext
    prediction = outcome.prediction
    columns = []
    for digit in range(10):
        after, before = float(outcome.adversarial_probs[digit]), float(outcome.clean_probs[digit])
        role = "label" if digit == label else "wrong" if digit == prediction else "other"
        inside = " advdemo-bar-value-inside" if after >= VALUE_INSIDE else ""  # clear of a tick above the bar
        value = f'<span class="advdemo-bar-value{inside}">{after:.0%}</span>' if role != "other" else ""
        tooltip = html.escape(_("{digit}: {after} after the attack, {before} before").format(
            digit=digit, after=f"{after:.1%}", before=f"{before:.1%}"), quote=True)
        columns.append(
            f'<div class="advdemo-bar-column" title="{tooltip}">'
            f'<div class="advdemo-bar advdemo-bar-{role}" style="height:{100 * after:.2f}%">{value}</div>'
            f'<div class="advdemo-bar-tick" style="bottom:{100 * before:.2f}%"></div></div>')
    grid = "".join(f'<div class="advdemo-bar-grid" style="bottom:{100 * level:g}%"><span>{level:.0%}</span></div>'
                   for level in BAR_GRID)
    digits = "".join(f"<span>{digit}</span>" for digit in range(10))
    summary = html.escape(", ".join(f"{digit}: {float(p):.0%}" for digit, p in enumerate(outcome.adversarial_probs)))
    aria = html.escape(_("Confidence after the attack: {summary}"), quote=True).format(summary=summary)
    heading = html.escape(_("after the attack"))
    return (f'<div class="advdemo-bars" role="img" aria-label="{aria}">'
            f'<div class="advdemo-bars-title">{heading}</div>'
            f'<div class="advdemo-bars-plot" style="height:{int(height)}px">{grid}{"".join(columns)}</div>'
            f'<div class="advdemo-bars-digits">{digits}</div>'
            f'<div class="advdemo-bars-legend"><span class="advdemo-bars-key"></span>{html.escape(_(BEFORE_ATTACK))}'
            f'</div></div>')


def sweep_chart(result: Sweep, names: Sequence[str], current: float, title: str,
                gettext: Callable[[str], str] = str) -> dict[str, Any]:
    """Confidence in the label against eps for each model, a cross where each model is first fooled and a
    grey line at the current eps: a Vega-Lite spec for ``st.vega_lite_chart``.

    A plain spec rather than Altair's objects: it is redrawn on every move of the slider, and building and
    validating it with Altair cost the server more than the rest of the chart (and importing Altair, 0.3 s,
    delayed the first page). ``gettext``: the axes' language."""
    _ = gettext
    rows = [{"model": name, "eps": float(eps), "confidence": float(conf)}
            for name in names for eps, conf in zip(result.epsilons, result.confidence[name])]
    colour = {"field": "model", "type": "nominal", "title": _("model"),
              "scale": {"domain": list(names), "range": [model_colour(name) for name in names]}}
    x = {"field": "eps", "type": "quantitative", "title": _("ε (attack size)"), "axis": {"tickCount": 8}}
    layers = [{"data": {"values": rows}, "mark": {"type": "line", "point": {"size": 80}, "strokeWidth": 4},
               "encoding": {"x": x, "color": colour,
                            "y": {"field": "confidence", "type": "quantitative", "scale": {"domain": [0, 1]},
                                  "axis": {"format": "%"},
                                  "title": _("confidence in {label}").format(label=result.label)},
                            "tooltip": [{"field": "model", "type": "nominal"},
                                        {"field": "eps", "type": "quantitative", "format": ".3g"},
                                        {"field": "confidence", "type": "quantitative", "format": ".1%"}]}}]
    flips = []
    for name in names:
        eps = result.first_fooled(name)
        if eps is not None:
            index = int(np.flatnonzero(result.epsilons == eps)[0])
            flips.append({"model": name, "eps": eps, "confidence": float(result.confidence[name][index])})
    if flips:
        layers.append({"data": {"values": flips},
                       "mark": {"type": "point", "shape": "cross", "size": 500, "filled": True, "strokeWidth": 2},
                       "encoding": {"x": x, "y": {"field": "confidence", "type": "quantitative"}, "color": colour,
                                    "tooltip": [{"field": "model", "type": "nominal"},
                                                {"field": "eps", "type": "quantitative",
                                                 "title": _("first fooled at ε")}]}})
    layers.append({"data": {"values": [{"eps": float(current)}]},
                   "mark": {"type": "rule", "color": RULE_COLOUR, "strokeWidth": 3, "opacity": 0.7},
                   "encoding": {"x": {"field": "eps", "type": "quantitative"}}})
    return {"title": title, "height": 320, "autosize": AUTOSIZE, "config": CHART_CONFIG, "layer": layers}


def _rule(eps: float) -> alt.Chart:
    """A grey vertical line at the current eps."""
    import altair as alt
    import pandas as pd

    return alt.Chart(pd.DataFrame({"eps": [eps]})).mark_rule(color=RULE_COLOUR, strokeWidth=3,
                                                             opacity=0.7).encode(x="eps:Q")


def accuracy_chart(rows: list[dict[str, Any]], names: Sequence[str], current: float, title: str,
                   gettext: Callable[[str], str] = str) -> alt.TopLevelMixin:
    """Test-set accuracy against eps from the cards' sweeps: colour per model, dashes per attack (``gettext``: the
    axes' language)."""
    _ = gettext
    import altair as alt  # here, not at the top: the first page draws no Altair chart
    import pandas as pd

    data = pd.DataFrame(rows)
    present = [name for name in names if name in set(data["model"])]
    colour = alt.Color("model:N", scale=alt.Scale(domain=present, range=[model_colour(n) for n in present]),
                       title=_("model"))
    attacks = sorted(set(data["attack"]), key=lambda name: (name == "FGSM", name))  # PGD solid, FGSM dashed
    dash = alt.StrokeDash("attack:N", title=_("attack"),
                          scale=alt.Scale(domain=attacks, range=[[1, 0], [8, 5], [2, 3]][:len(attacks)]),
                          legend=None)  # the title says which is which
    chart = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=60), strokeWidth=4).encode(
        x=alt.X("eps:Q", title=_("ε (attack size)"), axis=alt.Axis(tickCount=8)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=_("test accuracy")),
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


#: The live view's accuracy lines: (the ``EpochPoint`` field, legend label, colour, dash).
TRAINING_LINES = (("clean", N_("clean"), "#000000", [1, 0]),
                  ("own_attack", N_("under its training attack"), "#0072B2", [8, 5]),
                  ("pgd", N_("under PGD (white-box)"), FOOLED_COLOUR, [2, 3]))


def training_charts(history: Sequence[tuple[float, float, float]], points: Sequence[Any], epochs: int,
                    images: int, gettext: Callable[[str], str] = str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The live view of a training, as two Vega-Lite specs: the running loss per batch, and after each epoch the
    accuracy on ``images`` test images clean, under the training's own attack and under a short PGD (``points``
    are ``advdemo.training.jobs.EpochPoint``). Both x axes span the whole run (0 to ``epochs``), so the curves
    grow from the left and a cancelled run keeps a readable axis. ``gettext``: the words' language."""
    _ = gettext
    lines = tuple((field, _(label), colour, dash) for field, label, colour, dash in TRAINING_LINES)
    x_scale = {"domain": [0, max(1, epochs)], "nice": False}
    loss_rows = [{"epoch": float(epoch), "loss": float(loss)} for epoch, loss, _ in history if np.isfinite(loss)]
    loss = {"title": _("training loss"), "height": 260, "autosize": AUTOSIZE, "config": CHART_CONFIG,
            "data": {"values": loss_rows},
            "mark": {"type": "line", "strokeWidth": 3, "color": TEXT_COLOUR},
            "encoding": {"x": {"field": "epoch", "type": "quantitative", "title": _("epoch"), "scale": x_scale,
                               "axis": {"tickMinStep": 1}},
                         "y": {"field": "loss", "type": "quantitative", "title": _("loss"), "scale": {"zero": True}}}}
    rows = [{"epoch": point.epoch, "line": label, "accuracy": float(getattr(point, field))}
            for point in points for field, label, _, _ in lines if getattr(point, field) is not None]
    shown = [line for line in lines if any(row["line"] == line[1] for row in rows)] or list(lines)
    accuracy = {"title": _("after each epoch, on {count} test images").format(count=f"{images:,}"), "height": 260,
                "autosize": AUTOSIZE,
                "config": CHART_CONFIG, "data": {"values": rows},
                "mark": {"type": "line", "point": {"size": 120}, "strokeWidth": 4},
                "encoding": {"x": {"field": "epoch", "type": "quantitative", "title": _("epoch"), "scale": x_scale,
                                   "axis": {"tickMinStep": 1}},
                             "y": {"field": "accuracy", "type": "quantitative", "title": _("accuracy"),
                                   "scale": {"domain": [0, 1]}, "axis": {"format": "%"}},
                             "color": {"field": "line", "type": "nominal", "title": None,
                                       "legend": {"orient": "top", "direction": "horizontal"},
                                       "scale": {"domain": [line[1] for line in shown],
                                                 "range": [line[2] for line in shown]}},
                             "strokeDash": {"field": "line", "type": "nominal", "legend": None,
                                            "scale": {"domain": [line[1] for line in shown],
                                                      "range": [line[3] for line in shown]}},
                             "tooltip": [{"field": "line", "type": "nominal"},
                                         {"field": "epoch", "type": "quantitative"},
                                         {"field": "accuracy", "type": "quantitative", "format": ".1%"}]}}
    return loss, accuracy
