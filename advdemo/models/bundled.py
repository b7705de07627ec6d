"""The bundled models: their names, colours, one-line summaries and the command that rebuilds each one."""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Bundled:
    name: str
    summary: str
    colour: str
    markdown_colour: str
    #: The ``python -m advdemo.train`` options that rebuild it (``--out`` added by ``rebuild_command``).
    train_options: str = ""


#: The bundled models in display order; colours from the Okabe-Ito and Tol palettes (colour-blind safe).
BUNDLED: tuple[Bundled, ...] = (
    Bundled("base", "normal training", "#D55E00", "orange", "--recipe base"),
    Bundled("tutorial", "NSL tutorial: adversarial regularization with FGSM neighbours", "#CC79A7", "violet",
             "--recipe tutorial"),
    Bundled("robust", "TRADES: adversarial training with PGD", "#0072B2", "blue", "--recipe robust"),
    # The tutorial's recipe with seed 1: a gradient-masked model, for teaching (off by default).
    Bundled("masked", "NSL tutorial recipe, seed 1: gradient-masked (one FGSM step finds almost nothing, PGD "
                       "almost everything)", "#882255", "red", "--recipe tutorial --seed 1"),
    Bundled("certified", "interval bound propagation: trained so that a proof covers most digits", "#117733", "green",
            "--recipe certified"),
)
BUNDLED_NAMES: tuple[str, ...] = tuple(model.name for model in BUNDLED)


def rebuild_command(name: str, out: str | os.PathLike) -> str | None:
    """The command that trains bundled model ``name`` into ``out`` (None for a name that is not bundled)."""
    bundled = next((model for model in BUNDLED if model.name == name), None)
    return None if bundled is None else f"python -m advdemo.train {bundled.train_options} --out {out}"
