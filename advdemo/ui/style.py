"""Projector-friendly styling: larger type and bold, high-contrast verdict badges; room for the canvas's toolbar; a
title that fits a 1024-pixel window; and presentation mode (one toggle, kept in the URL as ``present=1``).

Presentation mode is per session: its CSS is injected only into the pages of a session that turned it on, so
nothing in ``.streamlit/config.toml`` changes (``client.toolbarMode`` would hide the chrome for everyone). It hides
Streamlit's chrome (the Deploy button, the main menu, the running indicator, the coloured top bar), makes the type
larger as the screen grows (26 px on a 1920 x 1080 projector) and black on white, folds the sidebar away, and the
rest of the app (``controls``, ``inputs``, ``results``) puts the norm, eps and attack next to the verdicts, so that
the digit, eps, the verdicts and each model's attacked image share the first screen at 1280 x 720 and 1024 x 768
(``tests/e2e/test_presentation_browser.py``). It also floats the students' QR button (``join``) at the top left and
lays its panel over the page; on a narrow screen (a phone) the floating buttons go back into the flow.
"""

from __future__ import annotations

import streamlit as st

from advdemo.demo import charts
from advdemo.ui import keys
from advdemo.ui.lang import N_, _

CSS = """
<style>
html { font-size: 18px; }
[data-testid="stCaptionContainer"] { font-size: 0.95rem; }
/* The title: two lines at most in a 1024-pixel window with the sidebar open. */
h1 { font-size: clamp(1.7rem, 1rem + 1.6vw, 2.75rem) !important; }
@media (max-width: 1280px) {
  [data-testid="stMainBlockContainer"] { padding-left: 1.5rem; padding-right: 1.5rem; }
}
.advdemo-verdict { font-size: 1.3rem; font-weight: 700; line-height: 1.3; padding: 0.35rem 0.8rem;
                   border-radius: 0.5rem; color: #ffffff; margin: 0.25rem 0 0.5rem 0; }
.advdemo-fooled { background: #C0151B; }
.advdemo-held { background: #1B7F3B; }
.advdemo-wrong { background: #4A4A4A; }
.advdemo-missed { background: #8A4B00; }
.advdemo-none { background: #FFFFFF; color: #4A4A4A; border: 2px dashed #4A4A4A; }
/* The canvas's toolbar (undo, redo, reset) appears 2.65rem above the canvas on hover: leave it that room, so
   that it does not cover the Gallery / Draw / Upload choice above. */
.stElementContainer[class*="st-key-canvas_"] { margin-top: 2rem; }
""" + charts.BARS_CSS + """</style>
"""

#: Added in presentation mode (class ``advdemo-present`` marks the page for tests and for the eye).
PRESENTATION_CSS = """
<style class="advdemo-present">
/* Large type that grows with the screen: 18 px up to 1280 pixels wide, 26 px on a 1920 x 1080 projector. */
html { font-size: clamp(18px, 1.36vw, 30px); }
/* No Streamlit chrome: the Deploy button, the main menu, the running indicator, the coloured bar, the footer.
   The header stays (transparent) only for the button that opens the sidebar. */
[data-testid="stToolbarActions"], [data-testid="stAppDeployButton"], [data-testid="stMainMenu"],
[data-testid="stStatusWidget"], [data-testid="stDecoration"], footer { display: none !important; }
[data-testid="stHeader"] { background: transparent; height: 2.6rem; }
[data-testid="stMainBlockContainer"] { padding: 2.6rem 1.5rem 4rem 1.5rem; max-width: none; }
/* High contrast: black on white, captions included. */
.stApp, .stApp p, .stApp li, .stApp label, .stApp h1, .stApp h2, .stApp h3 { color: #000000; }
[data-testid="stCaptionContainer"] { opacity: 1; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #262626; font-size: 0.9rem; }
[data-testid="stWidgetLabel"] p { font-weight: 700; }
/* A compact title on one line, and compact headings. */
h1 { font-size: clamp(1.4rem, 0.6rem + 1.5vw, 2.4rem) !important; padding: 0 0 0.2rem 0 !important;
     white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
h2, h3 { padding-top: 0.3rem !important; padding-bottom: 0.2rem !important; }
/* The toggle floats top right, where the menu was. */
.st-key-present { position: fixed; top: 0.45rem; right: 1.2rem; z-index: 1000001; width: auto !important;
                  background: #FFFFFF; padding: 0 0.4rem; border-radius: 0.4rem; }
.advdemo-verdict { font-size: 1.6rem; padding: 0.3rem 0.7rem; margin: 0.1rem 0 0.35rem 0; }
.advdemo-held, .advdemo-fooled, .advdemo-wrong, .advdemo-missed { border: 3px solid #000000; }
/* "Students: open this on your phone" floats top left, beside the button that opens the sidebar. */
.st-key-lang { position: fixed; top: 0.3rem; right: 15rem; z-index: 1000001; width: auto !important; }
.st-key-join_button { position: fixed; top: 0.3rem; left: 3.6rem; z-index: 1000001; width: auto !important; }
.st-key-join_button button { min-height: 2rem; padding: 0.1rem 0.8rem; }
/* The QR panel covers the page: white, the code as large as the window allows (a quiet zone of 4 modules is in the
   picture), the link beneath in large type. */
.st-key-join_panel { position: fixed; inset: 0; z-index: 1000002; background: #FFFFFF; overflow-y: auto;
                     padding: 0.6rem 1.5rem 1rem 1.5rem; align-items: center; gap: 0.4rem; }
.st-key-join_panel > * { max-width: min(100%, 60rem); }
.advdemo-qr-box { display: flex; justify-content: center; }
.advdemo-qr-box img.advdemo-qr { display: block; width: min(94vw, calc(100vh - 11rem), 60rem); height: auto;
                                aspect-ratio: 1 / 1; max-width: none; }
.st-key-join_panel [data-testid="stCode"] pre, .st-key-join_panel [data-testid="stCode"] code {
  font-size: 1.15rem; color: #000000; }
/* A narrow screen (a phone): the floating buttons go back into the flow. */
@media (max-width: 640px) {
  .st-key-present, .st-key-lang, .st-key-join_button, .st-key-tour_start { position: static !important;
    transform: none !important; }
}
</style>
"""
#: The toggle's label and help.
TOGGLE_LABEL = N_("Presentation mode")
TOGGLE_HELP = N_("For a projector: large type, no Streamlit menu, the norm, ε and attack next to the verdicts, the "
               "input folded to a thumbnail. The link keeps it (`present=1`).")


def presenting() -> bool:
    """Whether this session is in presentation mode."""
    return bool(st.session_state.get(keys.PRESENT))


def apply() -> bool:
    """Inject the app's CSS (takes no space on the page), and presentation mode's when it is on, with the sidebar
    folded away (unless the user has opened or closed it by hand in this browser, which the browser remembers).
    Call after ``url.restore_from_url`` (a link may turn it on). Returns whether presentation mode is on."""
    present = presenting()
    st.set_page_config(initial_sidebar_state="collapsed" if present else "auto")
    st.html(CSS + (PRESENTATION_CSS if present else ""))
    return present


def presentation_toggle() -> bool:
    """The one presentation-mode toggle (top of the page; top right, out of the flow, in presentation mode)."""
    keys.default(keys.PRESENT, False)
    return bool(st.toggle(_(TOGGLE_LABEL), key=keys.PRESENT, help=_(TOGGLE_HELP)))
