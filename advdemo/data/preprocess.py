"""Turn a drawing or an uploaded picture into a 28x28 digit laid out like MNIST (pure NumPy and Pillow).

MNIST's recipe (LeCun et al.): the digit is cropped to its ink, scaled so that its longest side is 20 pixels
(keeping the aspect ratio, anti-aliased), and placed in a 28x28 field so that its centre of mass sits at the
centre. The bundled MNIST digits have their centre of mass at row 14.0, column 14.0 (index coordinates,
measured on the gallery), so that is the target here too. Ink is bright (1.0) on a black (0.0) background.

Pictures with a light background (a pen drawing on paper, a scan) are inverted automatically; the
background level and contrast are normalised so that a grey photo becomes clean white-on-black ink.

``not_a_digit`` says when a 28x28 image does not look like a handwritten digit (a dot, a painted-over canvas, a
scribble, scattered pieces), from a few simple measures (``digit_shape``) with limits beyond every bundled MNIST
test digit.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Side of the model's input.
MNIST_SIZE = 28
#: Longest side of the digit inside the 28x28 field.
DIGIT_BOX = 20
#: Where the centre of mass of the digit goes, (row, column) in pixel-index coordinates (MNIST: 14.0, 14.0).
CENTRE_OF_MASS = (14.0, 14.0)
#: A pixel is ink when its normalised intensity exceeds this; fainter pixels are set to 0 (background).
INK_THRESHOLD = 0.1
#: Below this contrast (brightest pixel minus background level) an image holds no digit.
MIN_CONTRAST = 0.2
#: A drawing whose ink covers less of the canvas than this is "nearly empty" (a stray dot, not a digit).
MIN_DRAWING_INK_FRACTION = 0.005
#: The same for uploads, which may be large photos with a thin digit.
MIN_UPLOAD_INK_FRACTION = 0.0005
#: An image with fewer ink pixels than this is empty, whatever its size.
MIN_INK_PIXELS = 4
#: Upload limits: file size, pixel count and longest side.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_PIXELS = 20_000_000
MAX_UPLOAD_SIDE = 10_000
#: A picture narrower or shorter than this (pixels) is too small to hold a digit (MNIST's are 28x28).
MIN_UPLOAD_SIDE = 8
#: Pillow format names accepted for uploads.
UPLOAD_FORMATS = ("PNG", "JPEG")
#: ITU-R 601 luma weights, as Pillow's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114])


class ImageError(ValueError):
    """An input that cannot become a digit: unreadable, wrong type or shape, too large. The message is for users."""


class EmptyImageError(ImageError):
    """The image holds no digit: blank, or nearly so."""


@dataclasses.dataclass(frozen=True)
class Preprocessed:
    """A digit ready for the models.

    Attributes:
        image: float32 (28, 28) in [0, 1], white ink on black, MNIST layout.
        inverted: the input was dark ink on a light background and has been inverted.
        ink_fraction: share of the input's pixels that are ink (before cropping).
    """

    image: np.ndarray
    inverted: bool
    ink_fraction: float

    def batch(self) -> np.ndarray:
        """The image as a model batch: float32 (1, 28, 28, 1)."""
        return self.image[None, :, :, None].astype(np.float32)


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    """Any numeric or boolean array -> float64 in [0, 1] (uint8 / 255, uint16 / 65535, floats as they are)."""
    if image.dtype == bool:
        return image.astype(np.float64)
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 65535.0
    if np.issubdtype(image.dtype, np.integer):
        values = image.astype(np.float64)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise ImageError(f"integer pixel values must lie in 0-255, got {values.min():g}..{values.max():g}")
        return values / 255.0
    if np.issubdtype(image.dtype, np.floating):
        values = image.astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise ImageError("the image contains NaN or infinite pixel values")
        if values.size and (values.min() < 0 or values.max() > 1):
            raise ImageError(f"float pixel values must lie in [0, 1], got {values.min():.3g}..{values.max():.3g}")
        return values
    raise ImageError(f"unsupported pixel type {image.dtype}")


def to_grayscale(image: np.ndarray, background: float = 0.0) -> np.ndarray:
    """Intensity in [0, 1] of an image shaped (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA.

    Colour becomes luma (ITU-R 601); transparent pixels are composited over a flat ``background`` level
    (0.0 black, 1.0 white). Returns float64 (H, W).

    Raises:
        ImageError: wrong shape, no pixels, or pixel values outside the valid range.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"expected an image shaped (H, W), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"the image has no pixels (shape {image.shape})")
    values = _as_unit_float(image)
    if values.ndim == 2:
        return values
    gray = values[:, :, :3] @ _LUMA
    if values.shape[2] == 4:
        alpha = values[:, :, 3]
        gray = gray * alpha + background * (1.0 - alpha)
    return np.clip(gray, 0.0, 1.0)


def contrasting_background(image: np.ndarray) -> float:
    """For an RGBA image with transparency: 0.0 (black) if its opaque content is mostly light, else 1.0.

    A black digit on a transparent background stays visible (composited over white, then inverted), and so
    does a white digit on a transparent background (composited over black). Opaque images return 0.0.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 4:
        return 0.0
    values = _as_unit_float(image)
    alpha = values[:, :, 3]
    if np.all(alpha >= 1.0) or alpha.sum() == 0:
        return 0.0
    luma = values[:, :, :3] @ _LUMA
    mean_opaque = float((luma * alpha).sum() / alpha.sum())
    return 0.0 if mean_opaque > 0.5 else 1.0


def border_level(gray: np.ndarray) -> float:
    """Median intensity of the image's outer frame (5% of the shorter side, at least 1 pixel): the background."""
    gray = np.asarray(gray, dtype=np.float64)
    width = max(1, int(round(0.05 * min(gray.shape))))
    frame = np.concatenate([gray[:width].ravel(), gray[-width:].ravel(),
                            gray[:, :width].ravel(), gray[:, -width:].ravel()])
    return float(np.median(frame))


def normalise_ink(gray: np.ndarray, auto_invert: bool = True,
                  background_level: float | None = None) -> tuple[np.ndarray, bool]:
    """Bright ink on a zero background, contrast stretched to [0, 1]; faint pixels (< INK_THRESHOLD) zeroed.

    The background level is ``background_level`` when known (a canvas: 0.0), else the border's median.
    With ``auto_invert``, an image whose background is light (> 0.5) is inverted first: dark ink on paper
    becomes light ink on black. Returns (ink float64 (H, W), inverted). An image without contrast
    (< MIN_CONTRAST) returns all zeros.
    """
    gray = np.asarray(gray, dtype=np.float64)
    background = border_level(gray) if background_level is None else float(background_level)
    inverted = bool(auto_invert and background > 0.5)
    if inverted:
        gray, background = 1.0 - gray, 1.0 - background
    peak = float(gray.max())
    if peak - background < MIN_CONTRAST:
        return np.zeros_like(gray), inverted
    ink = np.clip((gray - background) / (peak - background), 0.0, 1.0)
    ink[ink < INK_THRESHOLD] = 0.0
    return ink, inverted


def is_nearly_empty(ink: np.ndarray, min_fraction: float = MIN_DRAWING_INK_FRACTION) -> bool:
    """True when fewer than ``min_fraction`` of the pixels (and at least MIN_INK_PIXELS) are ink."""
    ink = np.asarray(ink)
    count = int(np.count_nonzero(ink > INK_THRESHOLD))
    return count < max(MIN_INK_PIXELS, min_fraction * ink.size)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre of an image (H, W) with positive total mass."""
    image = np.asarray(image, dtype=np.float64)
    total = image.sum()
    if total <= 0:
        raise ValueError("an image without ink has no centre of mass")
    rows = np.arange(image.shape[0])
    cols = np.arange(image.shape[1])
    return float(image.sum(axis=1) @ rows / total), float(image.sum(axis=0) @ cols / total)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased (Lanczos) resize of a float image, clipped back to [0, 1]."""
    resized = Image.fromarray(image.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def mnist_layout(ink: np.ndarray) -> np.ndarray:
    """Crop ``ink`` (H, W; zero background) to its ink, scale the longest side to 20 px keeping the aspect
    ratio, rescale the peak to 1, and place it in 28x28 with its centre of mass at CENTRE_OF_MASS.

    Returns float32 (28, 28) in [0, 1].

    Raises:
        EmptyImageError: ``ink`` has no pixel above INK_THRESHOLD.
    """
    ink = np.asarray(ink, dtype=np.float64)
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise EmptyImageError("the image has no ink")
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    new_height = min(DIGIT_BOX, max(1, round(height * scale)))
    new_width = min(DIGIT_BOX, max(1, round(width * scale)))
    digit = _resize(crop, new_height, new_width)
    peak = digit.max()
    if peak <= 0:
        raise EmptyImageError("the image has no ink")
    digit = digit / peak
    # Put the box where its centre of mass lands on the target, without pushing any ink out of the field.
    row_in_box, col_in_box = centre_of_mass(digit)
    top = int(np.clip(round(CENTRE_OF_MASS[0] - row_in_box), 0, MNIST_SIZE - new_height))
    left = int(np.clip(round(CENTRE_OF_MASS[1] - col_in_box), 0, MNIST_SIZE - new_width))
    field = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    field[top:top + new_height, left:left + new_width] = digit
    return field


def preprocess_image(image: np.ndarray, *, auto_invert: bool = True, alpha_background: float | None = None,
                     background_level: float | None = None,
                     min_ink_fraction: float = MIN_UPLOAD_INK_FRACTION) -> Preprocessed:
    """Any image array -> a 28x28 MNIST-style digit.

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8 0-255, uint16, bool, or float in [0, 1].
        auto_invert: invert dark-on-light images.
        alpha_background: level transparent pixels are composited over; ``None`` picks the one
            contrasting with the opaque content (see ``contrasting_background``).
        background_level: the background's intensity if known (a canvas: 0.0); ``None`` estimates it from
            the image's border.
        min_ink_fraction: below this share of ink pixels the image counts as empty.

    Raises:
        ImageError: the array is not an image.
        EmptyImageError: the image is blank or nearly so.
    """
    image = np.asarray(image)
    if alpha_background is None:
        alpha_background = contrasting_background(image)
    gray = to_grayscale(image, alpha_background)
    ink, inverted = normalise_ink(gray, auto_invert=auto_invert, background_level=background_level)
    if is_nearly_empty(ink, min_ink_fraction):
        raise EmptyImageError("the image is empty or nearly empty: no digit to classify")
    fraction = float(np.count_nonzero(ink > INK_THRESHOLD) / ink.size)
    return Preprocessed(mnist_layout(ink), inverted, fraction)


def preprocess_drawing(image: np.ndarray, min_ink_fraction: float = MIN_DRAWING_INK_FRACTION) -> Preprocessed:
    """A canvas drawing (white strokes on black, RGBA or grayscale) -> a 28x28 digit. Never inverted, whatever
    the drawing covers; transparent pixels count as black.

    Raises:
        ImageError: the array is not an image.
        EmptyImageError: the canvas is empty or nearly so.
    """
    return preprocess_image(image, auto_invert=False, alpha_background=0.0, background_level=0.0,
                            min_ink_fraction=min_ink_fraction)


def _image_to_array(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image -> uint8 (H, W, 3) RGB or (H, W, 4) RGBA, or float (H, W) for 16-bit grey."""
    if image.mode.startswith("I"):
        values = np.asarray(image.convert("I"), dtype=np.float64)
        top = 65535.0 if values.size and values.max() > 255 else 255.0
        return np.clip(values / top, 0.0, 1.0)
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def decode_image(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
                 max_side: int = MAX_UPLOAD_SIDE) -> np.ndarray:
    """The pixels of a PNG or JPEG file's bytes, checked against the upload limits.

    JPEG orientation tags are applied. Returns uint8 (H, W, 3|4), or float (H, W) in [0, 1] for 16-bit grey.

    Raises:
        ImageError: empty, too large or too small, not a PNG/JPEG, animated, or corrupt; the message says which,
            for a user.
    """
    if not data:
        raise ImageError("The file is empty (0 bytes). Upload a PNG or JPEG picture of a digit.")
    if len(data) > max_bytes:  # its size rounded up: a file just over 5 MB is never "5.0 MB; the limit is 5 MB"
        raise ImageError(f"The file is {math.ceil(len(data) / 2**20 * 10) / 10:.1f} MB; the limit is "
                         f"{max_bytes / 2**20:.3g} MB. Scale the picture down or crop it.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in UPLOAD_FORMATS:
                raise ImageError(f"This is a {image.format} image; only PNG and JPEG are supported.")
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageError(f"The image has no pixels ({width}x{height}).")
            if width * height > max_pixels or max(width, height) > max_side:
                raise ImageError(f"The image is {width}x{height} pixels; the limit is {max_pixels / 1e6:.0f} "
                                 f"megapixels and {max_side} pixels a side. Scale it down and try again.")
            if min(width, height) < MIN_UPLOAD_SIDE:
                raise ImageError(f"The image is {width}x{height} pixels: too small to hold a digit (at least "
                                 f"{MIN_UPLOAD_SIDE} pixels a side; MNIST's digits are 28x28).")
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                raise ImageError(f"This {image.format} is animated ({frames} frames); upload a still picture of "
                                 "one digit.")
            image.load()
            return _image_to_array(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("This file is not a PNG or JPEG image (it could not be recognised).") from None
    except Image.DecompressionBombError:
        raise ImageError("The image is far too large (decompression bomb protection). Scale it down.") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as error:
        raise ImageError(f"The image could not be decoded (truncated or corrupt?): {error}") from None


def preprocess_upload(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
                      max_side: int = MAX_UPLOAD_SIDE) -> Preprocessed:
    """The bytes of an uploaded PNG/JPEG -> a 28x28 digit; dark-on-light pictures are inverted.

    Raises:
        ImageError: the file is not a usable image (see ``decode_image``).
        EmptyImageError: the picture holds no digit.
    """
    pixels = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, max_side=max_side)
    return preprocess_image(pixels, auto_invert=True, min_ink_fraction=MIN_UPLOAD_INK_FRACTION)


# Does it look like a digit? Simple measures of the 28x28 image, each with a limit beyond the most extreme of the
# 500 bundled MNIST test digits (pretrained/gallery.npz). Measured there: the thickest part holds a 7x7 square of
# ink, ink covers at most 28.7% of the image, at most 2 enclosed holes, outlines up to 164 pixel edges, at most 2
# pieces. A canvas drawing with its 22-pixel brush, down to 60 px tall, stays within these limits too.
#: A pixel is solid ink for the measures below (all but pieces) when its intensity is at least this.
SHAPE_THRESHOLD = 0.5
#: A solid square of ink this wide (pixels) fitting inside means a blob (a dot, a painted area), not pen strokes.
BLOB_SQUARE = 11
#: More of the 28x28 image than this is solid ink: no digit is that heavy.
MAX_INK_SHARE = 0.40
#: More enclosed holes (of at least MIN_HOLE pixels) than this: a tangle (an 8 has two loops).
MAX_HOLES = 2
MIN_HOLE = 2
#: An outline (ink-background pixel edges) longer than this: a scribble.
MAX_OUTLINE = 190
#: More separate pieces than this (each at least MIN_PIECE pixels above PIECE_THRESHOLD, faint ink included so
#: that a thin stroke counts as one piece).
MAX_PIECES = 3
MIN_PIECE = 2
PIECE_THRESHOLD = 0.2


def _components(mask: np.ndarray, diagonal: bool) -> tuple[np.ndarray, list[int]]:
    """Connected components of a boolean image: (labels, 1 for the first component..., sizes in label order);
    8-connected with ``diagonal``, else 4-connected."""
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)] + ([(-1, -1), (-1, 1), (1, -1), (1, 1)] if diagonal else [])
    height, width = mask.shape
    labels = np.zeros(mask.shape, dtype=np.int32)
    sizes: list[int] = []
    for row, col in zip(*np.nonzero(mask)):
        if labels[row, col]:
            continue
        sizes.append(0)
        labels[row, col] = len(sizes)
        stack = [(int(row), int(col))]
        while stack:
            y, x = stack.pop()
            sizes[-1] += 1
            for dy, dx in steps:
                ny, nx = y + dy, x + dx
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = len(sizes)
                    stack.append((ny, nx))
    return labels, sizes


def largest_solid_square(mask: np.ndarray) -> int:
    """Side (pixels) of the largest odd-sided square of ``True`` pixels centred on a pixel of ``mask``: 1 for thin
    strokes, 0 for no ink. Each 3x3 erosion removes a one-pixel border; a square of side 2k-1 survives k-1 of them."""
    mask = np.asarray(mask, dtype=bool)
    erosions = 0
    while mask.any():
        padded = np.pad(mask, 1)
        shifted = [padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        mask = np.logical_and.reduce(shifted)
        erosions += 1
    return 2 * erosions - 1 if erosions else 0


@dataclasses.dataclass(frozen=True)
class ShapeProblem:
    """A reason why an image does not look like a digit: what it is (``a solid blob, not pen strokes``) and the
    measure that shows it, beside a handwritten digit's (``a 13×13-pixel square of ink fits inside it; ...``)."""

    kind: str
    what: str
    evidence: str


@dataclasses.dataclass(frozen=True)
class DigitShape:
    """Simple measures of a 28x28 image that say whether it can be a handwritten digit (see ``digit_shape``).

    Attributes:
        ink_share: share of the 784 pixels that are solid ink (>= SHAPE_THRESHOLD).
        thickest: side of the largest solid square of ink inside it (pen strokes: a few pixels).
        holes: enclosed background regions of at least MIN_HOLE pixels (0 has one, 8 two).
        outline: length of the boundary between ink and background, in pixel edges.
        pieces: separate (8-connected) pieces of ink (>= PIECE_THRESHOLD) of at least MIN_PIECE pixels.
    """

    ink_share: float
    thickest: int
    holes: int
    outline: int
    pieces: int

    def problems(self) -> list[ShapeProblem]:
        """Why this does not look like a digit, most telling first (empty: it may be one)."""
        found = []
        if self.thickest >= BLOB_SQUARE:
            found.append(ShapeProblem("blob", "a solid blob, not pen strokes",
                                      f"a {self.thickest}×{self.thickest}-pixel square of ink fits inside it; in "
                                      "handwritten digits at most 7×7"))
        if self.ink_share > MAX_INK_SHARE:
            found.append(ShapeProblem("ink", "mostly ink", f"{self.ink_share:.0%} of the 28×28 image; handwritten "
                                                           "digits: under 30%"))
        if self.holes > MAX_HOLES:
            found.append(ShapeProblem("tangle", "a tangle", f"{self.holes} enclosed holes; a digit has at most 2, "
                                                            "like an 8"))
        if self.outline > MAX_OUTLINE:
            found.append(ShapeProblem("scribble", "a scribble", f"its outline is {self.outline} pixels long; "
                                                                "handwritten digits: under 165"))
        if self.pieces > MAX_PIECES:
            found.append(ShapeProblem("pieces", f"in {self.pieces} separate pieces",
                                      f"a digit is one piece, sometimes {MAX_PIECES - 1}"))
        return found


def digit_shape(image: np.ndarray) -> DigitShape:
    """The measures of ``DigitShape`` on a 28x28 image in [0, 1], white ink on black (the models' input)."""
    values = np.asarray(image, dtype=np.float64)
    ink = values >= SHAPE_THRESHOLD
    padded = np.pad(ink, 1)
    outline = int(np.count_nonzero(padded[1:] != padded[:-1]) + np.count_nonzero(padded[:, 1:] != padded[:, :-1]))
    background, sizes = _components(~padded, diagonal=False)
    outside = background[0, 0]  # the padding frame joins everything that reaches the border
    holes = sum(1 for number, size in enumerate(sizes, start=1) if number != outside and size >= MIN_HOLE)
    _, pieces = _components(values >= PIECE_THRESHOLD, diagonal=True)
    return DigitShape(ink_share=float(ink.mean()), thickest=largest_solid_square(ink), holes=holes,
                      outline=outline, pieces=sum(1 for size in pieces if size >= MIN_PIECE))


#: Below this share of ink, a blob on the canvas or picture is a dot; above PAINTED_SHARE, a painted-over area.
DOT_SHARE = 0.01
PAINTED_SHARE = 0.5


def _percent(share: float) -> str:
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def not_a_digit(image: np.ndarray, ink_share: float | None = None, where: str = "canvas") -> str | None:
    """Why the 28x28 ``image`` does not look like a handwritten digit, or None if it may be one.

    The decision reads ``image`` only (the same 28x28 image gives the same answer, wherever it comes from); the
    share of the original ``where`` (canvas, picture) that is ink, if known, only makes the words plainer: a blob
    on 0.3% of the canvas is ``a single dot``. Returns e.g. ``a single dot (0.3% of the canvas is ink; a
    13×13-pixel square of ink fits inside it; in handwritten digits at most 7×7)``.
    """
    problems = digit_shape(image).problems()
    if not problems:
        return None
    problem = problems[0]
    what, evidence = problem.what, problem.evidence
    if ink_share is not None:
        if problem.kind == "blob" and ink_share < DOT_SHARE:
            what = "a single dot"
        elif problem.kind == "blob" and ink_share > PAINTED_SHARE:
            what = f"a painted-over {where}, not pen strokes"
        evidence = f"{_percent(ink_share)} of the {where} is ink; {evidence}"
    return f"{what} ({evidence})"
