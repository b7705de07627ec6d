"""The scenario kept in the page's URL.

On a session's first run the URL's query parameters, if any, overwrite the widgets' defaults; after every run the
URL is rewritten from the current scenario (the attack, the models, the input with its gallery digit or drawing and
label, the noise control, the open tab, presentation mode, the tour's step, the language), so a bookmarked or
shared link reopens the same demonstration. ``PARAMS`` lists the parameters, one row each; a value the link cannot
use as given is refused or clamped (``advdemo.demo.link``) and a one-line note on the page says so (in the page's
language).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from advdemo.demo import i18n, link
from advdemo.demo.analysis import MAX_PGD_STEPS, STEP_FRACTIONS, Method, Scenario, Source
from advdemo.models import registry
from advdemo.ui import lang, resources
from advdemo.ui.keys import (
    DRAW,
    DRAWN_DIGIT,
    GALLERY,
    GALLERY_INDEX,
    INPUT_MODE,
    INPUT_MODES,
    KEPT_INPUT,
    LANG,
    LANG_BROWSER,
    METHOD,
    MODELS,
    NOISE,
    NORM,
    PRESENT,
    RANDOM_START,
    SOURCE,
    STATED_LABEL,
    STEP_FRACTION,
    STEPS,
    TARGET,
    TARGETED,
    TOUR,
    TRANSFER_FROM,
    URL_NOTE,
    URL_RESTORED,
    VIEW,
    VIEWS,
    eps_key,
    keep_values,
)
from advdemo.ui.tour import STEPS as TOUR_STEPS


def _mode_is(*modes: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda session: session.get(INPUT_MODE, GALLERY) in modes


def _always(session: Mapping[str, Any]) -> bool:
    return True


def _parse_method(text: str, context: link.LinkContext) -> Method:
    method = link.choice({method.value: method for method in Method}, "attack")(text, context)
    context.strongest = method is Method.STRONGEST
    return method


def _lang_written(session: Mapping[str, Any]) -> bool:
    """The link carries the language unless it is English for a browser that defaults to English."""
    return session.get(LANG, i18n.DEFAULT) != i18n.DEFAULT or session.get(LANG_BROWSER, i18n.DEFAULT) != i18n.DEFAULT


def _view_name(label: str) -> str | None:
    """A tab's name in the URL, from its label in any language."""
    for name, view in VIEWS.items():
        if label == view or any(i18n.translator(code).gettext(view) == label for code in i18n.SUPPORTED):
            return name
    return None


def _parse_tour_step(text: str, context: link.LinkContext) -> int:
    return link.integer_in(1, len(TOUR_STEPS), clamp=False)(text, context)


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of the URL.

    Attributes:
        name: its name in the URL.
        key: the session-state key it sets (or a function of the link's context giving it, e.g. eps's per norm).
        read: its parser (``advdemo.demo.link``): the value, ``link.Adjusted`` or ``link.Refused``.
        write: the URL text of the session's value (None: left out); only for parameters the scenario does not
            write (``Scenario.to_query``).
        when: whether the URL carries it, given the session (e.g. the gallery digit only in Gallery mode).
        also: more session-state values set with it (a target turns the targeted toggle on).
        max_length: the longest text read.
    """

    name: str
    key: str | Callable[[link.LinkContext], str]
    read: link.Parser
    write: Callable[[Any], str | None] | None = None
    when: Callable[[Mapping[str, Any]], bool] = _always
    also: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    max_length: int = link.MAX_VALUE_LENGTH


#: The URL's parameters, in reading order (the norm before eps, the attack before the target). The scenario's are
#: written by ``Scenario.to_query``; the others by their ``write``. To add one (say a display mode kept in session
#: state under KEY): ``Param("mode", KEY, link.parse_flag, link.write_flag)``.
PARAMS: tuple[Param, ...] = (
    Param("norm", NORM, link.parse_norm),
    Param("eps", lambda context: eps_key(context.norm), link.parse_epsilon),
    Param("attack", METHOD, _parse_method),
    Param("steps", STEPS, link.integer_in(1, MAX_PGD_STEPS, clamp=True)),
    Param("step", STEP_FRACTION, link.parse_fraction(STEP_FRACTIONS)),
    Param("start", RANDOM_START, link.choice({"random": True, "clean": False}, "start")),
    Param("target", TARGET, link.parse_target, also={TARGETED: True}),
    Param("source", SOURCE, link.choice({source.value: source for source in Source}, "source")),
    Param("from", TRANSFER_FROM, link.parse_model),
    Param("models", MODELS, link.parse_models, write=",".join),
    Param("input", INPUT_MODE, link.choice({mode.lower(): mode for mode in INPUT_MODES}, "input"), write=str.lower),
    Param("digit", GALLERY_INDEX, link.parse_gallery_index, write=str, when=_mode_is(GALLERY)),
    Param("drawing", DRAWN_DIGIT, link.decode_drawing, write=link.encode_drawing, when=_mode_is(DRAW),
          max_length=link.MAX_DRAWING_LENGTH),
    Param("label", STATED_LABEL, link.integer_in(0, 9, clamp=False), write=str, when=_mode_is(DRAW)),
    Param("noise", NOISE, link.parse_flag, write=link.write_flag),
    Param("view", VIEW, link.choice(VIEWS, "view"), write=_view_name),
    Param("present", PRESENT, link.parse_flag, write=link.write_flag),
    Param("tour", TOUR, _parse_tour_step, write=str),
    Param("lang", LANG, link.choice({code: code for code in i18n.SUPPORTED}, "language"), write=str,
          when=_lang_written),
)
_NAMES = {param.name for param in PARAMS}


def read_link(query: Mapping[str, Sequence[str]], context: link.LinkContext,
              language: str = i18n.DEFAULT) -> tuple[dict[str, Any], str | None]:
    """The session-state values a link sets, and the one-line note on what it could not use as given.

    ``query``: each parameter's values in the URL (a repeated parameter has several: the last one counts).
    ``language``: the note's language. Never raises for a hostile link: every value is parsed by its
    ``Param.read`` and refused or clamped.
    """
    _, ngettext = i18n.translator(language).gettext, i18n.translator(language).ngettext
    values: dict[str, Any] = {}
    ignored: list[str] = []
    adjusted: list[str] = []
    for param in PARAMS:
        texts = list(query.get(param.name, ()))
        if not texts:
            continue
        text = texts[-1]
        if len(texts) > 1:
            adjusted.append(_("`{name}` given {count} times (using the last)").format(name=param.name,
                                                                                    count=len(texts)))
        if len(text) > param.max_length:
            ignored.append(link.item(param.name, text, _("{count} characters: too long").format(
                count=i18n.number(len(text), ",", language))))
            continue
        try:
            value = param.read(text, context)
        except link.Refused as why:
            ignored.append(link.item(param.name, text, why.translated(_)))
            continue
        if isinstance(value, link.Adjusted):
            adjusted.append(link.item(param.name, text, link.translated(value.why, _)))
            value = value.value
        values[param.key(context) if callable(param.key) else param.key] = value
        values.update(param.also)
    unknown = [name for name in query if name not in _NAMES]
    if unknown:
        ignored.append(ngettext("unknown parameter `{names}`", "unknown parameters `{names}`", len(unknown))
                       .format(names=link.listed(unknown, _)))
    return values, link.note(ignored, adjusted, _)


def restore_from_url() -> None:
    """At the start of every run: keep the KEPT_INPUT widgets' values; on a session's first run, also set the
    widgets from the URL's query parameters, and keep a note of what the link could not use (``show_url_note``)."""
    keep_values(KEPT_INPUT)
    if st.session_state.get(URL_RESTORED):
        return
    st.session_state[URL_RESTORED] = True
    query = {name: st.query_params.get_all(name) for name in st.query_params}
    if not query:
        return
    gallery, _ = resources.gallery()
    context = link.LinkContext(models=registry.list_models().names,
                               gallery_size=None if gallery is None else len(gallery))
    chosen = query.get(LANG, [None])[-1]
    language = chosen.strip().lower() if chosen and chosen.strip().lower() in i18n.SUPPORTED else \
        lang.browser_language()
    values, note = read_link(query, context, language)
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[URL_NOTE] = note


def show_url_note() -> None:
    """The one-line note on what the link could not use as given, if anything."""
    if st.session_state.get(URL_NOTE):
        st.info(st.session_state[URL_NOTE], icon=":material/link_off:")


def write_url(scenario: Scenario, models: Sequence[str]) -> None:
    """Put the scenario, the models, the input (the gallery digit or the drawing, and its label), the noise
    control and the open view in the URL."""
    query = scenario.to_query()
    session = {**st.session_state.to_dict(), MODELS: list(models)}
    for param in PARAMS:
        if param.write is None or not isinstance(param.key, str) or not param.when(session):
            continue
        value = session.get(param.key)
        text = None if value is None else param.write(value)
        if text is not None:
            query[param.name] = text
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
