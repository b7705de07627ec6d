"""Presentation mode and the rest of "what a teacher hit": the toggle and its URL
parameter, the norm, eps and attack above the results (the sidebar's own widgets, moved), every digit on the
confidence bars with a legend for the "before the attack" tick, and, under each verdict, the smallest eps that
fools the model on this digit and whether the change can be seen.

The pure parts (``advdemo.demo.thresholds``, ``charts.confidence_bars``) are tested directly; the page through
``streamlit.testing.v1.AppTest`` (see ``tests/test_app.py`` for its style). The browser side (the verdict on one
1280x720 screen after moving eps) is ``tests/e2e/test_presentation_browser.py``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest
from apptest_support import heading, needs_models, new_app, query_of, rerun, start, verdicts
from streamlit.testing.v1 import AppTest

from advdemo.configs import Norm
from advdemo.demo import charts, thresholds
from advdemo.demo.analysis import Method, Outcome
from advdemo.ui import keys, style
from advdemo.ui.results import VIEW_CURVES, VIEW_SWEEP

# ----------------------------------------------------------------------------------------------------------------
# Item 4: the confidence bars.

def outcome(clean: int = 3, adversarial: int = 5) -> Outcome:
    probs = np.full(10, 0.02, np.float32)
    clean_probs, adversarial_probs = probs.copy(), probs.copy()
    clean_probs[clean], adversarial_probs[adversarial] = 0.82, 0.82
    return Outcome("base", clean_probs, np.zeros((28, 28), np.float32), adversarial_probs,
                   {norm: 0.0 for norm in Norm}, "base")


class Parsed(HTMLParser):
    """The confidence bars' HTML as (tag, classes, style, text) per element, in order."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[dict] = []
        self.open: list[dict] = []  # the elements the parser is inside, innermost last
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        element = {"tag": tag, "classes": (attrs.get("class") or "").split(), "style": attrs.get("style"),
                   "title": attrs.get("title"), "text": ""}
        self.elements.append(element)
        self.open.append(element)

    def handle_endtag(self, tag):
        self.open.pop()

    def handle_data(self, data):
        if self.open:
            self.open[-1]["text"] += data

    def having(self, css_class: str) -> list[dict]:
        return [element for element in self.elements if css_class in element["classes"]]


def percent(style: str, prop: str) -> float:
    return float(re.fullmatch(rf"{prop}:([\d.]+)%", style).group(1)) / 100


def test_the_confidence_bars_label_every_digit_and_explain_the_tick_in_a_legend():
    case = outcome(clean=3, adversarial=5)
    case.clean_probs[0] = 0.11
    parsed = Parsed(charts.confidence_bars(case, label=3, height=180))
    digits = [element["text"] for element in parsed.elements if element["tag"] == "span"
              and element["text"].isdigit() and not element["classes"]]
    assert digits == [str(digit) for digit in range(10)]  # every digit labelled, in order, whatever the width
    bars = parsed.having("advdemo-bar")
    assert [round(percent(bar["style"], "height"), 4) for bar in bars] == [round(float(p), 4)
                                                                           for p in case.adversarial_probs]
    ticks = parsed.having("advdemo-bar-tick")
    assert [round(percent(tick["style"], "bottom"), 4) for tick in ticks] == [round(float(p), 4)
                                                                              for p in case.clean_probs]
    roles = [next(c for c in bar["classes"] if c != "advdemo-bar") for bar in bars]
    assert roles[3] == "advdemo-bar-label" and roles[5] == "advdemo-bar-wrong"  # green label, red wrong answer
    assert roles.count("advdemo-bar-other") == 8
    values = parsed.having("advdemo-bar-value")  # the label's and the wrong answer's, the high one inside its bar
    assert [(value["text"], "advdemo-bar-value-inside" in value["classes"]) for value in values] == [("2%", False),
                                                                                                    ("82%", True)]
    assert parsed.having("advdemo-bars-legend")[0]["text"] == charts.BEFORE_ATTACK  # the tick explained
    assert parsed.having("advdemo-bars-title")[0]["text"] == "after the attack"  # the bars say what they are
    assert "0: 2.0% after the attack, 11.0% before" in [column["title"] for column in
                                                        parsed.having("advdemo-bar-column")]
    assert parsed.having("advdemo-bars-plot")[0]["style"] == "height:180px"


def test_the_confidence_bars_are_styled_by_the_apps_css():
    """Every class the bars use has a rule in the page's CSS (a renamed class would leave bare divs)."""
    used = {css_class for element in Parsed(charts.confidence_bars(outcome(), 3, 150)).elements
            for css_class in element["classes"]}
    assert used and all(f".{css_class} " in style.CSS for css_class in used), used - set(re.findall(r"\.([\w-]+)",
                                                                                                     style.CSS))


def test_the_sweep_chart_is_valid_vega_lite_with_a_line_per_model_a_cross_where_fooled_and_the_sliders_line():
    import altair as alt

    from advdemo.demo.analysis import Sweep

    sweep = Sweep(np.array([0.0, 0.1, 0.2]), 3,
                  {"base": np.array([0.9, 0.4, 0.1]), "robust": np.array([0.95, 0.9, 0.8])},
                  {"base": np.array([3, 5, 5]), "robust": np.array([3, 3, 3])})
    spec = charts.sweep_chart(sweep, ("base", "robust"), 0.15, "FGSM L-inf: confidence in 3 as ε grows")
    alt.LayerChart.from_dict(spec)  # validates against Vega-Lite's schema: a misspelt property raises
    lines, crosses, rule = spec["layer"]
    assert [(row["model"], row["eps"], row["confidence"]) for row in lines["data"]["values"]] == [
        ("base", 0.0, 0.9), ("base", 0.1, 0.4), ("base", 0.2, 0.1),
        ("robust", 0.0, 0.95), ("robust", 0.1, 0.9), ("robust", 0.2, 0.8)]
    assert crosses["data"]["values"] == [{"model": "base", "eps": 0.1, "confidence": 0.4}]  # robust never fooled
    assert rule["data"]["values"] == [{"eps": 0.15}]
    assert lines["encoding"]["color"]["scale"]["range"] == [charts.model_colour("base"), charts.model_colour("robust")]
    assert spec["config"]["axis"]["labelFontSize"] == charts.FONT_SIZE  # projector-sized


# ----------------------------------------------------------------------------------------------------------------
# Item 5: the smallest eps that fools a model, and what can be seen.

GRID = {round(eps, 6): None for eps in np.linspace(0.0, 0.4, 9)}  # the sweep's fixed L-inf grid: 0, 0.05, ... 0.4


def swept(threshold: float) -> dict[float, bool]:
    """The sweep's points for a model fooled from ``threshold`` on."""
    return {eps: eps >= threshold - 1e-9 for eps in GRID}


def test_refining_the_sweep_finds_the_smallest_eps_on_the_sliders_grid():
    asked = []

    def fooled(eps: float) -> bool:
        asked.append(eps)
        return eps >= 0.07 - 1e-9

    points = thresholds.refine(swept(0.07), 0.01, fooled)
    flip = thresholds.smallest_flip(points, 0.01)
    assert (flip.fooled, flip.held, flip.exact) == (0.07, 0.06, True)
    assert len(asked) <= 3 and all(0.05 < eps < 0.1 for eps in asked)  # only inside the sweep's bracket
    assert "**0.07** (it holds at 0.06)" in thresholds.describe_flip(flip)


def test_a_model_that_never_flips_or_is_already_wrong_costs_no_attack():
    def never(eps: float) -> bool:
        raise AssertionError("no attack is needed")

    holds = thresholds.smallest_flip(thresholds.refine({eps: False for eps in GRID}, 0.01, never), 0.01)
    assert holds.fooled is None and holds.held == 0.4
    assert thresholds.describe_flip(holds) == "Holds at every ε tried on this digit, up to 0.4."
    wrong = thresholds.smallest_flip(thresholds.refine({eps: True for eps in GRID}, 0.01, never), 0.01)
    assert wrong.fooled == 0 and "even without an attack" in thresholds.describe_flip(wrong)


def test_an_unrefined_bracket_says_so():
    flip = thresholds.smallest_flip(swept(0.07), 0.01)
    assert (flip.fooled, flip.held, flip.exact) == (0.1, 0.05, False)
    assert "not refined" in thresholds.describe_flip(flip)


def test_visibility_says_when_a_change_can_be_seen():
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0  # a 1 on a black background
    haze = np.clip(image + 0.2 * np.where(np.arange(784).reshape(28, 28) % 2, 1, -1), 0, 1)  # L-inf 0.2, FGSM-like
    assert thresholds.visibility(image, haze, Norm.LINF).startswith("**Visible**, a grey haze on the black background")
    assert "up to 20% (51 of 255 levels)" in thresholds.visibility(image, haze, Norm.LINF)
    faint = np.clip(image + 0.03, 0, 1)
    assert thresholds.visibility(image, faint, Norm.LINF).startswith("**Hard to see**")
    specks = image.copy()
    specks[2, 2] = specks[25, 25] = 0.9
    assert thresholds.visibility(image, specks, Norm.L1).startswith("**Visible**, a few specks")


# ----------------------------------------------------------------------------------------------------------------
# The page.

def presentation_css_injected(at: AppTest) -> bool:
    return any(style.PRESENTATION_CSS.strip() in element.proto.body for element in at.get("html"))


def widget_keys(widgets) -> list[str]:
    return [widget.key for widget in widgets]


@needs_models
def test_presentation_mode_hides_the_chrome_moves_the_controls_and_survives_the_url():
    at = start({"models": "base"})
    assert not presentation_css_injected(at) and "present" not in query_of(at)
    assert keys.eps_key(Norm.LINF) in widget_keys(at.sidebar.slider)
    at.toggle(key=keys.PRESENT).set_value(True)
    rerun(at)
    assert presentation_css_injected(at)
    assert re.search(r'\[data-testid="stAppDeployButton"\], \[data-testid="stMainMenu"\],\s*'
                     r'\[data-testid="stStatusWidget"\][^{]*\{ display: none !important; \}', style.PRESENTATION_CSS)
    assert widget_keys(at.sidebar.slider) == [] and keys.eps_key(Norm.LINF) in widget_keys(at.main.slider)
    assert {keys.NORM, keys.METHOD} <= set(widget_keys(at.main.radio))
    assert keys.NORM not in widget_keys(at.sidebar.radio)
    assert query_of(at)["present"] == "1"
    assert not [m for m in at.markdown if m.value.startswith("A small, deliberately chosen change")]  # no intro
    assert [e.label for e in at.expander][0].startswith("1 · Change the digit")  # the input folded away

    again = rerun(new_app(query_of(at), **{keys.VIEW: VIEW_CURVES}))  # a new session on that link
    assert again.toggle(key=keys.PRESENT).value is True and presentation_css_injected(again)
    assert keys.eps_key(Norm.LINF) in widget_keys(again.main.slider) and verdicts(again) == verdicts(at)
    again.toggle(key=keys.PRESENT).set_value(False)
    rerun(again)
    assert not presentation_css_injected(again) and "present" not in query_of(again)
    assert keys.eps_key(Norm.LINF) in widget_keys(again.sidebar.slider) and widget_keys(again.main.slider) == []


@needs_models
def test_the_controls_above_the_results_are_the_sidebars_own():
    """The norm, eps and attack set in the sidebar carry over to the row above the results and back: the same
    session-state keys, one widget each."""
    at = start({"models": "base"})
    at.sidebar.slider(key=keys.eps_key(Norm.LINF)).set_value(0.3)
    rerun(at)
    at.toggle(key=keys.PRESENT).set_value(True)
    rerun(at)
    assert at.main.slider(key=keys.eps_key(Norm.LINF)).value == pytest.approx(0.3)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.3, white-box"
    at.main.slider(key=keys.eps_key(Norm.LINF)).set_value(0.1)
    at.main.radio(key=keys.METHOD).set_value(Method.PGD)
    rerun(at)
    assert heading(at) == "2 · The attack: PGD-40 L-inf ε = 0.1, white-box"
    assert at.session_state[keys.eps_key(Norm.LINF)] == pytest.approx(0.1)
    assert query_of(at)["eps"] == "0.1" and query_of(at)["attack"] == "pgd"
    at.toggle(key=keys.PRESENT).set_value(False)
    rerun(at)
    assert at.sidebar.slider(key=keys.eps_key(Norm.LINF)).value == pytest.approx(0.1)
    assert at.sidebar.radio(key=keys.METHOD).value == Method.PGD
    assert heading(at) == "2 · The attack: PGD-40 L-inf ε = 0.1, white-box"


@needs_models
def test_each_verdict_says_the_smallest_eps_that_fools_it_and_that_eps_does():
    """On the default (hard) digit with the sweep open: base's line names an eps; at it the badge says FOOLED, one
    slider step below HELD. With another tab open, the line says where to look. And a visibility line each."""
    at = start({"models": "base"}, **{keys.VIEW: VIEW_SWEEP})
    line = next(m.value for m in at.markdown if m.value.startswith("Smallest ε that fools it"))
    found = re.fullmatch(r"Smallest ε that fools it on this digit: \*\*([\d.]+)\*\* \(it holds at ([\d.]+)\)\.", line)
    assert found, line
    fooled, held = float(found[1]), float(found[2])
    assert fooled - held == pytest.approx(0.01)
    assert any(c.value.startswith("**Visible**, a grey haze") for c in at.caption)  # default eps 0.2
    for eps, badge in ((fooled, "✗ FOOLED"), (held, "✓ HELD")):
        at.slider(key=keys.eps_key(Norm.LINF)).set_value(eps)
        rerun(at)
        assert verdicts(at)[0].startswith(badge), (eps, verdicts(at))
    at.slider(key=keys.eps_key(Norm.LINF)).set_value(0.02)
    rerun(at)
    assert any(c.value.startswith("**Hard to see**") for c in at.caption)
    curves = start({"models": "base"})
    assert f"open the tab *{VIEW_SWEEP}* below" in next(m.value for m in curves.markdown
                                                        if m.value.startswith("Smallest ε that fools it"))



def model_columns(at: AppTest) -> list[list]:
    """Each model's column (the columns holding a verdict) as the list of its elements, in order."""
    columns = [list(column.children.values()) for column in at.columns]
    return [elements for elements in columns if any("advdemo-verdict" in str(getattr(element, "value", ""))
                                                    for element in elements)]


def captions(block) -> list[str]:
    """The captions of the pictures anywhere inside ``block`` (an element or a block of them), in order."""
    if getattr(block, "type", None) == "image":
        return list(block.captions)
    return [caption for child in getattr(block, "children", {}).values() for caption in captions(child)]


@needs_models
def test_presentation_mode_puts_the_smaller_attacked_images_right_under_each_verdict():
    """Presentation mode: each model's attacked image and perturbation (short captions) in a row right under its
    verdict, with the lines on the proof, the smallest eps and the clean answer beside them; the browser test
    measures that the row fits the first screen (``tests/e2e/test_presentation_browser.py``)."""
    from advdemo.ui.results import CAPTIONS, PRESENTATION_CAPTIONS

    present = start({"models": "base,robust", "present": "1"})
    columns = model_columns(present)
    assert len(columns) == 2
    for elements in columns:
        verdict_at = next(index for index, element in enumerate(elements)
                          if "advdemo-verdict" in str(getattr(element, "value", "")))
        row = elements[verdict_at + 1]  # the very next thing under the verdict
        pictures, perturbation, lines = row.children.values()
        assert captions(pictures) == [PRESENTATION_CAPTIONS[0]]
        assert captions(perturbation)[0].startswith("change ×") and captions(perturbation)[0].endswith(
            "(red +, blue −)")
        assert [element.value.split(":")[0] for element in lines.children.values()][-1] == "Before the attack"
    normal = start({"models": "base,robust"})
    for elements in model_columns(normal):
        assert [caption.split(" ")[0] for element in elements for caption in captions(element)] == [
            CAPTIONS[0].split(" ")[0], "perturbation"]
