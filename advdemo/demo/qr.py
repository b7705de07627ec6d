"""The students' link and its QR code, without Streamlit.

Presentation mode shows a QR code of the scenario's link (``advdemo.ui.join``) that the students scan with their
phones to open the same demonstration in sessions of their own. The link is the address the teacher's browser uses
(``st.context.url``: its scheme, host, port and path, so it works behind a reverse proxy that serves the app under
a path), followed by the scenario's query parameters (``advdemo.ui.url.write_url``) without ``present``: a phone
gets the ordinary page, not the projector's.

The QR code is made by ``segno`` (pure Python, offline) as an inline SVG that CSS scales to any size, black modules
on white with the standard quiet zone of 4 modules. ``read_modules`` reads the modules back from such an SVG, so a
test can compare what the page shows with segno's own matrix for the expected link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import segno

#: Parameters left out of the students' link: presentation mode is the projector's, not the phones'.
TEACHER_ONLY = ("present",)
#: Error correction: the lowest level, so that a long link (a drawn digit adds about 400 characters) still has
#: modules large enough to scan from the back of a room; segno raises it when that costs no extra size.
ERROR = "l"
#: The quiet zone around the code, in modules (the QR standard's minimum).
BORDER = 4
#: Hosts only the teacher's own computer can reach: a phone cannot open a link to them.
LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
#: Characters kept as they are in a parameter's value (``models=base,robust`` stays readable).
_SAFE = ",:"


def page_address(url: str | None, headers: Mapping[str, str] | None = None) -> str | None:
    """The address of the page without query or fragment, ending in ``/`` (``https://school.example/advdemo/``;
    the app has one page, and Streamlit gives its address without the slash): ``url`` (the browser's,
    ``st.context.url``) if given, else one rebuilt from the request's ``headers`` (a proxy's
    ``X-Forwarded-Host``, ``X-Forwarded-Proto`` and ``X-Forwarded-Prefix``, else ``Host``); None if neither says."""
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/", "", ""))
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    host = (headers.get("x-forwarded-host") or headers.get("host") or "").split(",")[0].strip()
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        return None
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
    prefix = "/" + (headers.get("x-forwarded-prefix") or "").strip().strip("/")
    return f"{scheme if scheme in ('http', 'https') else 'http'}://{host}{prefix.rstrip('/')}/"


def student_link(address: str, query: Mapping[str, str]) -> str:
    """The link the students open: ``address`` (``page_address``) with the scenario's ``query`` (one value per
    parameter, in the page's order), without the TEACHER_ONLY parameters."""
    kept = [(name, value) for name, value in query.items() if name not in TEACHER_ONLY]
    text = urlencode(kept, safe=_SAFE, quote_via=quote)
    return address + ("?" + text if text else "")


def is_local(link: str) -> bool:
    """Whether ``link`` points at the teacher's own computer (``localhost`` and the like), which no phone reaches."""
    return (urlsplit(link).hostname or "") in LOOPBACK


def make(link: str) -> segno.QRCode:
    """The QR code of ``link``: a full QR code (never a Micro QR) at error level ERROR or higher."""
    return segno.make(link, error=ERROR, micro=False)


def svg(link: str, title: str = "QR code of the link") -> str:
    """The QR code of ``link`` as an SVG document without width or height (its ``viewBox`` is the code's size in
    modules, quiet zone included), usable inline or as an image: black modules on white, drawn with crisp edges,
    sized by the page's CSS."""
    code = make(link).svg_inline(scale=1, border=BORDER, dark="#000000", light="#ffffff", omitsize=True,
                                 svgclass="advdemo-qr", lineclass="advdemo-qr-modules", title=title)
    return code.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges" role="img" ', 1)


def matrix(link: str) -> list[list[bool]]:
    """The modules of ``link``'s QR code (True: dark), rows top to bottom, without the quiet zone."""
    return [[bool(module) for module in row] for row in make(link).matrix]


_COMMAND = re.compile(r"([A-Za-z])([^A-Za-z]*)")


def read_modules(svg_text: str) -> list[list[bool]]:
    """The dark modules an SVG made by ``svg`` shows, without the quiet zone (True: dark), rows top to bottom.

    segno draws each row's dark modules as horizontal strokes one module thick, centred on the row
    (``M4 4.5h7m2 0h3...``: move, then draw 7 modules, move 2 on, draw 3); this follows the path of the modules'
    stroke and marks each module a stroke covers. The picture's size in modules is its ``viewBox``; the quiet
    zone (BORDER modules on each side) is cut off.

    Raises:
        ValueError: the SVG has no such path, or a stroke that is not horizontal.
    """
    size = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg_text)
    path = re.search(r'<path[^>]*class="advdemo-qr-modules"[^>]*\sd="([^"]+)"', svg_text) or \
        re.search(r'<path[^>]*\sd="([^"]+)"[^>]*class="advdemo-qr-modules"', svg_text)
    if size is None or path is None:
        raise ValueError("not an SVG of advdemo.demo.qr.svg")
    width, height = int(size[1]), int(size[2])
    dark = [[False] * width for _ in range(height)]
    x = y = 0.0
    for command, arguments in _COMMAND.findall(path[1]):
        numbers = [float(number) for number in re.findall(r"-?\d+(?:\.\d+)?", arguments)]
        if command in "Mm":
            if len(numbers) != 2:
                raise ValueError(f"a move needs two numbers: {command}{arguments}")
            x, y = (numbers[0], numbers[1]) if command == "M" else (x + numbers[0], y + numbers[1])
        elif command in "Hh":
            end = numbers[0] if command == "H" else x + numbers[0]
            row = int(y)
            for column in range(int(round(min(x, end))), int(round(max(x, end)))):
                dark[row][column] = True
            x = end
        else:
            raise ValueError(f"not a horizontal stroke: {command}{arguments}")
    return [row[BORDER:width - BORDER] for row in dark[BORDER:height - BORDER]]
