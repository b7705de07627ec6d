"""Projector-friendly styling: larger type and bold, high-contrast verdict badges; room for the canvas's toolbar."""

from __future__ import annotations

import streamlit as st

CSS = """
<style>
html { font-size: 18px; }
[data-testid="stCaptionContainer"] { font-size: 0.95rem; }
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
</style>
"""


def apply() -> None:
    """Inject the app's CSS (takes no space on the page)."""
    st.html(CSS)
