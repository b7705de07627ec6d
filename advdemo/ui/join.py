"""Presentation mode's "Students: open this on your phone": a QR code of the scenario's link, large enough to scan
from the back of a room, with the link as text beneath.

The button floats at the top left of the page (``style.PRESENTATION_CSS``; in the flow on a narrow screen). It
opens a panel that covers the page, white, with the QR code as large as the window allows, the link in large type
beneath, and a Close button. Both are drawn inside the attack fragment (``results.analysis_fragment``) right after
``url.write_url``, so the code always shows the link of the scenario on the screen, and opening or closing it reruns
only the fragment.

The link is the address the teacher's browser uses (``st.context.url``, or the request's headers behind a proxy
that does not pass it on) with the scenario's query parameters, without ``present`` (``advdemo.demo.qr``). A link
to ``localhost`` works on the teacher's computer only: the panel then says to open the app by the address phones can
reach.
"""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import urlsplit

import streamlit as st

from advdemo.demo import qr
from advdemo.ui import style
from advdemo.ui.lang import N_, _

#: The button's label and key.
BUTTON_LABEL = N_("Students: open this on your phone")
BUTTON = "join_button"
#: Session state: whether the QR panel is open; the panel's container key (its CSS class ``st-key-join_panel``).
OPEN = "join_open"
PANEL = "join_panel"
CLOSE = "join_close"
HEADLINE = N_("**Scan with your phone's camera** to open this demonstration in a session of your own")
NO_ADDRESS = N_("The page's address is unknown here (the browser did not send it), so there is no QR code: share the "
              "address in your browser's address bar instead.")
LOCAL = N_("This address works on this computer only (**{host}**): phones cannot open it. Open the app by an address "
         "they can reach, such as the *Network URL* `streamlit run` prints, and show the code from there.")


def _toggle() -> None:
    st.session_state[OPEN] = not st.session_state.get(OPEN, False)


def _close() -> None:
    st.session_state[OPEN] = False


def current_link() -> str | None:
    """The students' link for the scenario now in the page's URL (call after ``url.write_url``), or None if the
    page's address is unknown."""
    address = qr.page_address(st.context.url, st.context.headers.to_dict())  # both empty without a browser
    if address is None:
        return None
    query = {name: st.query_params.get_all(name)[-1] for name in st.query_params}
    return qr.student_link(address, query)


def qr_html(link: str) -> str:
    """The panel's QR code: ``qr.svg`` of ``link`` as an image (a ``data:`` URI: ``st.html`` drops inline SVG), in a
    box that CSS sizes to the window (``style.PRESENTATION_CSS``)."""
    svg = qr.svg(link, _("QR code of the link"))
    source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    alt = html.escape(_("QR code of {link}").format(link=link), quote=True)
    return (f'<div class="advdemo-qr-box" data-link="{html.escape(link, quote=True)}">'
            f'<img class="advdemo-qr" src="{source}" alt="{alt}"></div>')


def shown_svg(body: str) -> str | None:
    """The SVG of the QR code in the panel's HTML ``body`` (``qr_html``), or None: what a test reads back."""
    found = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', body)
    return None if found is None else base64.b64decode(found[1]).decode("utf-8")


def join_button() -> None:
    """In presentation mode: the button that opens (or closes) the QR panel; nothing otherwise (and the panel is
    closed, so that it does not reappear when presentation mode is turned on again)."""
    if not style.presenting():
        st.session_state[OPEN] = False
        return
    st.button(_(BUTTON_LABEL), key=BUTTON, icon=":material/qr_code_2:", on_click=_toggle,
              help=_("A QR code of this page's link, for the class: each student gets the same digit, norm, ε and "
                     "attack in a session of their own."))


def join_panel() -> str | None:
    """The QR panel, if open (presentation mode only): the headline and Close button, the QR code of the students'
    link, the link beneath. Returns the link shown (None: no panel, or no address to show)."""
    if not (style.presenting() and st.session_state.get(OPEN)):
        return None
    link = current_link()
    with st.container(key=PANEL):
        with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
            st.markdown(_(HEADLINE))
            st.button(_("Close"), key=CLOSE, icon=":material/close:", on_click=_close, type="primary",
                      width="content")
        if link is None:
            st.warning(_(NO_ADDRESS), icon=":material/link_off:")
            return None
        if qr.is_local(link):
            st.warning(_(LOCAL).format(host=urlsplit(link).hostname), icon=":material/wifi_off:")
        st.html(qr_html(link))
        st.code(link, language=None, wrap_lines=True)
    return link


def join() -> str | None:
    """The button and, if open, the panel (see ``join_button`` and ``join_panel``); returns the link shown."""
    join_button()
    return join_panel()
