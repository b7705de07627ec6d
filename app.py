"""advdemo's Streamlit app: how adversarial examples fool a neural network, and how adversarial training
makes one robust.

    streamlit run app.py

Models, model cards and the digit gallery come from ``pretrained/`` (``$ADVDEMO_PRETRAINED`` overrides it);
the user's own models from ``registry.user_dir()`` (``$ADVDEMO_HOME/models``, else ``~/.advdemo/models``).
This file only composes the pieces of ``advdemo.ui``.
"""

from __future__ import annotations

import streamlit as st

from advdemo.ui import explain, inputs, lang, resources, results, runtime, style, tour, training, url
from advdemo.ui.lang import N_, _

TITLE = N_("Fooling a neural network, and making it robust")
INTRO = N_(
    "A small, deliberately chosen change to an image, of size **ε**, can make a neural network read the wrong "
    "digit: an **adversarial example**. Small is not the same as invisible: at the default ε = 0.2 (L-inf) the "
    "attacked digit sits on a grey haze anyone can see, so each model's column says how visible its change is and "
    "the smallest ε that fools it on this digit. The same small CNN was trained three ways on MNIST: **base** "
    "normally, **tutorial** with the NSL tutorial's adversarial regularization (FGSM neighbours), **robust** with "
    "TRADES adversarial training (PGD). Pick a digit, then move **ε** in the sidebar."
)


def main() -> None:
    """The page: input section, then the attack fragment (sidebar controls and results)."""
    runtime.keep_kernels_between_reruns()
    url.restore_from_url()
    lang.default_language()
    st.set_page_config(page_title=_("Adversarial examples on MNIST"), page_icon="🎯", layout="wide")
    present = style.apply()  # presentation mode: a compact title, no intro, the explanations below the results
    style.presentation_toggle()
    lang.selector()  # the language, at the top of the page (top right with the toggle in presentation mode)
    st.title(_(TITLE))
    if not present:
        st.markdown(_(INTRO))
    url.show_url_note()  # what a link could not use, in one line
    training.live_view()  # a training's curves, while this session follows one
    if not present:
        explain.explanations()  # "How it works": formulas, and the cards' own figures
    roster = resources.roster()
    entries = resources.model_entries(roster.models)
    resources.report_model_errors(entries, roster.warnings)
    tour.tour_bar(entries)  # the guided tour: its buttons set the controls below
    gallery, gallery_error = resources.gallery()
    digit = inputs.input_section(gallery, gallery_error, compact=present)
    results.analysis_fragment(digit, entries)
    if present:
        explain.explanations()
    training.training_panel()
    training.user_models_panel(roster)


main()
