"""Projector-friendly styling: larger type and bold, high-contrast verdict badges."""

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
</style>
"""


def apply() -> None:
    """Inject the app's CSS (takes no space on the page)."""
    st.html(CSS)
