"""Models, gallery and cards, loaded once per server (``st.cache_resource`` / ``st.cache_data``), and the
cached computations that use them.

Every cache is keyed on the file's path and its (modification time, size) stamp, so a retrained or restored
file is picked up on the next rerun without restarting the server. Models are never put in session state.
A missing or corrupt file becomes an error entry that names the file and the command that fixes it; the
app then carries on with the other models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import streamlit as st

from advdemo.data import Gallery, load_gallery
from advdemo.demo import analysis, charts, export, thresholds
from advdemo.demo.analysis import BatchResult, Outcome, Scenario, StepThrough, Sweep
from advdemo.models import ModelFileError, load_model, registry
from advdemo.models.cards import read_card

#: (modification time in ns, size in bytes) of a file, or None when it does not exist.
Stamp = tuple[int, int] | None


def pretrained_dir() -> Path:
    """The folder of the bundled models, cards and gallery: ``$ADVDEMO_PRETRAINED`` if set now, else the
    bundled one (``registry.bundled_dir``)."""
    return registry.bundled_dir()


def stamp(path: Path) -> Stamp:
    """The file's (mtime_ns, size), or None if it is missing."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A model of the roster (bundled or user), its file's stamp and whether it loaded; ``error`` is a
    message for users."""

    info: registry.ModelInfo
    stamp: Stamp
    error: str | None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def key(self) -> tuple[str, str, Stamp]:
        """What identifies this exact file in the computation caches."""
        return self.name, str(self.path), self.stamp


@st.cache_resource(show_spinner="Loading a model…", max_entries=12)
def _load_model(path: str, file_stamp: Stamp) -> tuple[keras.Model | None, str | None]:
    """(model, None) or (None, error message); cached, errors included, until the file changes."""
    del file_stamp  # part of the cache key only
    try:
        return load_model(path), None
    except ModelFileError as error:
        return None, str(error)


def roster() -> registry.Roster:
    """The registry's models (bundled, then the user's) and its warnings, read now: a model saved or deleted
    since the last run shows up (or goes) on the next one."""
    return registry.list_models()


def model_entries(models: Iterable[registry.ModelInfo] | None = None) -> dict[str, ModelEntry]:
    """The entry of each model of ``models`` (default: the registry's roster), in order; loads (once) those
    not loaded yet."""
    entries = {}
    for info in roster().models if models is None else models:
        file_stamp = stamp(info.path)
        _, error = _load_model(str(info.path), file_stamp)
        entries[info.name] = ModelEntry(info, file_stamp, error)
    return entries


def report_model_errors(entries: dict[str, ModelEntry], warnings: Iterable[str] = ()) -> None:
    """One ``st.error`` per model that failed to load, naming its file and how to fix it (the loader's message),
    and one ``st.warning`` per user model file the registry skipped."""
    for entry in entries.values():
        if entry.error is not None:
            st.error(f"**The {entry.name} model is unavailable**: {entry.error}. "
                     "The app carries on with the other models.")
    for warning in warnings:
        st.warning(warning)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_gallery(path: str, file_stamp: Stamp) -> tuple[Gallery | None, str | None]:
    del file_stamp
    try:
        return load_gallery(path), None
    except (FileNotFoundError, ValueError) as error:
        return None, str(error)


def gallery() -> tuple[Gallery | None, str | None]:
    """(the bundled digit gallery, None) or (None, error message)."""
    return _load_gallery(*gallery_key())


@st.cache_data(show_spinner=False, max_entries=12)
def _read_card(path: str, file_stamp: Stamp) -> tuple[dict[str, Any] | None, str | None]:
    del file_stamp
    try:
        return read_card(path), None
    except ValueError as error:
        return None, str(error)


def card(info: registry.ModelInfo) -> tuple[dict[str, Any] | None, str | None]:
    """(model card of the model ``info``, None) or (None, error message)."""
    return _read_card(str(info.card_path), stamp(info.card_path))


ModelKeys = tuple[tuple[str, str, Stamp], ...]


def _models(keys: ModelKeys) -> dict[str, keras.Model]:
    """The loaded models named by cache keys (all must have loaded)."""
    models = {}
    for name, path, file_stamp in keys:
        model, error = _load_model(path, file_stamp)
        if model is None:
            raise ModelFileError(error or f"model {name} is not loaded")
        models[name] = model
    return models


@st.cache_data(show_spinner="Attacking the models…", max_entries=256)
def outcomes(keys: ModelKeys, names: tuple[str, ...], image: np.ndarray, label: int, scenario: Scenario,
             noise: bool) -> list[Outcome]:
    """``analysis.analyse``, cached per (models, image, label, scenario)."""
    return analysis.analyse(_models(keys), names, image, label, scenario, noise)


@st.cache_data(show_spinner="Recording every step of the attack…", max_entries=64)
def step_through(keys: ModelKeys, name: str, image: np.ndarray, label: int, scenario: Scenario) -> StepThrough:
    """``analysis.step_through``, cached per (models, model, image, label, scenario)."""
    return analysis.step_through(_models(keys), name, image, label, scenario)


@st.cache_data(show_spinner=False, max_entries=256)
def rounding_check(keys: ModelKeys, name: str, image: np.ndarray) -> export.RoundingCheck:
    """``export.rounding_check`` of ``image`` (28, 28) for the model ``name``: its answer on the float image and on
    the 8-bit PNG, cached."""
    model = _models(keys)[name]
    return export.rounding_check(lambda images: analysis.probabilities(model, images), image)


@st.cache_data(show_spinner=False, max_entries=256)
def certified_radius(key: tuple[str, str, Stamp], image: np.ndarray, label: int) -> float:
    """``analysis.certified_radius`` of one model (its cache key) on ``image`` (28, 28), cached."""
    return analysis.certified_radius(_models((key,))[key[0]], image, label)


@st.cache_data(show_spinner=False, max_entries=256)
def clean_prediction(keys: ModelKeys, image: np.ndarray) -> int:
    """The first model's clean prediction for ``image`` (the label of a drawing nobody labelled)."""
    models = _models(keys)
    return analysis.clean_prediction(next(iter(models.values())), image)


@st.cache_data(show_spinner=False, max_entries=2048)
def _sweep_point(keys: ModelKeys, names: tuple[str, ...], image: np.ndarray, label: int,
                 scenario: Scenario) -> dict[str, np.ndarray]:
    return analysis.sweep_point(_models(keys), names, image, label, scenario)


def sweep(keys: ModelKeys, names: tuple[str, ...], image: np.ndarray, label: int, scenario: Scenario) -> Sweep:
    """``analysis.sweep_point`` at each eps of the scenario's eps grid, each eps cached on its own: moving the eps
    slider only computes the new eps."""
    epsilons = analysis.sweep_epsilons(scenario.norm, scenario.epsilon)
    with st.spinner("Sweeping ε on this digit…"):
        points = [_sweep_point(keys, names, image, label, dataclasses.replace(scenario, epsilon=float(eps)))
                  for eps in epsilons]
    return analysis.assemble_sweep(epsilons, label, points)


def smallest_flips(keys: ModelKeys, names: tuple[str, ...], image: np.ndarray, label: int, scenario: Scenario,
                   result: Sweep, step: float) -> dict[str, thresholds.Flip]:
    """Where each model of ``names`` is first fooled on ``image``, from the sweep ``result`` (``sweep``) itself.

    Its points on the fixed grid (``analysis.sweep_epsilons(norm, 0)``) are refined by bisection on the slider's
    grid (``step``), one attack per extra eps and model (``thresholds.refine``: 2 or 3 each), cached like the
    sweep's points. Those eps values do not depend on the slider's, so a slider move computes none of them; a new
    digit or scenario costs about 3 more attacks per model (FGSM: ~10 ms each, PGD-40: ~60 ms). The strongest
    attack (1-2 s per attack) and a sweep stretched beyond its fixed grid (the slider above it) are not refined.
    The slider's own eps joins last, so that the line never contradicts the verdict above it.
    """
    fixed = {round(float(eps), 6) for eps in analysis.sweep_epsilons(scenario.norm, 0.0)}
    swept = {round(float(eps), 6): index for index, eps in enumerate(result.epsilons)}
    refinable = scenario.method is not analysis.Method.STRONGEST and fixed <= set(swept)
    flips = {}
    for name in names:
        wrong = {eps: bool(result.predictions[name][index] != label) for eps, index in swept.items()}
        points = {eps: wrong[eps] for eps in fixed} if refinable else dict(wrong)
        if refinable:
            def is_fooled(eps: float, name: str = name) -> bool:
                probs = _sweep_point(keys, (name,), image, label, dataclasses.replace(scenario, epsilon=eps))[name]
                return int(np.argmax(probs)) != label

            points = thresholds.refine(points, step, is_fooled)
        flips[name] = thresholds.smallest_flip({**points, **wrong}, step)
    return flips


def gallery_key() -> tuple[str, Stamp]:
    """(path, stamp) of the gallery file, for cache keys."""
    path = pretrained_dir() / "gallery.npz"
    return str(path), stamp(path)


@st.cache_data(show_spinner="Attacking a batch of digits…", max_entries=32)
def batch(keys: ModelKeys, names: tuple[str, ...], gallery_file: tuple[str, Stamp], start: int, size: int,
          scenario: Scenario) -> tuple[BatchResult, bytes]:
    """``analysis.batch_view`` on ``size`` gallery digits from ``start`` (wrapping around), and its grid as a
    PNG (digits as attacked against the first model), cached."""
    digits, error = _load_gallery(*gallery_file)
    if digits is None:
        raise FileNotFoundError(error)
    indices = (np.arange(size) + start) % len(digits)
    result = analysis.batch_view(_models(keys), names, digits.images[indices, :, :, 0], digits.labels[indices],
                                 indices, scenario)
    return result, charts.batch_grid_png(result, names, names[0])
