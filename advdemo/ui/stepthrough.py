"""Section 3's "PGD step by step" tab: the sidebar's PGD (FGSM: its one step) on this digit for one model, played,
paused or stepped through. At each step: the image, the model's prediction and confidence, and how far the
perturbation is from the eps-ball's boundary (eps - ||delta|| in the scenario's norm).

The steps are ``advdemo.attacks.gradient.pgd_trajectory``'s, from the same random start as section 2's attack
(``analysis.ATTACK_SEED``), so the step the attack returns is section 2's image exactly. Playing is a fragment that
reruns itself every ``PLAY_SECONDS`` and moves one step each time; it exists only while playing (as the training
panel's live progress does), so a paused player costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from advdemo.demo import charts
from advdemo.demo.analysis import Method, Scenario, Source, StepThrough
from advdemo.ui import controls, keys, resources
from advdemo.ui.lang import N_, _, ngettext, num

if TYPE_CHECKING:
    import altair as alt

#: Seconds between two steps while playing.
PLAY_SECONDS = 0.8
STRONGEST_NOTE = N_("The strongest attack is an ensemble (per image, the worst case over APGD runs and a gradient-free "
                  "random search), not one path of steps, so there is nothing to step through. PGD, its main "
                  "ingredient without the adaptive step size, can be.")


def _switch_to_pgd() -> None:
    st.session_state[keys.METHOD] = Method.PGD


def _go_to(step: int) -> None:
    st.session_state[keys.STEP_INDEX] = step
    st.session_state[keys.STEP_PLAYING] = False


def _pause() -> None:
    st.session_state[keys.STEP_PLAYING] = False


def _play(last: int) -> None:
    """Play from the current step (from the start if the last step is shown)."""
    if st.session_state.get(keys.STEP_INDEX, 0) >= last:
        st.session_state[keys.STEP_INDEX] = 0
    st.session_state[keys.STEP_PLAYING] = True


def format_distance(distance: float) -> str:
    """eps - ||delta||, with float32 round-off on the boundary (|distance| < 1e-6) shown as 0."""
    return "0" if abs(distance) < 1e-6 else f"{distance:.4g}"


def step_caption(view: StepThrough, step: int, random_start: bool) -> str:
    """What step ``step`` is: the start, the attack's result, or a step in between."""
    if step == 0:
        return _("the random start inside the ε-ball") if random_start else _("the clean image (no random start)")
    if step == view.kept:
        return _("the attack's result (section 2's image)")
    return ngettext("after {count} step", "after {count} steps", step).format(count=step)


def verdict_at(view: StepThrough, step: int, label: int, target: int | None) -> str:
    prediction = view.prediction(step)
    if target is not None:
        return (_("🎯 reached {target}") if prediction == target else _("not yet {target}")).format(target=target)
    return _("✗ fooled") if prediction != label else _("✓ still right")


def steps_chart(view: StepThrough, label: int, step: int) -> alt.TopLevelMixin:
    """The confidence in the label and the strongest other class at every step, a grey line at ``step``."""
    import altair as alt  # here, not at the top: the first page draws no Altair chart

    others = view.probs.copy()
    others[:, label] = -1.0
    own, other = _("label {label}").format(label=label), _("strongest other digit")
    rows = ([{"step": t, "class": own, "confidence": float(view.probs[t, label])}
             for t in range(view.steps + 1)]
            + [{"step": t, "class": other, "confidence": float(others[t].max())}
               for t in range(view.steps + 1)])
    colour = alt.Color("class:N", scale=alt.Scale(domain=[own, other],
                                                  range=[charts.HELD_COLOUR, charts.FOOLED_COLOUR]), title=None)
    lines = alt.Chart(pd.DataFrame(rows)).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("step:Q", title=_("step"), axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("confidence:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title=_("{model}'s confidence").format(model=view.model)),
        color=colour, tooltip=["step", "class", alt.Tooltip("confidence:Q", format=".1%")])
    rule = alt.Chart(pd.DataFrame({"step": [step]})).mark_rule(color=charts.RULE_COLOUR,
                                                                strokeWidth=3).encode(x="step:Q")
    return (alt.layer(lines, rule).properties(height=240)
            .configure_axis(labelFontSize=charts.FONT_SIZE, titleFontSize=charts.FONT_SIZE)
            .configure_legend(labelFontSize=charts.FONT_SIZE, orient="bottom"))


def _player(view: StepThrough, clean: np.ndarray, label: int, scenario: Scenario) -> None:
    """The controls and the shown step; while playing, each run moves one step (and stops at the last)."""
    last = view.steps
    step = min(max(int(st.session_state.get(keys.STEP_INDEX, 0)), 0), last)
    if st.session_state.get(keys.STEP_PLAYING):
        step = min(step + 1, last)
        st.session_state[keys.STEP_PLAYING] = step < last
    st.session_state[keys.STEP_INDEX] = step
    playing = bool(st.session_state.get(keys.STEP_PLAYING, False))
    previous, play, following = st.columns(3)
    previous.button(_("Previous step"), icon=":material/skip_previous:", on_click=_go_to, args=(step - 1,),
                    disabled=step == 0, key="step_previous", width="stretch")
    if playing:
        play.button(_("Pause"), icon=":material/pause:", on_click=_pause, key="step_pause", width="stretch")
    else:
        play.button(_("Play"), icon=":material/play_arrow:", on_click=_play, args=(last,), key="step_play",
                    width="stretch")
    following.button(_("Next step"), icon=":material/skip_next:", on_click=_go_to, args=(step + 1,),
                     disabled=step == last, key="step_next", width="stretch")
    st.slider(_("Step"), 0, last, key=keys.STEP_INDEX, on_change=_pause)
    image, perturbation, words = st.columns([1, 1, 2])
    image.image(charts.upscale(view.images[step]), width="stretch", caption=f"x_{step}")
    picture, amplification = charts.perturbation_picture(view.images[step] - clean)
    perturbation.image(picture, width="stretch", caption=_("perturbation ×{amplification} (red +, blue −)").format(
        amplification=num(amplification, ".1f")))
    distance = float(view.distances[step])
    size = scenario.epsilon - distance
    random_start = scenario.method is Method.PGD and scenario.random_start
    with words:
        st.markdown(_("#### Step {step} of {last}: {what}").format(step=step, last=last,
                                                                    what=step_caption(view, step, random_start)))
        st.markdown(_("{model} says **{says}** ({confidence})").format(
            model=view.model, says=view.prediction(step), confidence=num(view.confidence(step), ".0%"))
            + f" · {verdict_at(view, step, label, scenario.target)}")
        st.markdown(_("Distance to the ε-ball's boundary:") + f" ε − ‖δ‖ = {scenario.epsilon:g} − {size:.4g} = "
                    f"**{format_distance(distance)}** ({scenario.norm.label})")
    st.altair_chart(steps_chart(view, label, step), width="stretch")


def _playing(view: StepThrough, clean: np.ndarray, label: int, scenario: Scenario) -> None:
    """The player while it plays (a fragment rerun every PLAY_SECONDS). Paused or at the end, it reruns the page,
    which draws the player without a timer."""
    if not st.session_state.get(keys.STEP_PLAYING):
        st.rerun()
    _player(view, clean, label, scenario)


def stepthrough_view(model_keys: resources.ModelKeys, names: tuple[str, ...], image: np.ndarray, label: int,
                     scenario: Scenario) -> None:
    """The tab: a model choice, then the player of its steps."""
    if scenario.method is Method.STRONGEST:
        st.info(_(STRONGEST_NOTE))
        st.button(_("Step through PGD instead"), icon=":material/footprint:", on_click=_switch_to_pgd,
                  key="step_use_pgd")
        return
    if st.session_state.get(keys.STEP_MODEL) not in names:
        st.session_state[keys.STEP_MODEL] = names[0]
    name = st.selectbox(_("Model"), names, key=keys.STEP_MODEL)
    view = resources.step_through(model_keys, name, image, label, scenario)
    crafted = (_("crafted on {source}'s gradients (transfer), {model}'s answers").format(source=view.crafted_on,
                                                                                         model=name)
               if scenario.source is Source.TRANSFER else _("on {model}'s own gradients").format(model=name))
    start = _("from a random start") if scenario.random_start and scenario.method is Method.PGD else \
        _("from the clean image")
    title = controls.scenario_title(scenario)
    st.caption(ngettext("{title}: {count} step {start}, {crafted}.", "{title}: {count} steps {start}, {crafted}.",
                        view.steps).format(title=title, count=view.steps, start=start, crafted=crafted) + " "
               + _("Each step moves along the gradient's steepest-ascent direction, then is projected back into the "
                   "ε-ball and onto valid pixels [0, 1]. The attack returns its strongest step (the highest loss, a "
                   "step that fools {model} first): step {kept}, section 2's image exactly.").format(
                       model=view.crafted_on, kept=view.kept))
    if st.session_state.get(keys.STEP_PLAYING):
        st.fragment(_playing, run_every=PLAY_SECONDS)(view, image, label, scenario)
    else:
        _player(view, image, label, scenario)
