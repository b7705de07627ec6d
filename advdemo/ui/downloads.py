"""Export, next to section 2's "Download this example (.npz)": for each model, its adversarial image as an 8-bit PNG
and as a lossless ``.npy``, and its figure (attacked image, perturbation, confidence bars) as a PNG; and whether
saving the image as an 8-bit PNG changes the model's answer (``export.rounding_check``, on the image exactly
as a PNG reader gets it back).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

from advdemo.demo import export, figures
from advdemo.demo.analysis import Outcome
from advdemo.ui import resources
from advdemo.ui.lang import _


@dataclasses.dataclass(frozen=True)
class Download:
    """One download button's file: its label, name, MIME type, a function that makes its contents when the button
    is clicked, and tooltip."""

    label: str
    file_name: str
    mime: str
    data: Callable[[], bytes]
    help: str


def downloads_of(outcome: Outcome, clean: np.ndarray, label: int, title: str) -> list[Download]:
    """The files of one model's result: its adversarial image as PNG and as .npy, and its figure, each made when
    its button is clicked (not on every rerun: a slider move would encode and store nine files)."""
    stem = f"adversarial-{outcome.model}"
    return [
        Download("PNG", f"{stem}.png", "image/png", functools.partial(export.png_bytes, outcome.adversarial),
                 _("{model}'s adversarial image as an 8-bit PNG (28 × 28; pixels rounded to 1/255)").format(
                     model=outcome.model)),
        Download("NPY", f"{stem}.npy", "application/octet-stream",
                 functools.partial(export.npy_bytes, outcome.adversarial),
                 _("{model}'s adversarial image, float32 28 × 28, exactly (numpy.load reads it)").format(
                     model=outcome.model)),
        Download(_("Figure"), f"{stem}-figure.png", "image/png",
                 functools.partial(figures.outcome_png, outcome, clean, label, f"{outcome.model}: {title}"),
                 _("{model}'s attacked image, perturbation and confidence bars as a PNG figure").format(
                     model=outcome.model)),
    ]


def export_buttons(model_keys: resources.ModelKeys, clean: np.ndarray, label: int, title: str,
                   outcomes: Sequence[Outcome]) -> None:
    """One row per model: its three downloads, and what 8-bit rounding does to its answer."""
    for outcome in outcomes:
        check = resources.rounding_check(model_keys, outcome.model, outcome.adversarial)
        columns = st.columns([1, 1, 1, 4], vertical_alignment="center")
        for column, download in zip(columns, downloads_of(outcome, clean, label, title)):
            column.download_button(download.label, download.data, file_name=download.file_name, mime=download.mime,
                                   on_click="ignore", icon=":material/download:", help=download.help,
                                   key=f"export_{outcome.model}_{download.file_name}", width="stretch")
        note = export.describe(check, outcome.model)
        if check.changed:
            columns[3].warning(note, icon=":material/warning:")
        else:
            columns[3].caption(note)
