"""Property tests (hypothesis): for arbitrary inputs, preprocessing gives a valid 28x28 digit or its
documented error; the norms' math follows its documented formulas; every attack stays in its ball and in [0, 1].

Tolerances, measured in float64 on the float32 results:

* the size of a perturbation ``x_adv - x``: ``<= eps * (1 + RELATIVE) + PIXEL_ROUNDING * c`` with ``RELATIVE =
  1e-5`` (the float32 rounding of a projection; Square's docstring promises the same) and ``c`` = 1 in L-inf,
  sqrt(changed pixels) in L2, changed pixels in L1: rounding ``x + delta`` to float32 in [0, 1] can move a
  pixel by up to one ulp of 1.0 (2^-23) beyond the exact ``delta``;
* the norms' own math (no pixel rounding): ``eps * (1 + RELATIVE)``.

TensorFlow flushes subnormal floats to zero on the CPU (``sign(1e-45) == 0`` there), so gradients given to the
norms' math are zero or normal floats; images may hold subnormal pixels.

Preprocessing must not warn either (a numpy RuntimeWarning would mean NaN or inf on the way); only Pillow's notes
about corrupt metadata in a corrupted file are expected.

Keras models are built once per module (a linear classifier, ``make_linear_model``) and given arbitrary weights
with ``set_weights``, so the compiled attack loops are traced once per setup, not per example. The whole file
runs in about 40 s on 2 cores. The last section keeps the examples the properties found as plain tests.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
import warnings
import zlib
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, PngImagePlugin

from advdemo.attacks import gradient as attacks
from advdemo.attacks import norms, sparse_rs, square
from advdemo.attacks.strongest import strongest_attack
from advdemo.configs import AttackConfig, AttackLoss, Direction, Norm, StrongestConfig
from advdemo.data import preprocess
from advdemo.data.preprocess import EmptyImageError, ImageError, Preprocessed

RELATIVE = 1e-5
PIXEL_ROUNDING = 2.0 ** -23

#: Every example runs in a few milliseconds once traced; the first of a setup traces for about a second.
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ATTACK = settings(max_examples=15, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
#: The random searches (and the ensemble) only change an image when a proposal lowers its margin: more examples.
SEARCH = settings(ATTACK, max_examples=30)


def sizes(delta: np.ndarray, norm: Norm) -> np.ndarray:
    """The norm of each example of ``delta`` (batch, ...), in float64."""
    flat = np.asarray(delta, np.float64).reshape(len(delta), -1)
    return {Norm.LINF: np.abs(flat).max(1, initial=0.0), Norm.L2: np.linalg.norm(flat, axis=1),
            Norm.L1: np.abs(flat).sum(1)}[norm]


# --- 1. preprocessing ----------------------------------------------------------------------------------------------

#: Pixel values each well-formed dtype accepts (``preprocess._as_unit_float``).
PIXELS = {
    np.dtype(np.uint8): st.integers(0, 255),
    np.dtype(np.uint16): st.integers(0, 65535),
    np.dtype(np.int64): st.integers(0, 255),
    np.dtype(np.bool_): st.booleans(),
    np.dtype(np.float16): st.floats(0, 1, width=16),
    np.dtype(np.float32): st.floats(0, 1, width=32),
    np.dtype(np.float64): st.floats(0, 1),
}


@st.composite
def pictures(draw, max_side: int = 40) -> np.ndarray:
    """A well-formed image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of an accepted dtype and range; flat,
    noisy, or with a rectangle of one value painted on (so that many hold a digit-like blob)."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    dtype = draw(st.sampled_from(list(PIXELS)))
    if draw(st.booleans()):
        image = draw(hnp.arrays(dtype, shape, elements=PIXELS[dtype]))
    else:  # dense noise, which hnp.arrays rarely produces
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        unit = rng.uniform(0, 1, shape) ** draw(st.sampled_from([1, 4]))
        image = (unit > 0.5 if dtype == np.bool_ else unit * (1 if dtype.kind == "f" else
                                                                  65535 if dtype == np.uint16 else 255)).astype(dtype)
    if draw(st.booleans()):
        top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        bottom, right = draw(st.integers(top + 1, height)), draw(st.integers(left + 1, width))
        image[top:bottom, left:right] = draw(PIXELS[dtype])
    return image


#: Arrays that may be anything: any rank and dtype, values out of range, NaN, infinities, no pixels.
malformed = st.one_of(
    hnp.arrays(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint32, np.float16, np.float32,
                                np.float64, np.complex64, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)),
    hnp.arrays(st.sampled_from([np.int16, np.int64, np.float16, np.float32, np.float64]),
               st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4]))),  # any values
    hnp.arrays(hnp.unicode_string_dtypes(max_len=2), hnp.array_shapes(min_dims=2, max_dims=3, max_side=4)),
    st.builds(np.zeros, st.sampled_from([(0, 5), (5, 0), (0, 0, 3), (4, 4, 2), (4, 4, 5), (2, 4, 4, 3), (7,)])),
)


@contextlib.contextmanager
def no_warnings_but_pillows():
    """Records the warnings of the block and fails on any but Pillow's UserWarnings about corrupt metadata
    ("Corrupt EXIF data", "Tag data larger than file": it skips the tag and goes on). A numpy RuntimeWarning
    (overflow, invalid value) would mean NaN or inf somewhere in the preprocessing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:  # also when the block raises ImageError
            unexpected = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
                          if not (issubclass(w.category, UserWarning) and f"{os.sep}PIL{os.sep}" in w.filename)]
            assert not unexpected, unexpected


def check_digit(result: Preprocessed) -> None:
    """The documented output: float32 (28, 28) in [0, 1], no NaN, peak rescaled to 1, ink within a 20x20 box."""
    image = result.image
    assert isinstance(result, Preprocessed)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert np.all(np.isfinite(image)) and image.min() >= 0.0 and image.max() <= 1.0
    assert image.max() == 1.0  # "rescale the peak to 1"
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert rows[-1] - rows[0] < preprocess.DIGIT_BOX and cols[-1] - cols[0] < preprocess.DIGIT_BOX
    assert isinstance(result.inverted, bool) and 0.0 < result.ink_fraction <= 1.0
    batch = result.batch()
    assert batch.shape == (1, 28, 28, 1) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0, :, :, 0], image)


@QUICK
@given(image=pictures(), auto_invert=st.booleans(),
       alpha_background=st.none() | st.floats(0, 1), background_level=st.none() | st.floats(0, 1),
       min_ink_fraction=st.floats(0, 0.01))
def test_a_well_formed_image_becomes_a_digit_or_is_empty(image, auto_invert, alpha_background, background_level,
                                                         min_ink_fraction):
    """A well-formed array is an image: the only error it may raise is EmptyImageError."""
    try:
        with no_warnings_but_pillows():
            result = preprocess.preprocess_image(image, auto_invert=auto_invert, alpha_background=alpha_background,
                                                 background_level=background_level, min_ink_fraction=min_ink_fraction)
    except EmptyImageError:
        return
    check_digit(result)
    assert not (result.inverted and not auto_invert)


@QUICK
@given(image=pictures())
def test_a_drawing_becomes_a_digit_or_is_empty_and_is_never_inverted(image):
    try:
        with no_warnings_but_pillows():
            result = preprocess.preprocess_drawing(image)
    except EmptyImageError:
        return
    check_digit(result)
    assert result.inverted is False


@QUICK
@given(image=malformed, drawing=st.booleans())
def test_any_array_becomes_a_digit_or_raises_image_error(image, drawing):
    """Whatever the array, the result is a valid digit or ImageError (EmptyImageError included), nothing else."""
    try:
        with no_warnings_but_pillows():
            result = preprocess.preprocess_drawing(image) if drawing else preprocess.preprocess_image(image)
    except ImageError:
        return
    check_digit(result)


@QUICK
@given(height=st.integers(5, 40), width=st.integers(5, 40), data=st.data(),
       background=st.floats(0, 0.45) | st.floats(0.55, 1), contrast=st.floats(0.3, 1),
       dtype=st.sampled_from([np.uint8, np.float32]), rgb=st.booleans())
def test_a_clear_rectangle_is_never_refused_and_is_inverted_exactly_on_a_light_background(
        height, width, data, background, contrast, dtype, rgb):
    """A flat background with an interior rectangle of ink (>= 0.3 brighter on a dark background, darker on a light
    one) is a digit: never refused as empty; inverted exactly when the background is light; the ink fraction is
    the rectangle's share of the picture."""
    ink = float(np.clip(background + contrast if background < 0.5 else background - contrast, 0, 1))
    top, left = data.draw(st.integers(2, height - 3)), data.draw(st.integers(2, width - 3))
    bottom, right = data.draw(st.integers(top + 1, height - 2)), data.draw(st.integers(left + 1, width - 2))
    area = (bottom - top) * (right - left)
    scale = 255 if dtype == np.uint8 else 1
    levels = [round(v * scale) if scale == 255 else v for v in (background, ink)]
    if abs(levels[1] - levels[0]) / scale < preprocess.MIN_CONTRAST or area < preprocess.MIN_INK_PIXELS:
        return  # rounding to uint8 lost the contrast, or too few pixels to count as ink (both documented)
    image = np.full((height, width), levels[0], dtype)
    image[top:bottom, left:right] = levels[1]
    if rgb:
        image = np.repeat(image[:, :, None], 3, axis=2)
    result = preprocess.preprocess_image(image)
    check_digit(result)
    assert result.inverted == (background > 0.5)
    assert result.ink_fraction == pytest.approx(area / (height * width))


#: Magic numbers, so that random bytes reach the PNG and JPEG parsers.
SIGNATURES = [b"", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff", b"\xff\xd8\xff\xe1",
              b"GIF89a", b"BM"]
#: Upload limits for the fuzzing tests: a corrupt header may claim millions of pixels, which the default limits
#: would decode (slowly) before finding the data corrupt.
SMALL_LIMITS = dict(max_pixels=100_000, max_side=1_000)


def check_pixels(pixels: np.ndarray) -> None:
    """``decode_image``'s documented output: uint8 (H, W, 3|4), or float (H, W) in [0, 1] for 16-bit grey."""
    assert pixels.shape[0] >= preprocess.MIN_UPLOAD_SIDE and pixels.shape[1] >= preprocess.MIN_UPLOAD_SIDE
    if pixels.dtype == np.uint8:
        assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    else:
        assert pixels.ndim == 2 and pixels.dtype.kind == "f"
        assert np.all(np.isfinite(pixels)) and pixels.min() >= 0 and pixels.max() <= 1


def check_upload(data: bytes) -> None:
    """``decode_image`` and ``preprocess_upload`` give valid results or ImageError, never another exception."""
    with no_warnings_but_pillows():
        try:
            pixels = preprocess.decode_image(data, **SMALL_LIMITS)
        except ImageError:
            pixels = None
        try:
            result = preprocess.preprocess_upload(data, **SMALL_LIMITS)
        except ImageError:
            result = None
    if pixels is not None:
        check_pixels(pixels)
    if result is not None:
        assert pixels is not None  # it decoded the same bytes
        check_digit(result)


@QUICK
@given(prefix=st.sampled_from(SIGNATURES), body=st.binary(max_size=300))
def test_arbitrary_bytes_decode_to_a_valid_image_or_raise_image_error(prefix, body):
    check_upload(prefix + body)


@st.composite
def encoded_pictures(draw) -> tuple[bytes, str, np.ndarray, int]:
    """(file bytes, format, pixels, EXIF orientation) of an arbitrary small picture saved by Pillow: PNG in modes
    1, L, LA, P (with or without a transparent index), RGB, RGBA, I;16, L with a transparent value, with text
    chunks (compressed or not); JPEG in L, RGB or CMYK; either with an EXIF orientation tag or none."""
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["flat", "noise", "rectangle"]))
    pixels = np.full((height, width, 4), draw(st.integers(0, 255)), np.uint8)
    if kind == "noise":
        pixels = rng.integers(0, 256, (height, width, 4)).astype(np.uint8)
    elif kind == "rectangle":
        top, left = rng.integers(0, height), rng.integers(0, width)
        bottom, right = rng.integers(top + 1, height + 1), rng.integers(left + 1, width + 1)
        pixels[top:bottom, left:right] = draw(st.integers(0, 255))
    fmt = draw(st.sampled_from(["PNG", "JPEG"]))
    modes = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "L+transparency", "P+transparency"] if fmt == "PNG" else [
        "L", "RGB", "CMYK"]
    mode = draw(st.sampled_from(modes))
    options = {}
    if mode == "I;16":
        wide = (pixels[:, :, 0].astype(np.uint16) * 257) if draw(st.booleans()) else pixels[:, :, 0].astype(np.uint16)
        picture = Image.fromarray(wide)
    elif mode in ("1", "L", "L+transparency"):
        picture = Image.fromarray(pixels[:, :, 0]).convert(mode[0])
        if mode == "L+transparency":
            options["transparency"] = int(pixels[0, 0, 0])
    elif mode == "LA":
        picture = Image.fromarray(pixels[:, :, 0]).convert("LA")
        picture.putalpha(Image.fromarray(pixels[:, :, 3]))
    elif mode.startswith("P"):
        picture = Image.fromarray(pixels[:, :, :3]).convert("P")
        if mode == "P+transparency":
            options["transparency"] = 0
    else:
        picture = Image.fromarray(pixels[:, :, :4 if mode == "RGBA" else 3]).convert(mode)
    orientation = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8]))
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    if fmt == "PNG" and draw(st.booleans()):
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "a digit " * draw(st.integers(1, 20)), zip=draw(st.booleans()))
        options["pnginfo"] = info
    if fmt == "JPEG":
        options["quality"] = draw(st.integers(1, 100))
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue(), fmt, pixels, orientation


@QUICK
@given(picture=encoded_pictures())
def test_an_encoded_picture_uploads_to_a_valid_digit_or_raises_image_error(picture):
    data, fmt, pixels, orientation = picture
    check_upload(data)
    height, width = pixels.shape[:2]
    if min(height, width) >= preprocess.MIN_UPLOAD_SIDE:
        decoded = preprocess.decode_image(data)  # a small, sound picture always decodes
        expected = (width, height) if orientation in (5, 6, 7, 8) else (height, width)  # rotated by its tag
        assert decoded.shape[:2] == expected
    else:
        with pytest.raises(ImageError, match="too small"):
            preprocess.decode_image(data)


@QUICK
@given(pixels=st.tuples(st.integers(8, 30), st.integers(8, 30), st.sampled_from([3, 4])).flatmap(
    lambda shape: hnp.arrays(np.uint8, shape)))
def test_png_decodes_losslessly(pixels):
    """PNG is lossless: the decoded RGB or RGBA pixels are the ones saved."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    np.testing.assert_array_equal(preprocess.decode_image(buffer.getvalue()), pixels)


def fix_png_crcs(data: bytes) -> bytes:
    """A PNG's chunks with their CRCs recomputed, so that a corrupted chunk reaches the parsers behind the CRC
    check (other bytes are returned as they are)."""
    if not data.startswith(PNG_SIGNATURE):
        return data
    fixed, at = bytearray(data[:8]), 8
    while at + 12 <= len(data):
        end = at + 8 + struct.unpack(">I", data[at:at + 4])[0]
        if end + 4 > len(data):
            break
        fixed += data[at:end] + struct.pack(">I", zlib.crc32(data[at + 4:end]) & 0xFFFFFFFF)
        at = end + 4
    return bytes(fixed + data[at:])


def png_with_exif() -> tuple[bytes, str, np.ndarray, int]:
    """An ``encoded_pictures`` example: a 12x10 PNG whose eXIf chunk says "rotate 90 degrees"."""
    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = np.zeros((10, 12, 4), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, :3]).save(buffer, format="PNG", exif=exif.tobytes())
    return buffer.getvalue(), "PNG", pixels, 6


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Where a mutation goes: anywhere, or near a marker (EXIF metadata, the PNG header, the image data).
ANCHORS = [b"", b"Exif", b"eXIf", b"IHDR", b"IDAT", b"\xff\xc0", b"\xff\xda"]


@QUICK
@given(picture=encoded_pictures(),
       mutations=st.lists(st.tuples(st.sampled_from(["replace", "insert", "delete", "truncate"]),
                                    st.integers(0, 2**20), st.binary(min_size=1, max_size=4)), min_size=1, max_size=4),
       anchor=st.sampled_from(ANCHORS), fix_crcs=st.booleans())
# an EXIF block that is not TIFF: Pillow raises SyntaxError while applying the orientation
@example(picture=png_with_exif(), mutations=[("replace", 4, b"JUNK")], anchor=b"eXIf", fix_crcs=True)
def test_a_corrupted_file_uploads_to_a_valid_digit_or_raises_image_error(picture, mutations, anchor, fix_crcs):
    data = bytearray(picture[0])
    start = data.find(anchor) if anchor else -1
    for kind, position, chunk in mutations:
        at = min(start + position % 40, len(data)) if start >= 0 else position % (len(data) + 1)
        if kind == "replace":
            data[at:at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = chunk
        elif kind == "delete":
            del data[at:at + len(chunk)]
        else:
            del data[at:]
    check_upload(fix_png_crcs(bytes(data)) if fix_crcs else bytes(data))


@st.composite
def not_an_image(draw) -> np.ndarray:
    """A well-shaped array with at least one value no pixel can have: NaN, +-inf, below 0, above 1 (floats) or
    outside 0-255 (integers other than uint8/uint16)."""
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    shape = draw(st.sampled_from([(height, width), (height, width, 1), (height, width, 3), (height, width, 4)]))
    if draw(st.booleans()):
        dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
        image = draw(hnp.arrays(dtype, shape, elements=PIXELS[np.dtype(dtype)]))
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]) | st.floats(max_value=-1e-3) | st.floats(min_value=1.001))
    else:
        dtype = draw(st.sampled_from([np.int16, np.int32, np.int64]))
        image = draw(hnp.arrays(dtype, shape, elements=st.integers(0, 255)))
        bad = draw(st.integers(-(2**15), -1) | st.integers(256, 2**15 - 1))
    with np.errstate(over="ignore"):  # a float beyond float16's range is inf there: still not a pixel value
        image[tuple(draw(st.integers(0, side - 1)) for side in shape)] = bad
    return image


@QUICK
@given(image=not_an_image(), drawing=st.booleans())
def test_values_no_pixel_can_have_are_not_an_image_rather_than_an_empty_one(image, drawing):
    """ImageError ("the array is not an image"), not EmptyImageError ("the image is blank")."""
    with pytest.raises(ImageError) as raised:
        preprocess.preprocess_drawing(image) if drawing else preprocess.preprocess_image(image)
    assert not isinstance(raised.value, EmptyImageError), raised.value


# --- 2. the norms' math --------------------------------------------------------------------------------------------

#: Any float32 but subnormals (flushed to zero by TensorFlow): NaN, infinities, 0, +-3.4e38 included.
any_float32 = st.floats(width=32, allow_subnormal=False)
finite_float32 = st.floats(width=32, allow_subnormal=False, allow_nan=False, allow_infinity=False)
batch_shapes = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=7)


def gradients(elements=any_float32):
    return hnp.arrays(np.float32, batch_shapes, elements=elements)


def finite_part(gradient: np.ndarray) -> np.ndarray:
    """The gradient with non-finite entries as 0 (as the norms' functions treat them), flattened, float64."""
    g = np.where(np.isfinite(gradient), gradient, 0.0).astype(np.float64)
    return g.reshape(len(g), -1)


def flat(x) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float64)


@QUICK
@given(gradient=gradients())
@example(gradient=np.zeros((2, 3), np.float32))
def test_linf_directions_are_the_sign_of_the_finite_gradient(gradient):
    expected = np.sign(np.where(np.isfinite(gradient), gradient, 0.0)).astype(np.float32)
    g = tf.constant(gradient)
    np.testing.assert_array_equal(norms.steepest_ascent_direction(g, Norm.LINF).numpy(), expected)
    np.testing.assert_array_equal(norms.attack_direction(g, Norm.LINF, tf.zeros_like(g)).numpy(), expected)


@QUICK
@given(gradient=gradients())
@example(gradient=np.zeros((2, 3), np.float32))
@example(gradient=np.array([[3e38, -3e38, 1.0]], np.float32))
def test_l2_directions_follow_their_formulas(gradient):
    """NSL's: ``g / max(||g||_2, 1e-6)``; the attacks': ``g / ||g||_2`` (0 where g = 0), so of unit norm."""
    g = finite_part(gradient)
    length = np.linalg.norm(g, axis=1, keepdims=True)
    nsl = flat(norms.steepest_ascent_direction(tf.constant(gradient), Norm.L2))
    np.testing.assert_allclose(nsl, g / np.maximum(length, norms.L2_NORM_FLOOR), rtol=RELATIVE, atol=1e-30)
    strong = flat(norms.attack_direction(tf.constant(gradient), Norm.L2, tf.zeros_like(gradient)))
    np.testing.assert_allclose(strong, np.divide(g, length, out=np.zeros_like(g), where=length > 0), rtol=RELATIVE,
                               atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(strong, axis=1), (length[:, 0] > 0).astype(float), rtol=RELATIVE)


@QUICK
@given(gradient=gradients())
@example(gradient=np.zeros((2, 3), np.float32))
@example(gradient=np.array([[2.0, -2.0, 1.0, np.nan], [np.inf, 0.0, -5.0, 5.0]], np.float32))
def test_nsl_l1_direction_splits_one_unit_over_the_largest_entries(gradient):
    """``+-1/k`` (the sign of g) on the k entries tied for the largest |g|, 0 elsewhere; 0 for a zero gradient."""
    g = finite_part(gradient)
    d = flat(norms.steepest_ascent_direction(tf.constant(gradient), Norm.L1))
    largest = np.abs(g).max(axis=1, keepdims=True)
    tied = (np.abs(g) == largest) & (largest > 0)
    expected = np.sign(g) * tied / np.maximum(tied.sum(axis=1, keepdims=True), 1)
    np.testing.assert_allclose(d, expected, rtol=1e-6)
    np.testing.assert_allclose(np.abs(d).sum(1), (largest[:, 0] > 0).astype(float), rtol=1e-6)


unit_values = st.sampled_from([0.0, 1.0]) | st.floats(0, 1, width=32, allow_subnormal=False)


@QUICK
@given(gradient=gradients(), data=st.data())
@example(gradient=np.zeros((2, 3), np.float32), data=None)
def test_sparse_l1_direction_spends_one_unit_on_the_top_movable_pixels(gradient, data):
    """SLIDE: ``sign(g) / k'`` on the movable pixels (a step along sign(g) still changes them inside [0, 1]) whose
    |g| is at least the k-th largest movable |g|, ``k = max(1, ceil((1 - L1_QUANTILE) * movable))``; k' >= k of
    them (ties); ``||d||_1 = 1`` unless nothing can move, then d = 0."""
    adversarial = (np.full(gradient.shape, 0.5, np.float32) if data is None
                   else data.draw(hnp.arrays(np.float32, gradient.shape, elements=unit_values)))
    g, a = finite_part(gradient), flat(adversarial)
    d = flat(norms.attack_direction(tf.constant(gradient), Norm.L1, tf.constant(adversarial)))
    free = ((g > 0) & (a < 1)) | ((g < 0) & (a > 0))
    for row in range(len(g)):
        movable = int(free[row].sum())
        chosen = d[row] != 0
        if movable == 0:
            assert not chosen.any()
            continue
        k = max(1, math.ceil((1 - Fraction(repr(norms.L1_QUANTILE))) * movable))
        threshold = np.sort(np.abs(g[row][free[row]]))[::-1][k - 1]
        np.testing.assert_array_equal(chosen, free[row] & (np.abs(g[row]) >= threshold))
        assert chosen.sum() >= k
        np.testing.assert_allclose(d[row][chosen], np.sign(g[row][chosen]) / chosen.sum(), rtol=1e-6)
        assert abs(np.abs(d[row]).sum() - 1) < 1e-6


@QUICK
@given(gradient=gradients(), data=st.data(), length=st.floats(0, 1e6) | st.sampled_from([0.0, 1e-30, 1e30]))
def test_l1_box_step_fills_the_largest_gradients_first_within_range_and_length(gradient, data, length):
    """``l1_box_step``: pixels in decreasing order of |g|, each moved by its whole room towards sign(g) inside
    [0, 1], until ``length`` is spent: ||s||_1 = min(length, total room); adversarial + s stays in range."""
    adversarial = data.draw(hnp.arrays(np.float32, gradient.shape, elements=unit_values))
    g, a = finite_part(gradient), flat(adversarial)
    s = flat(norms.l1_box_step(tf.constant(gradient), tf.constant(adversarial), np.float32(length)))
    room = np.where(g > 0, 1 - a, np.where(g < 0, a, 0.0))
    assert np.all(np.sign(s) * np.sign(g) >= 0) and np.all((s == 0) | (g != 0))
    assert np.all(np.abs(s) <= room + 1e-7)  # in range: a + s in [0, 1] up to float32 rounding
    spent = np.abs(s).sum(1)
    length32 = float(np.float32(length))
    np.testing.assert_allclose(spent, np.minimum(length32, room.sum(1)), rtol=RELATIVE, atol=1e-6)
    for row in range(len(g)):  # greedy: a pixel moves only if every pixel with a larger |g| moved all it could
        moved = np.abs(s[row]) > 0
        if moved.any():
            smallest_moved = np.abs(g[row][moved]).min()
            larger = np.abs(g[row]) > smallest_moved
            np.testing.assert_allclose(np.abs(s[row][larger]), room[row][larger], rtol=1e-6, atol=1e-7)


def project_l1_reference(v: np.ndarray, epsilon: float) -> np.ndarray:
    """The Euclidean projection of the row ``v`` onto the L1 ball, by bisection on the soft threshold (float64)."""
    magnitude = np.abs(v)
    if magnitude.sum() <= epsilon:
        return v
    low, high = 0.0, float(magnitude.max())
    for _ in range(200):
        theta = (low + high) / 2
        low, high = (theta, high) if np.maximum(magnitude - theta, 0).sum() > epsilon else (low, theta)
    return np.sign(v) * np.maximum(magnitude - high, 0)


#: Radii as the norms' functions see them (float32); 0, tiny, 1 and up to 3.4e38 included.
radii = st.sampled_from([0.0, 1e-6, 1.0]) | st.floats(0, width=32, allow_subnormal=False, allow_infinity=False)


def float32_like_tensorflow(value: float) -> float:
    """``value`` cast to float32 as TensorFlow's CPU kernels use it: subnormals flushed to zero."""
    value = float(np.float32(value))
    return 0.0 if abs(value) < np.finfo(np.float32).tiny else value


@QUICK
@pytest.mark.parametrize("norm", list(Norm))
@given(delta=gradients(st.floats(-(2.0 ** 100), 2.0 ** 100, width=32, allow_subnormal=False)), epsilon=radii)
@example(delta=np.array([[12.5] * 8 + [1e-3] * 8], np.float32), epsilon=1e-6)
@example(delta=np.full((1, 4, 6, 6), 545957.0, np.float32), epsilon=0.0)
@example(delta=np.array([[1e-13], [1e-25]], np.float32), epsilon=1e-26)
def test_projection_lands_in_the_ball_at_the_nearest_point_and_keeps_inner_points(norm, delta, epsilon):
    """L-inf clips; L2 rescales by min(1, eps / ||delta||); L1 soft-thresholds onto the sphere (Duchi et al.);
    a point already inside (with a margin for float32 rounding of its norm) is returned unchanged. Entries up to
    2^100 keep every norm inside float32's range (beyond 3.4e38 an L2 norm is inf and the projection 0)."""
    projected = norms.project(tf.constant(delta), epsilon, norm).numpy()
    assert projected.shape == delta.shape and projected.dtype == np.float32 and np.all(np.isfinite(projected))
    eps32 = float32_like_tensorflow(epsilon)
    assert np.all(sizes(projected, norm) <= eps32 * (1 + RELATIVE))
    inside = sizes(delta, norm) <= eps32 * (1 - 1e-4)
    np.testing.assert_array_equal(projected[inside], delta[inside])
    d = flat(delta)
    if norm is Norm.LINF:
        np.testing.assert_array_equal(projected, np.clip(delta, -np.float32(eps32), np.float32(eps32)))
        return
    if norm is Norm.L2:
        length = np.linalg.norm(d, axis=1, keepdims=True)
        expected = d * np.minimum(1.0, np.divide(eps32, length, out=np.ones_like(length), where=length > 0))
    else:
        expected = np.stack([project_l1_reference(row, eps32) for row in d])
    # float32 rounding of each entry (and flushing of subnormal results to 0), and float64 rounding of the threshold
    # against the sum of the entries
    tolerance = (1e-6 * eps32 + 1e-6 * np.abs(expected) + np.finfo(np.float32).tiny
                 + 1e-15 * np.abs(d).sum(1, keepdims=True))
    assert np.all(np.abs(flat(projected) - expected) <= tolerance)


@QUICK
@pytest.mark.parametrize("norm", list(Norm))
@given(shape=batch_shapes, epsilon=st.sampled_from([0.0, attacks.MAX_LENGTH]) | st.floats(0, attacks.MAX_LENGTH),
       seed=st.integers(0, 2**31 - 1))
def test_random_start_is_inside_the_ball_and_follows_its_seed(norm, shape, epsilon, seed):
    """Radii up to ``attacks.MAX_LENGTH``, where the attacks cap them (uniform(-eps, eps) overflows above 1.7e38)."""
    stateless = tf.constant([seed, 7], tf.int64)
    point = norms.random_in_ball(shape, epsilon, norm, seed=stateless).numpy()
    assert point.shape == shape and point.dtype == np.float32 and np.all(np.isfinite(point))
    assert np.all(sizes(point, norm) <= float32_like_tensorflow(epsilon) * (1 + RELATIVE))
    np.testing.assert_array_equal(norms.random_in_ball(shape, epsilon, norm, seed=stateless).numpy(), point)
    unseeded = norms.random_in_ball(shape, epsilon, norm).numpy()
    assert np.all(sizes(unseeded, norm) <= float32_like_tensorflow(epsilon) * (1 + RELATIVE))


@QUICK
@pytest.mark.parametrize("norm", list(Norm))
@given(delta=gradients(finite_float32))
@example(delta=np.array([[1.75e-33], [3e38]], np.float32))  # squares under- and overflow float32
def test_measure_is_the_norm_of_each_example(norm, delta):
    with np.errstate(over="ignore"):  # a norm beyond float32's range is inf in float32
        expected = sizes(delta, norm).astype(np.float32)
    np.testing.assert_allclose(norms.measure(tf.constant(delta), norm).numpy(), expected, rtol=RELATIVE)


# --- 3. the attacks ------------------------------------------------------------------------------------------------

@st.composite
def unit_batches(draw, max_batch: int = 3) -> np.ndarray:
    """float32 (n, 28, 28, 1) in [0, 1]: arbitrary pixels, a constant image, noise, black and white pixels only,
    or edge values only (0, the smallest subnormal and normal floats, 0.5, the float below 1, 1)."""
    n = draw(st.integers(1, max_batch))
    shape = (n, 28, 28, 1)
    kind = draw(st.sampled_from(["arbitrary", "constant", "noise", "binary", "edges"]))
    if kind == "arbitrary":
        return draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
    if kind == "constant":
        return np.full(shape, draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 1, width=32)), np.float32)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "edges":
        tiny = np.finfo(np.float32)
        return rng.choice(np.array([0, tiny.smallest_subnormal, tiny.tiny, 0.5, 1 - tiny.epsneg, 1], np.float32), shape)
    return (rng.uniform(0, 1, shape) if kind == "noise" else rng.integers(0, 2, shape)).astype(np.float32)


#: Weight scales of the linear model: 0 (constant logits, zero gradient), tiny (1e-30: gradients near float32's
#: smallest), ordinary, up to 1e4 (a saturated softmax).
weight_scales = st.sampled_from(["zero", "tiny", "ordinary", "ordinary", "ordinary", "huge"]).flatmap(
    lambda kind: st.just(0.0) if kind == "zero" else {
        "tiny": st.integers(-30, -6), "ordinary": st.integers(-3, 1), "huge": st.integers(2, 4)}[kind].map(
        lambda power: 10.0 ** power))


@pytest.fixture(scope="module")
def linear(make_linear_model):
    """One linear classifier for the whole module; each example gives it new weights (no retracing)."""
    return make_linear_model()


def set_weights(model, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    model.get_layer("dense").set_weights([(rng.normal(size=(784, 10)) * scale).astype(np.float32),
                                          (rng.normal(size=10) * scale).astype(np.float32)])


@st.composite
def problems(draw, predicted_labels: bool = False):
    """(images, weight seed, weight scale, labels or None for 'the model's predictions')."""
    images = draw(unit_batches())
    seed, scale = draw(st.integers(0, 2**32 - 1)), draw(weight_scales)
    labels = None if predicted_labels and draw(st.integers(0, 3)) else np.array(
        draw(st.lists(st.integers(0, 9), min_size=len(images), max_size=len(images))))
    return images, seed, scale, labels


def prepare(model, problem) -> tuple[np.ndarray, np.ndarray]:
    images, seed, scale, labels = problem
    set_weights(model, seed, scale)
    if labels is None:  # attack images the model classifies "correctly", as the search attacks skip the others
        labels = np.argmax(model(tf.constant(images), training=False).numpy(), axis=1)
    note(f"weights seed {seed} scale {scale}, labels {labels}")
    return images, labels


def assert_in_ball_and_range(adversarial, images: np.ndarray, epsilon: float, norm: Norm) -> None:
    """float32, shaped like ``images``, no NaN, in [0, 1], and ``||x_adv - x|| <= eps`` (see the tolerances)."""
    adversarial = np.asarray(adversarial)
    assert adversarial.shape == images.shape and adversarial.dtype == np.float32
    assert np.all(np.isfinite(adversarial))
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    delta = adversarial.astype(np.float64) - images.astype(np.float64)
    changed = np.count_nonzero(delta.reshape(len(delta), -1), axis=1)
    slack = {Norm.LINF: np.minimum(changed, 1), Norm.L2: np.sqrt(changed), Norm.L1: changed}[norm]
    size, bound = sizes(delta, norm), epsilon * (1 + RELATIVE) + PIXEL_ROUNDING * slack
    assert np.all(size <= bound), f"{norm.label} sizes {size} exceed eps {epsilon} (bounds {bound})"


def radii_of(norm: Norm):
    """Radii: ordinary ones (up to the app's maximum), small ones (1e-9 to 1e-3, where float32 rounding weighs
    most), any finite float (a ball holding every image; beyond float32's range), and 0."""
    largest = {Norm.LINF: 1.0, Norm.L2: 10.0, Norm.L1: 50.0}[norm]
    return st.sampled_from(["ordinary", "small", "ordinary", "small", "any", "zero"]).flatmap(lambda kind: {
        "zero": st.just(0.0), "ordinary": st.floats(0, largest), "small": st.floats(1e-9, 1e-3),
        "any": st.floats(0, 1e300)}[kind])


def step_sizes(epsilon: float):
    """A step: a multiple of eps (up to a million times: a long step, projected back onto a small ball), or any."""
    factors = st.sampled_from([0.0, 0.01, 0.1, 1.0, 2.0, 1e3, 1e6]) | st.floats(0, 1e6)
    return st.sampled_from(["relative", "relative", "any"]).flatmap(
        lambda kind: factors.map(lambda factor: min(factor * epsilon, 1e300)) if kind == "relative"
        else st.floats(0, 1e300))


def gradient_attack(kind: str, norm: Norm, epsilon: float, steps: int, step_size: float | None) -> AttackConfig:
    if kind == "FGSM":
        return AttackConfig.fgsm(epsilon, norm)
    if kind == "PGD":
        return AttackConfig.pgd(epsilon, norm, steps=steps, step_size=step_size)
    if kind == "APGD-CE":
        return AttackConfig.apgd(epsilon, norm, steps=steps)
    return AttackConfig.apgd(epsilon, norm, steps=steps, loss=AttackLoss.DLR, target_rank=2)  # APGD-T


GRADIENT_ATTACKS = ["FGSM", "PGD", "APGD-CE", "APGD-T"]
#: Queries of the random searches: mostly a few updates after the first query, sometimes none at all.
search_queries = st.integers(2, 8) | st.sampled_from([0, 1])


@ATTACK
@pytest.mark.parametrize("norm", list(Norm))
@pytest.mark.parametrize("kind", GRADIENT_ATTACKS)
@given(problem=problems(), data=st.data(), steps=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_gradient_attacks_stay_in_the_ball_and_in_range(linear, kind, norm, problem, data, steps, seed):
    images, labels = prepare(linear, problem)
    epsilon = data.draw(radii_of(norm), label="epsilon")
    step_size = data.draw(st.none() | step_sizes(epsilon), label="step size (PGD)")
    config = gradient_attack(kind, norm, epsilon, steps, step_size)
    assert_in_ball_and_range(attacks.attack(linear, images, labels, config, seed=seed), images, epsilon, norm)


@ATTACK
@pytest.mark.parametrize("norm", list(Norm))
@given(problem=problems(), data=st.data(), steps=st.integers(1, 3), random_init=st.booleans(),
       direction=st.sampled_from(list(Direction)), target_class=st.none() | st.integers(0, 9), trades=st.booleans())
def test_training_neighbours_stay_in_the_ball_and_in_range(linear, norm, problem, data, steps, random_init,
                                                            direction, target_class, trades):
    """``attack_tensor`` (the training neighbours, NSL's last iterate; eager here): NSL's or the strong direction,
    with or without a random start, targeted or not, or TRADES' KL."""
    images, labels = prepare(linear, problem)
    epsilon = data.draw(radii_of(norm), label="epsilon")
    step_size = data.draw(step_sizes(epsilon), label="step size")
    config = AttackConfig(adv_grad_norm=norm, adv_step_size=step_size, pgd_iterations=steps, pgd_epsilon=epsilon,
                          random_init=random_init, direction=direction, target_class=target_class)
    reference = linear(tf.constant(images), training=False) if trades else None
    adversarial = attacks.attack_tensor(linear, tf.constant(images), tf.constant(labels), config, reference)
    assert_in_ball_and_range(adversarial.numpy(), images, epsilon, norm)


@SEARCH
@pytest.mark.parametrize("norm", [Norm.LINF, Norm.L2])
@given(problem=problems(predicted_labels=True), data=st.data(), queries=search_queries,
       p_init=st.floats(0.01, 1.0), seed=st.integers(0, 2**31 - 1))
def test_square_attack_stays_in_the_ball_and_in_range(linear, norm, problem, data, queries, p_init, seed):
    images, labels = prepare(linear, problem)
    epsilon = data.draw(radii_of(norm), label="epsilon")
    adversarial = square.square_attack(linear, images, labels, epsilon, norm, queries=queries, p_init=p_init,
                                       seed=seed)
    assert_in_ball_and_range(adversarial, images, epsilon, norm)


@SEARCH
@given(problem=problems(predicted_labels=True), epsilon=radii_of(Norm.L1), queries=search_queries,
       p_init=st.floats(0.01, 1.0), seed=st.integers(0, 2**31 - 1))
def test_sparse_rs_stays_in_the_l1_ball_and_in_range(linear, problem, epsilon, queries, p_init, seed):
    images, labels = prepare(linear, problem)
    adversarial = sparse_rs.sparse_rs_attack(linear, images, labels, epsilon, queries=queries, p_init=p_init,
                                             seed=seed)
    assert_in_ball_and_range(adversarial, images, epsilon, Norm.L1)
    changed = np.count_nonzero((adversarial != images).reshape(len(images), -1), axis=1)
    assert np.all(changed <= sparse_rs.pixel_budget(epsilon)[0])  # an L0 search: at most k pixels move


@SEARCH
@pytest.mark.parametrize("norm", list(Norm))
@given(problem=problems(predicted_labels=True), data=st.data(), apgd_steps=st.integers(1, 2),
       target_classes=st.integers(0, 1), queries=search_queries, chains=st.sampled_from([1, 3]),
       seed=st.integers(0, 2**31 - 1))
def test_the_strongest_attack_stays_in_the_ball_and_in_range(linear, norm, problem, data, apgd_steps, target_classes,
                                                             queries, chains, seed):
    images, labels = prepare(linear, problem)
    epsilon = data.draw(radii_of(norm), label="epsilon")
    config = StrongestConfig(norm=norm, epsilon=epsilon, apgd_steps=apgd_steps, target_classes=target_classes,
                             square_queries=queries, sparse_rs_queries=queries, chains=chains, seed=seed)
    assert_in_ball_and_range(strongest_attack(linear, images, labels, config), images, epsilon, norm)


def run_at_zero(kind: str, norm: Norm, model, images, labels, steps: int, seed: int) -> np.ndarray:
    if kind in GRADIENT_ATTACKS:
        return attacks.attack(model, images, labels, gradient_attack(kind, norm, 0.0, steps, None), seed=seed)
    if kind == "Square":
        return square.square_attack(model, images, labels, 0.0, norm, queries=steps + 1, seed=seed)
    if kind == "Sparse-RS":
        return sparse_rs.sparse_rs_attack(model, images, labels, 0.0, queries=steps + 1, seed=seed)
    return strongest_attack(model, images, labels, StrongestConfig(norm=norm, epsilon=0.0, apgd_steps=steps,
                                                                   target_classes=1, square_queries=3,
                                                                   sparse_rs_queries=3, seed=seed))


ZERO_CASES = ([(kind, norm) for kind in GRADIENT_ATTACKS + ["strongest"] for norm in Norm]
              + [("Square", Norm.LINF), ("Square", Norm.L2), ("Sparse-RS", Norm.L1)])


@ATTACK
@pytest.mark.parametrize(("kind", "norm"), ZERO_CASES)
@given(problem=problems(predicted_labels=True), steps=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_eps_zero_returns_the_input_exactly(linear, kind, norm, problem, steps, seed):
    images, labels = prepare(linear, problem)
    adversarial = run_at_zero(kind, norm, linear, images, labels, steps, seed)
    assert adversarial.dtype == np.float32
    np.testing.assert_array_equal(adversarial, images)


# --- regressions: the examples the properties above found ----------------------------------------------------------

def test_l1_projection_of_a_far_point_onto_a_small_ball_lands_inside():
    """float32 cancellation in theta = (cumulative sum - eps) / rho put these at 7.6e-6 (7.6 eps) and 13.5 (eps 0)."""
    far = tf.constant([[12.5] * 8 + [1e-3] * 8], tf.float32)
    projected = norms.project(far, 1e-6, Norm.L1).numpy()
    assert sizes(projected, Norm.L1)[0] <= 1e-6 * (1 + RELATIVE)
    np.testing.assert_allclose(projected[0, :8], 1.25e-7, rtol=1e-6)
    np.testing.assert_array_equal(projected[0, 8:], 0.0)
    constant = tf.fill([1, 4, 6, 6], 545957.0)
    np.testing.assert_array_equal(norms.project(constant, 0.0, Norm.L1).numpy(), 0.0)


@pytest.mark.parametrize(("epsilon", "step_size"), [(1e-4, 51.3), (1e-5, 100.0), (3e-6, 409.4)])
def test_an_l1_pgd_step_much_longer_than_eps_lands_on_the_sphere(linear, epsilon, step_size):
    """The same cancellation in an attack: from a random start, one step of 51.3 onto eps = 1e-4 landed 2-3%
    outside the ball; 100 onto 1e-5 and 409.4 onto 3e-6 fell short (0.76 eps, and 0: the attack did not move)."""
    set_weights(linear, 0, 0.1)
    images = np.random.default_rng(0).uniform(0, 1, (2, 28, 28, 1)).astype(np.float32)
    config = AttackConfig.pgd(epsilon, Norm.L1, steps=1, step_size=step_size, random_init=True)
    adversarial = attacks.attack(linear, images, np.array([0, 1]), config, seed=0)
    assert_in_ball_and_range(adversarial, images, epsilon, Norm.L1)
    delta = adversarial.astype(np.float64) - images
    changed = np.count_nonzero(delta.reshape(2, -1), axis=1)
    assert np.all(sizes(delta, Norm.L1) >= epsilon * (1 - 1e-3) - PIXEL_ROUNDING * changed)


@pytest.mark.parametrize(("gradient", "expected"), [
    ([[1.8446744e19]], [[1.0]]),  # squaring 2^64 overflows float32: NSL's L2 direction was 0
    ([[3e38, -3e38, 1.0]], [[0.5 ** 0.5, -(0.5 ** 0.5), 0.0]]),  # ||g|| itself beyond float32's range
])
def test_nsl_l2_direction_of_a_huge_gradient_is_a_unit_vector(gradient, expected):
    d = norms.steepest_ascent_direction(tf.constant(gradient, tf.float32), Norm.L2).numpy()
    np.testing.assert_allclose(d, expected, rtol=1e-6, atol=1e-30)


def test_l2_norm_of_a_tiny_perturbation_is_not_zero():
    """Squaring 1.75e-33 underflows float32: the L2 size was 0, and projections of tiny points used a 1e-12 floor."""
    np.testing.assert_allclose(norms.measure(tf.constant([[1.75e-33]]), Norm.L2).numpy(), [1.75e-33], rtol=1e-6)
    np.testing.assert_allclose(norms.project(tf.constant([[1e-13]]), 1e-14, Norm.L2).numpy(), [[1e-14]], rtol=1e-6)


@pytest.mark.parametrize("config", [
    AttackConfig.apgd(3.4028235677973366e38, Norm.LINF, steps=1, loss=AttackLoss.DLR, target_rank=2),
    AttackConfig.pgd(1e300, Norm.LINF, steps=2),
    AttackConfig(adv_grad_norm=Norm.L2, adv_step_size=3.4028235677973366e38, pgd_epsilon=1.0,
                 direction=Direction.NSL),
], ids=["APGD-T eps 3.4e38", "PGD eps 1e300", "NSL step 3.4e38"])
def test_a_radius_or_step_beyond_float32_gives_no_nan(linear, config):
    """Radii and steps above float32's 3.4e38 became inf, and inf * a zero direction NaN images."""
    set_weights(linear, 0, 0.0)  # a zero gradient: every direction is 0
    images = np.random.default_rng(0).uniform(0, 1, (2, 28, 28, 1)).astype(np.float32)
    labels = np.array([0, 1])
    assert_in_ball_and_range(attacks.attack(linear, images, labels, config, seed=0), images, config.epsilon,
                             config.adv_grad_norm)
    neighbours = attacks.attack_tensor(linear, tf.constant(images), tf.constant(labels), config).numpy()
    assert_in_ball_and_range(neighbours, images, config.epsilon, config.adv_grad_norm)


def test_eps_zero_keeps_subnormal_pixels(linear):
    """TensorFlow's CPU kernels flush subnormals: clip(x + 0) turned pixels of 1.48686e-40 into 0."""
    set_weights(linear, 0, 0.1)
    images = np.full((1, 28, 28, 1), 1.48686e-40, np.float32)
    for norm in Norm:
        adversarial = attacks.attack(linear, images, np.array([0]), AttackConfig.apgd(0.0, norm, steps=1))
        np.testing.assert_array_equal(adversarial, images)
