"""The session's language: its ``_``/``ngettext`` (``advdemo.demo.i18n``'s catalogs), the selector at the top of
the page, and the default (Polish for a browser that prefers Polish, else English).

The language is session state (``keys.LANG``), set by the selector and kept in the link (``lang=pl``, a row of
``url.PARAMS``). Texts are English msgids: ``_("…")`` where shown, ``N_("…")`` for a module-level text (then
``_(TEXT)`` where shown).
"""

from __future__ import annotations

import streamlit as st

from advdemo.demo import i18n
from advdemo.demo.i18n import N_  # noqa: F401  (re-exported: the marker of module-level texts)
from advdemo.ui import keys

SELECTOR_LABEL = N_("Language")


def browser_language() -> str:
    """The browser's language if the app speaks it (``navigator.language``, else Accept-Language), else English."""
    try:
        found = i18n.parse_lang(st.context.locale)
        if found is None:
            found = i18n.parse_lang(st.context.headers.get("Accept-Language"))
    except Exception:  # no browser context (a bare script run, an older Streamlit)
        found = None
    return found or i18n.DEFAULT


def current() -> str:
    """The session's language (the browser's until chosen)."""
    lang = st.session_state.get(keys.LANG)
    return lang if lang in i18n.SUPPORTED else i18n.DEFAULT


def _(message: str) -> str:
    """``message`` in the session's language."""
    return i18n.translator(current()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of ``singular``/``plural`` for ``count`` in the session's language (Polish has three)."""
    return i18n.translator(current()).ngettext(singular, plural, count)


def num(value: float, spec: str = "g") -> str:
    """A number in prose, as the session's language writes it (``0,2`` in Polish)."""
    return i18n.number(value, spec, current())


def default_language() -> None:
    """Once per session, before anything is drawn: the browser's language unless a link chose one."""
    if keys.LANG_BROWSER not in st.session_state:
        st.session_state[keys.LANG_BROWSER] = browser_language()
    if st.session_state.get(keys.LANG) not in i18n.SUPPORTED:
        st.session_state[keys.LANG] = st.session_state[keys.LANG_BROWSER]


def selector() -> str:
    """The language selector (top of the page); returns the language."""
    default_language()
    chosen = st.segmented_control(_(SELECTOR_LABEL), i18n.SUPPORTED, key=keys.LANG, required=True,
                                  format_func=i18n.NAMES.get, label_visibility="collapsed")
    return chosen if chosen in i18n.SUPPORTED else i18n.DEFAULT
