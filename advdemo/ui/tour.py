"""The guided tour: a few steps that set the controls for a class, in one bar at the top of the page.

Draw a digit -> attack the base model -> the robust model holds, even against PGD -> the masked model's trap (FGSM,
then PGD, then the strongest attack) -> noise versus attack -> train your own. The steps are data (``STEPS``): each
has a title, a few sentences for the class, and the session-state values it sets. The buttons (Start the tour,
Back, Next, End) set them in their ``on_click`` callbacks, before the page is drawn, so the widgets themselves
show the step's settings and the class can move them from there. Back sets the previous step's settings again;
End leaves the controls as they are.

A step that needs a model the roster lacks, or that could not be loaded (the masked model, say), is skipped with a
one-line note on the step shown instead. The step shown is in the URL (``tour=K``, a row of ``url.PARAMS``): a
link opens that step, and the link's own settings win over the step's.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import streamlit as st

from advdemo.configs import Norm
from advdemo.demo.analysis import Method, Source
from advdemo.ui import inputs, keys, style, training
from advdemo.ui.lang import N_, _, ngettext
from advdemo.ui.resources import ModelEntry

#: The gradient-masked model (the NSL tutorial's recipe, seed 1), a bundled model off by default.
MASKED = "masked"
#: Widget keys of the bar.
START, BACK, NEXT, END, OTHER = "tour_start", "tour_back", "tour_next", "tour_end", "tour_other"
#: The step whose settings were last set (a step from a link has not been set yet), and the note on skipped steps.
_APPLIED = "_tour_applied"
_NOTE = "_tour_note"
START_LABEL = N_("Start the tour")
START_HELP = N_("A guided tour for a class: each step sets the controls (digit, models, attack) and says what to "
              "look at. The link keeps the step (`tour=K`).")
#: Presentation mode: the start button floats at the top of the page, in the header's empty middle, so that it
#: takes no room above the verdicts.
FLOATING_START_CSS = """
<style>
.st-key-tour_start { position: fixed; top: 0.3rem; left: 50%; transform: translateX(-50%); z-index: 1000001;
                     width: auto !important; }
.st-key-tour_start button { min-height: 2rem; padding: 0.1rem 0.8rem; }
</style>
"""


@dataclasses.dataclass(frozen=True)
class Alternative:
    """A second button of a step: another way to do it (its label, and the values it sets)."""

    label: str
    settings: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the tour.

    Attributes:
        title: a few words.
        text: one to three sentences for the class (markdown).
        settings: the session-state values it sets (widget keys of ``advdemo.ui.keys`` and ``training``); a
            tuple becomes a list (the models).
        needs: the models it shows: when one is missing or failed to load, the step is skipped.
        alternative: a second button, if any.
    """

    title: str
    text: str
    settings: Mapping[str, Any]
    needs: tuple[str, ...] = ()
    alternative: Alternative | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", types.MappingProxyType(dict(self.settings)))


#: The attack of steps 2 and 3: one FGSM step of the tutorial's size, white-box, untargeted, without the noise.
_FGSM = {keys.NORM: Norm.LINF, keys.eps_key(Norm.LINF): 0.2, keys.METHOD: Method.FGSM,
         keys.SOURCE: Source.WHITE_BOX, keys.TARGETED: False, keys.NOISE: False}
_PGD = {**_FGSM, keys.METHOD: Method.PGD, keys.STEPS: 40, keys.STEP_FRACTION: 0.1, keys.RANDOM_START: True}
_STRONGEST = {**_FGSM, keys.METHOD: Method.STRONGEST}
#: The masked model's steps open the test-set tab: its FGSM and PGD curves side by side (and no sweep of the
#: strongest attack, which would take half a minute).
_MASKED = {keys.MODELS: (MASKED,), keys.VIEW: keys.VIEW_CURVES}

STEPS: tuple[Step, ...] = (
    Step(N_("Draw a digit"),
         N_("Draw one digit on the black canvas, large and in the middle, then click which digit it is: the attack "
         "needs the true label to push the models away from it."),
         {keys.INPUT_MODE: keys.DRAW, keys.INPUT_OPEN: True},
         alternative=Alternative(N_("Use a gallery digit instead"), {keys.INPUT_MODE: keys.GALLERY})),
    Step(N_("Attack the base model"),
         N_("One FGSM step of ε = 0.2 in L-inf (every pixel moves by at most 0.2), computed on the base model's own "
         "gradients. The normally trained base model is usually **fooled**, although we still see the same digit: "
         "move ε to find where it flips."),
         {keys.MODELS: ("base",), **_FGSM}, needs=("base",)),
    Step(N_("The robust model holds"),
         N_("The same attack on the robust model, adversarially trained on PGD examples (TRADES): it stays right "
         "where the base model is fooled. Its price: a little clean accuracy and a much longer training."),
         {keys.MODELS: ("base", "robust"), **_FGSM}, needs=("base", "robust")),
    Step(N_("The robust model holds, even against PGD"),
         N_("PGD takes 40 smaller steps, each projected back into the ε-ball: a much stronger attack than one FGSM "
         "step. The base model has no chance; the robust model still holds on most digits: its robustness is real."),
         {keys.MODELS: ("base", "robust"), **_PGD}, needs=("base", "robust")),
    Step(N_("The masked model's trap (1 of 3): FGSM"),
         N_("The masked model is the NSL tutorial's recipe trained with another seed. Against FGSM at ε = 0.2 it "
         "looks robust: FGSM barely touches it (the dashed curve in the test-set tab below)."),
         {**_FGSM, **_MASKED}, needs=(MASKED,)),
    Step(N_("The masked model's trap (2 of 3): PGD"),
         N_("PGD breaks it. Near each image its gradients point the wrong way (*gradient masking*): that stops one "
         "step, not 40 patient ones; in the tab below its PGD curve (solid) falls far below FGSM's (dashed)."),
         {**_PGD, **_MASKED}, needs=(MASKED,)),
    Step(N_("The masked model's trap (3 of 3): the strongest attack"),
         N_("The strongest attack adds a random search that needs no gradients at all, and breaks it too. The lesson: "
         "judge a model by the strongest attack, never by FGSM alone."),
         {**_STRONGEST, **_MASKED}, needs=(MASKED,)),
    Step(N_("Noise versus attack"),
         N_("Under each model: the same digit with random noise of the same size as the attack's change. Noise hardly "
         "ever changes an answer; the attack's chosen direction does: an adversarial example is not just noise."),
         {keys.MODELS: ("base", "robust"), **_FGSM, keys.NOISE: True}, needs=("base", "robust")),
    Step(N_("Train your own"),
         N_("**Train a model** is open in the sidebar (in presentation mode, the arrow at the top left shows the "
         "sidebar), with the Quick preset chosen. Press Train and watch the loss fall and the accuracy rise; "
         "when it ends, your model joins *Models to attack*: attack it as in steps 2-4, then train "
         "*Quick: robust* and compare."),
         {training.PRESET: "quick", training.PANEL: True}),
)


def missing_models(step: Step, loaded: Mapping[str, bool]) -> list[str]:
    """The models ``step`` needs that are not loaded (``loaded``: each model of the roster, and whether it
    loaded)."""
    return [name for name in step.needs if not loaded.get(name, False)]


def _why(name: str, loaded: Mapping[str, bool]) -> str:
    return _("it could not be loaded: see the message above") if name in loaded else _("it is not part of this app")


def _set(settings: Mapping[str, Any], keep_existing: bool = False) -> None:
    """Put ``settings`` in session state (with ``keep_existing``, only the values not set yet: a link's own win)."""
    was_drawing = st.session_state.get(keys.INPUT_MODE) == keys.DRAW
    for key, value in settings.items():
        if not (keep_existing and key in st.session_state):
            st.session_state[key] = list(value) if isinstance(value, tuple) else value
    if st.session_state.get(keys.INPUT_MODE) == keys.DRAW and not was_drawing:
        inputs.remount_canvas()  # what the input choice's own callback does: the canvas with the kept drawing


def go(number: int, direction: int, loaded: Mapping[str, bool], keep_existing: bool = False) -> None:
    """Show step ``number`` (1-based) and set its controls; when it needs a model that is not loaded, the nearest
    step beyond it in ``direction`` (+1 or -1) that does not, with a one-line note. Callback of the buttons."""
    skipped: dict[str, list[int]] = {}
    while 1 <= number <= len(STEPS) and missing_models(STEPS[number - 1], loaded):
        for name in missing_models(STEPS[number - 1], loaded):
            skipped.setdefault(name, []).append(number)
        number += direction
    notes = [ngettext("**The {model} model is not available** ({why}): step {steps} skipped.",
                      "**The {model} model is not available** ({why}): steps {steps} skipped.", len(numbers)).format(
                 model=name, why=_why(name, loaded), steps=", ".join(map(str, sorted(numbers))))
             for name, numbers in skipped.items()]
    st.session_state[_NOTE] = " ".join(notes) or None
    if not 1 <= number <= len(STEPS):  # no step left that way: the tour stays where it was (or ends)
        if _valid(st.session_state.get(keys.TOUR)):
            st.session_state[_APPLIED] = st.session_state[keys.TOUR]
        else:
            end()
        return
    st.session_state[keys.TOUR] = number
    st.session_state[_APPLIED] = number
    _set(STEPS[number - 1].settings, keep_existing)


def _alternative(settings: Mapping[str, Any]) -> None:
    _set(settings)


def end() -> None:
    """Callback of End: the tour goes, the controls stay as they are."""
    for key in (keys.TOUR, _APPLIED, _NOTE):
        st.session_state.pop(key, None)


def _valid(number: Any) -> bool:
    return isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(STEPS)


def tour_bar(entries: Mapping[str, ModelEntry]) -> None:
    """The tour's bar: "Start the tour", or the step shown (step k of n, its title and text) with Back, Next and
    End. Call before the input section and the controls (a step from a link sets them). ``entries``: the roster's
    models and whether each loaded (``resources.model_entries``)."""
    loaded = {name: entry.error is None for name, entry in entries.items()}
    number = st.session_state.get(keys.TOUR)
    if number is not None and not _valid(number):
        end()
        number = None
    if number is not None and st.session_state.get(_APPLIED) != number:  # from a link: not set yet
        go(number, 1, loaded, keep_existing=True)
        number = st.session_state[keys.TOUR]
    if number is None:
        if style.presenting():
            st.html(FLOATING_START_CSS)
        st.button(_(START_LABEL), key=START, on_click=go, args=(1, 1, loaded), icon=":material/tour:",
                  help=_(START_HELP))
        return
    step = STEPS[number - 1]
    with st.container(border=True, key="tour_bar"):
        words, buttons = st.columns([2, 1], vertical_alignment="center")
        words.markdown(_("**Guided tour · step {number} of {count}: {title}**").format(
            number=number, count=len(STEPS), title=_(step.title)) + f"  \n{_(step.text)}")
        if st.session_state.get(_NOTE):
            words.caption(st.session_state[_NOTE])
        if step.alternative is not None:
            words.button(_(step.alternative.label), key=OTHER, on_click=_alternative, args=(step.alternative.settings,))
        with buttons.container(horizontal=True, gap="small"):
            st.button(_("Back"), key=BACK, on_click=go, args=(number - 1, -1, loaded), disabled=number == 1,
                      icon=":material/arrow_back:")
            st.button(_("Next"), key=NEXT, on_click=go, args=(number + 1, 1, loaded), disabled=number == len(STEPS),
                      type="primary", icon=":material/arrow_forward:")
            st.button(_("End"), key=END, on_click=end, icon=":material/close:")
