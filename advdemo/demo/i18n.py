"""The app's languages, without Streamlit: gettext catalogs (domain ``advdemo``) in ``advdemo/locale``.

``translator(lang)`` gives the standard library's translation object of a language (``gettext``, ``ngettext``);
English is the catalog's own language (the msgids), so it needs no file. ``parse_lang`` reads a language from a
link or a browser (``pl``, ``pl-PL``, an Accept-Language header); ``number`` writes a number as the language writes
it in prose (a decimal comma in Polish; formulas and code keep their dots). The catalogs are made with Babel
(``babel.cfg``; see README, "Adding a language").
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

DOMAIN = "advdemo"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
#: The languages of the app, the default first.
SUPPORTED = ("en", "pl")
DEFAULT = "en"
#: Each language's name in its own language, for the selector.
NAMES = {"en": "English", "pl": "Polski"}
#: The decimal separator of each language's prose.
_DECIMAL = {"en": ".", "pl": ","}


def N_(message: str) -> str:
    """Marks ``message`` for extraction without translating it (a module-level text translated where shown)."""
    return message


@functools.cache
def translator(lang: str) -> gettext.NullTranslations:
    """The translation object of ``lang`` (one of SUPPORTED); English, or a language without a compiled catalog,
    gives the msgids themselves."""
    if lang == DEFAULT or lang not in SUPPORTED:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def parse_lang(value: str | None) -> str | None:
    """The supported language ``value`` names, or None: ``pl``, ``PL``, ``pl-PL``, ``pl_PL``, or an
    Accept-Language header (``pl-PL,pl;q=0.9,en;q=0.8``: its first language that is supported)."""
    if not value or len(value) > 200:
        return None
    for part in value.split(","):
        code = part.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if code in SUPPORTED:
            return code
    return None


def number(value: float, spec: str = "g", lang: str = DEFAULT) -> str:
    """``value`` formatted with ``spec`` as ``lang`` writes it in prose: ``0,2`` in Polish, ``0.2`` in English
    (thousands separated by a space in Polish)."""
    text = format(value, spec)
    if lang == "pl":
        return text.replace(",", "\u00a0").replace(".", ",")
    return text
