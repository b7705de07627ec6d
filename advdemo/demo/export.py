"""Exporting an adversarial image: as an 8-bit PNG (what image files hold) or a lossless ``.npy``, and whether the
8-bit rounding changes a model's answer.

An adversarial image is float32 in [0, 1]; a PNG stores each pixel as one of 256 levels, so saving it rounds every
pixel to the nearest multiple of 1/255 (at most 1/510 away). The perturbation is finely tuned, so that rounding can
undo it: ``rounding_check`` predicts on the image exactly as a PNG reader gets it back. The ``.npy`` keeps the float32
values exactly. No Streamlit and no model here: the caller passes a function that gives class probabilities.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import numpy as np
from PIL import Image

#: Levels of an 8-bit grey pixel.
LEVELS = 255


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] grey image (H, W) as 8-bit levels: each pixel rounded to the nearest of 0, 1/255, ..., 1."""
    return np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * LEVELS).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """A grey image (H, W) in [0, 1] as an 8-bit greyscale PNG, one pixel per pixel."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """A PNG as the models read images: float32 (H, W), its 8-bit grey levels divided by 255."""
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture.convert("L"), dtype=np.float32) / LEVELS


def npy_bytes(image: np.ndarray) -> bytes:
    """The image as a ``.npy`` file: float32, exactly (``numpy.load`` reads it back)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(image, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def read_npy(data: bytes) -> np.ndarray:
    """An array from ``.npy`` bytes (never unpickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


@dataclasses.dataclass(frozen=True)
class RoundingCheck:
    """A model's answer on the float image and on its 8-bit PNG."""

    prediction: int
    confidence: float
    png_prediction: int
    png_confidence: float

    @property
    def changed(self) -> bool:
        """Whether saving as a PNG changes the predicted class."""
        return self.prediction != self.png_prediction


def rounding_check(probabilities_of: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> RoundingCheck:
    """Predict on ``image`` (H, W) and on the image a PNG reader gets back (``read_png(png_bytes(image))``).

    ``probabilities_of``: images (n, H, W) -> class probabilities (n, classes).
    """
    image = np.asarray(image, dtype=np.float32)
    stored = read_png(png_bytes(image))
    probs = np.asarray(probabilities_of(np.stack([image, stored])))
    first, second = int(np.argmax(probs[0])), int(np.argmax(probs[1]))
    return RoundingCheck(first, float(probs[0, first]), second, float(probs[1, second]))


def describe(check: RoundingCheck, model: str) -> str:
    """One sentence on what the 8-bit rounding does to ``model``'s answer."""
    if check.changed:
        return (f"**Rounding changes the answer**: saved as an 8-bit PNG, this image makes {model} say "
                f"**{check.png_prediction}** ({check.png_confidence:.0%}) instead of {check.prediction} "
                f"({check.confidence:.0%}). The .npy keeps the exact image.")
    return (f"Checked: the 8-bit PNG (pixels rounded to 1/255) still makes {model} say **{check.png_prediction}** "
            f"({check.png_confidence:.0%}); rounding does not change the answer.")
