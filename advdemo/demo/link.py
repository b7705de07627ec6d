"""Reading and writing the page's URL (query parameters), without Streamlit: each parameter's parser, the compact
encoding of a drawn digit, and the one-line note that says what a link could not use.

A parser takes the parameter's text (and a ``LinkContext`` for values that depend on the roster, the gallery or
another parameter) and returns the value, or ``Adjusted`` (a value clamped into range, with why), or raises
``Refused`` (why the value cannot be used). Nothing here trusts the URL: every value is checked for type, range
and length, and a refused value never raises anything else.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from advdemo.configs import EPSILON_DEFAULTS, Norm
from advdemo.data.preprocess import MNIST_SIZE

#: Longest parameter value read (characters); a drawing has its own limit.
MAX_VALUE_LENGTH = 100
#: Longest encoded drawing read: 784 incompressible bytes take about 1,060 characters.
MAX_DRAWING_LENGTH = 1200
#: How much of a refused value or name a note shows.
SHOWN_CHARACTERS = 24
#: Names listed in a note before "and N more".
MAX_LISTED = 8
#: Drawings are kept in the URL at 8 bits per pixel: the image the app attacks is quantised the same way, so that a
#: link reproduces it exactly.
LEVELS = 255
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")
_FLAGS = {"1": True, "on": True, "true": True, "yes": True, "0": False, "off": False, "false": False, "no": False}


def N_(message: str) -> str:
    """Marks a text for translation (``advdemo.demo.i18n``) without translating it here."""
    return message


class Text(str):
    """A text for the page made of a template (the catalog's msgid) and its fields: reads as the English text,
    and ``translated`` gives it in another language."""

    template: str
    fields: dict[str, Any]

    def __new__(cls, template: str, **fields: Any) -> Text:
        text = super().__new__(cls, template.format(**_joined(fields, str)))
        text.template, text.fields = template, fields
        return text


def _joined(fields: dict[str, Any], gettext: Callable[[str], str]) -> dict[str, Any]:
    """A tuple field is a list of alternatives: ``a or b or c``."""
    return {name: gettext(" or ").join(value) if isinstance(value, tuple) else value
            for name, value in fields.items()}


def translated(text: str, gettext: Callable[[str], str]) -> str:
    """``text`` (a ``Text`` or a plain msgid) through ``gettext``."""
    if isinstance(text, Text):
        return gettext(text.template).format(**_joined(text.fields, gettext))
    return gettext(text)


class Refused(ValueError):
    """A link value that cannot be used; the message says why, for the page (e.g. ``not a number``)."""

    def __init__(self, message: str, **fields: Any) -> None:
        self.text = Text(message, **fields)
        super().__init__(str(self.text))

    def translated(self, gettext: Callable[[str], str]) -> str:
        return translated(self.text, gettext)


@dataclasses.dataclass(frozen=True)
class Adjusted:
    """A link value brought into range: the value used, and why (e.g. ``above the maximum 1: using 1``)."""

    value: Any
    why: str


@dataclasses.dataclass
class LinkContext:
    """What a parser may need to judge a value: the models of the roster, the gallery's size (None: no gallery),
    and the norm and attack read so far (parameters are read in order)."""

    models: Sequence[str] = ()
    gallery_size: int | None = None
    norm: Norm = Norm.LINF
    strongest: bool = False


Parser = Callable[[str, LinkContext], Any]


def shown(text: str) -> str:
    """``text`` made safe and short for a note inside a code span: printable characters only (others as ``?``),
    no backticks, at most SHOWN_CHARACTERS characters."""
    clean = "".join(char if char.isprintable() and char != "`" else "?" for char in text)
    return clean if len(clean) <= SHOWN_CHARACTERS else clean[:SHOWN_CHARACTERS] + "…"


def listed(items: Sequence[str], gettext: Callable[[str], str] = str) -> str:
    """``a, b, c`` (each shown safely), at most MAX_LISTED of them and how many more."""
    names = [shown(item) for item in items[:MAX_LISTED]]
    more = gettext(" and {count} more").format(count=len(items) - MAX_LISTED) if len(items) > MAX_LISTED else ""
    return ", ".join(names) + more


def choice(options: dict[str, Any], what: str) -> Parser:
    """A parser of one of ``options`` (case-insensitive keys); anything else is an unknown ``what``."""

    def parse(text: str, context: LinkContext) -> Any:
        key = text.strip().lower()
        if key not in options:
            raise Refused(N_("unknown {what}: use {options}"), what=what, options=tuple(options))
        return options[key]

    return parse


def parse_flag(text: str, context: LinkContext) -> bool:
    """``1``/``0`` (also on/off, true/false, yes/no)."""
    key = text.strip().lower()
    if key not in _FLAGS:
        raise Refused(N_("use 1 or 0"))
    return _FLAGS[key]


def write_flag(value: Any) -> str | None:
    """``1`` when on; nothing (the default, off) otherwise."""
    return "1" if value else None


def whole_number(text: str) -> int:
    """A whole number written with the ASCII digits 0-9 only (``²`` and ``٣`` are digits to Python, not here),
    perhaps negative (``-1``: the caller's range check says it is out of range, not that it is no number)."""
    text = text.strip()
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) > 9:
        raise Refused(N_("far too large") if digits == text else N_("far too small"))
    if not _WHOLE_NUMBER.fullmatch(text):
        raise Refused(N_("not a whole number"))
    return int(text)


def integer_in(low: int, high: int, clamp: bool) -> Parser:
    """A parser of a whole number in [low, high]: clamped into range with ``clamp``, else refused."""

    def parse(text: str, context: LinkContext) -> int | Adjusted:
        value = whole_number(text)
        if low <= value <= high:
            return value
        if not clamp:
            raise Refused(N_("out of range {low}-{high}"), low=low, high=high)
        nearest = min(max(value, low), high)
        return Adjusted(nearest, Text(N_("above the maximum {nearest}: using {nearest}") if value > high
                                      else N_("below the minimum {nearest}: using {nearest}"), nearest=nearest))

    return parse


def parse_norm(text: str, context: LinkContext) -> Norm:
    try:
        norm = Norm.parse(text)
    except ValueError:
        raise Refused(N_("unknown norm: use linf, l2 or l1")) from None
    context.norm = norm
    return norm


def parse_epsilon(text: str, context: LinkContext) -> float | Adjusted:
    """eps in the current norm's range [0, maximum]; a number outside it is clamped to the nearest end."""
    try:
        value = float(text)
    except ValueError:
        raise Refused(N_("not a number")) from None
    if math.isnan(value):
        raise Refused(N_("not a number"))
    top = EPSILON_DEFAULTS[context.norm][1]
    if 0 <= value <= top:
        return value
    nearest = min(max(value, 0.0), top)
    if value > top:
        return Adjusted(nearest, Text(N_("above the {norm} maximum {top:g}: using {nearest:g}"),
                                      norm=context.norm.label, top=top, nearest=nearest))
    return Adjusted(nearest, Text(N_("negative: using {nearest:g}"), nearest=nearest))


def parse_fraction(allowed: Sequence[float]) -> Parser:
    """A parser of one of the ``allowed`` PGD step fractions."""

    def parse(text: str, context: LinkContext) -> float:
        try:
            value = float(text)
        except ValueError:
            raise Refused(N_("not a number")) from None
        if value not in allowed:
            raise Refused(N_("not one of {options}"), options=", ".join(f"{option:g}" for option in allowed))
        return value

    return parse


def parse_target(text: str, context: LinkContext) -> int:
    """A target class 0-9; none for the strongest attack, which is untargeted."""
    value = whole_number(text)
    if not 0 <= value <= 9:
        raise Refused(N_("not a digit 0-9"))
    if context.strongest:
        raise Refused(N_("the strongest attack is untargeted"))
    return value


def parse_model(text: str, context: LinkContext) -> str:
    """One model of the roster."""
    if text not in context.models:
        raise Refused(N_("no such model"))
    return text


def parse_models(text: str, context: LinkContext) -> list[str] | Adjusted:
    """A comma-separated list of models of the roster; unknown and repeated names are dropped, and said. Empty:
    no model (the page then asks for one)."""
    names = [name for name in text.split(",") if name]
    if not text:
        return []
    known = [name for name in dict.fromkeys(names) if name in context.models]
    if not known:
        raise Refused(N_("no model of this app"))
    unknown = [name for name in dict.fromkeys(names) if name not in context.models]
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    using = ", ".join(known)
    if unknown and repeated:
        why = Text(N_("unknown {unknown}, repeated {repeated}: using {using}"), unknown=listed(unknown),
                   repeated=listed(repeated), using=using)
    elif unknown:
        why = Text(N_("unknown {unknown}: using {using}"), unknown=listed(unknown), using=using)
    elif repeated:
        why = Text(N_("repeated {repeated}: using {using}"), repeated=listed(repeated), using=using)
    else:
        return known
    return Adjusted(known, why)


def parse_gallery_index(text: str, context: LinkContext) -> int:
    """A gallery digit's number."""
    if context.gallery_size is None:
        raise Refused(N_("the digit gallery is unavailable"))
    value = whole_number(text)
    if not 0 <= value < context.gallery_size:
        raise Refused(N_("out of range {low}-{high}"), low=0, high=context.gallery_size - 1)
    return value


def quantise(image: np.ndarray) -> np.ndarray:
    """A 28x28 image in [0, 1] rounded to the URL's 8-bit levels (float32): what a link reproduces exactly."""
    return (np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * LEVELS) / LEVELS).astype(np.float32)


def encode_drawing(image: np.ndarray) -> str:
    """A 28x28 image in [0, 1] as URL-safe text: its 784 pixels at 8 bits, zlib-compressed, base64url without
    padding (a drawn digit: about 250-450 characters)."""
    pixels = np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * LEVELS).astype(np.uint8)
    if pixels.shape != (MNIST_SIZE, MNIST_SIZE):
        raise ValueError(f"a drawing is 28x28, got {pixels.shape}")
    return base64.urlsafe_b64encode(zlib.compress(pixels.tobytes(), 9)).decode("ascii").rstrip("=")


def decode_drawing(text: str, context: LinkContext | None = None) -> np.ndarray:
    """The 28x28 float32 image of ``encode_drawing``'s text; anything else is refused (never decompressed beyond
    784 bytes)."""
    if len(text) > MAX_DRAWING_LENGTH:
        raise Refused(N_("{count} characters: too long for a drawing"), count=len(text))
    if not _BASE64URL.fullmatch(text):
        raise Refused(N_("not an encoded drawing"))
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        pixels = inflater.decompress(packed, MNIST_SIZE * MNIST_SIZE + 1)
    except (binascii.Error, zlib.error, ValueError):
        raise Refused(N_("not an encoded drawing")) from None
    if len(pixels) != MNIST_SIZE * MNIST_SIZE or not inflater.eof or inflater.unused_data:
        raise Refused(N_("not a 28x28 drawing"))
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(MNIST_SIZE, MNIST_SIZE).astype(np.float32) / LEVELS
    if not image.any():
        raise Refused(N_("an empty drawing"))
    return image


def note(ignored: Sequence[str], adjusted: Sequence[str], gettext: Callable[[str], str] = str) -> str | None:
    """The one-line note on what a link could not use as given (in ``gettext``'s language), or None if it used
    everything."""
    parts = []
    if ignored:
        parts.append(gettext("Ignored from the link: {items}.").format(items="; ".join(ignored)))
    if adjusted:
        parts.append(gettext("Adjusted from the link: {items}.").format(items="; ".join(adjusted)))
    return " ".join(parts) or None


def item(name: str, value: str, why: str) -> str:
    """One entry of a note: ``name=value`` in a code span, and why."""
    return f"`{shown(name)}={shown(value)}` ({why})"
