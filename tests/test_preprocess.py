"""MNIST-style preprocessing of drawings and uploads (advdemo.data.preprocess): layout, inversion, emptiness, errors."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from advdemo.data import preprocess
from advdemo.data.preprocess import EmptyImageError, ImageError


def canvas(height: int = 280, width: int = 280) -> np.ndarray:
    """An opaque black RGBA canvas, as the drawing component returns it."""
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., 3] = 255
    return pixels


def paint(pixels: np.ndarray, rows: slice, cols: slice, value: int = 255) -> np.ndarray:
    pixels[rows, cols, :3] = value
    return pixels


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) inclusive of the pixels above the ink threshold."""
    rows = np.flatnonzero((image > preprocess.INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((image > preprocess.INK_THRESHOLD).any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (CRC fixed), without the memory such an image needs."""
    assert data[12:16] == b"IHDR"
    header = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    return data[:16] + header + crc + data[33:]


def test_output_is_28x28_float_in_unit_range():
    digit = preprocess.preprocess_drawing(paint(canvas(), slice(40, 240), slice(100, 180)))
    assert digit.image.shape == (28, 28)
    assert digit.image.dtype == np.float32
    assert digit.image.min() >= 0.0 and digit.image.max() <= 1.0
    assert digit.image.max() == pytest.approx(1.0)
    assert digit.batch().shape == (1, 28, 28, 1)


@pytest.mark.parametrize("strokes", [
    [(slice(10, 90), slice(10, 60)), (slice(10, 30), slice(60, 75))],  # top left: a block with a flag
    [(slice(150, 270), slice(190, 270)), (slice(240, 270), slice(170, 190))],  # bottom right, with a foot
    [(slice(100, 124), slice(5, 275)), (slice(124, 140), slice(200, 275))],  # the full width, thicker at the end
], ids=["top-left", "bottom-right", "full-width"])
def test_centre_of_mass_lands_at_the_centre(strokes):
    """Wherever the ink is on the canvas, the digit is placed (by whole pixels) so that its centre of mass is
    within half a pixel of (14, 14). The shapes are lopsided so that their centre of mass is not on a half
    pixel: the best placement is unique and every other one (a pixel off) is more than half a pixel away."""
    pixels = canvas()
    for rows, cols in strokes:
        paint(pixels, rows, cols)
    digit = preprocess.preprocess_drawing(pixels)
    row, col = preprocess.centre_of_mass(digit.image)
    for value in (row, col):  # the case itself: its fractional part is far from a tie at .5
        assert abs(value - np.floor(value) - 0.5) >= 0.1, value
    assert abs(row - 14.0) <= 0.5 and abs(col - 14.0) <= 0.5, (row, col)


def test_off_centre_mass_is_centred_not_the_box():
    # an "L": a tall bar on the left and a foot; the box is not centred, the mass is
    pixels = paint(canvas(), slice(20, 260), slice(20, 42))
    paint(pixels, slice(238, 260), slice(42, 180))
    digit = preprocess.preprocess_drawing(pixels)
    row, col = preprocess.centre_of_mass(digit.image)
    assert abs(row - 14.0) <= 0.5 and abs(col - 14.0) <= 0.5, (row, col)  # (13.79, 13.79): no tie at .5
    top, bottom, left, right = ink_box(digit.image)
    assert (left + right) / 2 > 14.0  # the box is pushed right so that the heavy bar sits at the centre


def test_tall_thin_stroke_stays_tall_with_longest_side_20():
    digit = preprocess.preprocess_drawing(paint(canvas(), slice(30, 250), slice(130, 152)))
    top, bottom, left, right = ink_box(digit.image)
    height, width = bottom - top + 1, right - left + 1
    assert height == preprocess.DIGIT_BOX
    assert width <= 4  # 22 px wide over 220 px tall: about 2 px, not stretched to a square


def test_wide_short_stroke_stays_wide():
    digit = preprocess.preprocess_drawing(paint(canvas(), slice(130, 160), slice(20, 260)))
    top, bottom, left, right = ink_box(digit.image)
    assert right - left + 1 == preprocess.DIGIT_BOX
    assert bottom - top + 1 <= 5


def test_small_digit_is_scaled_up_to_20_pixels():
    digit = preprocess.preprocess_drawing(paint(canvas(), slice(100, 140), slice(120, 140)))
    top, bottom, left, right = ink_box(digit.image)
    assert bottom - top + 1 == preprocess.DIGIT_BOX
    assert 8 <= right - left + 1 <= 12  # 40x20 keeps its 2:1 ratio


def test_an_mnist_digit_comes_back_almost_unchanged():
    # an MNIST-like "0" (20 px tall, centre of mass at the centre) survives preprocessing nearly intact
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 8:20] = 255
    image[7:21, 11:17] = 0
    digit = preprocess.preprocess_image(image)
    assert not digit.inverted
    assert np.abs(digit.image - image / 255.0).max() < 0.02


def test_dark_on_light_is_inverted():
    light = np.full((200, 150, 3), 235, np.uint8)  # off-white paper
    light[30:170, 60:80] = 20  # dark pen stroke
    digit = preprocess.preprocess_image(light)
    assert digit.inverted
    assert digit.image[0, 0] == 0.0  # the paper became black background
    assert digit.image.max() == pytest.approx(1.0)
    # the same digit drawn light-on-dark gives the same result
    dark = 255 - light
    assert np.allclose(preprocess.preprocess_image(dark).image, digit.image, atol=1e-5)
    assert not preprocess.preprocess_image(dark).inverted


def test_drawings_are_never_inverted():
    # a canvas mostly covered in white must not be mistaken for paper
    pixels = paint(canvas(), slice(0, 280), slice(0, 200))
    digit = preprocess.preprocess_drawing(pixels)
    assert not digit.inverted
    assert digit.image.max() == pytest.approx(1.0)


def test_transparent_background_counts_as_black_on_the_canvas():
    pixels = np.zeros((100, 100, 4), np.uint8)  # fully transparent
    pixels[20:80, 45:55] = 255  # opaque white stroke
    digit = preprocess.preprocess_drawing(pixels)
    assert digit.image.max() == pytest.approx(1.0)


def test_black_digit_on_transparent_upload_is_visible():
    pixels = np.zeros((100, 100, 4), np.uint8)
    pixels[20:80, 45:55] = [0, 0, 0, 255]  # opaque black stroke, transparent elsewhere
    digit = preprocess.preprocess_upload(png_bytes(pixels))
    assert digit.image.max() == pytest.approx(1.0)


def test_empty_canvas_is_detected():
    with pytest.raises(EmptyImageError):
        preprocess.preprocess_drawing(canvas())


def test_nearly_empty_canvas_is_detected():
    # a stray dot is not a digit
    with pytest.raises(EmptyImageError):
        preprocess.preprocess_drawing(paint(canvas(), slice(100, 110), slice(100, 110)))


def test_blank_grey_photo_is_empty():
    rng = np.random.default_rng(0)
    photo = (128 + rng.integers(-5, 6, size=(120, 160, 3))).astype(np.uint8)  # flat grey with sensor noise
    with pytest.raises(EmptyImageError):
        preprocess.preprocess_image(photo)


def test_is_nearly_empty_threshold():
    ink = np.zeros((100, 100))
    assert preprocess.is_nearly_empty(ink)
    ink[40:60, 45:55] = 1.0  # 200 pixels = 2%
    assert not preprocess.is_nearly_empty(ink, min_fraction=0.01)
    assert preprocess.is_nearly_empty(ink, min_fraction=0.05)


@pytest.mark.parametrize("bad", [np.zeros((28,)), np.zeros((2, 28, 28, 1)), np.zeros((28, 28, 2)),
                                 np.zeros((0, 28)), np.full((28, 28), np.nan), np.full((28, 28), 2.0),
                                 np.full((28, 28), -3, np.int32), np.array([["a"]])])
def test_bad_arrays_raise_image_error(bad):
    with pytest.raises(ImageError) as caught:
        preprocess.preprocess_drawing(bad)
    assert not isinstance(caught.value, EmptyImageError)


def test_upload_png_and_jpeg_are_accepted():
    image = np.full((64, 48), 255, np.uint8)
    image[10:54, 20:28] = 0
    assert preprocess.preprocess_upload(png_bytes(image)).inverted
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    digit = preprocess.preprocess_upload(buffer.getvalue())
    assert digit.inverted and digit.image.max() == pytest.approx(1.0)


def test_upload_16_bit_png():
    """16-bit grey is read on its own 0-65535 scale: half-bright ink (30000) stays half as bright as 60000.
    Read as 8-bit (0-255, clipped) both would be full white and the stroke would come out uniform."""
    image = np.zeros((40, 40), np.uint16)
    image[5:35, 16:20] = 30000
    image[5:35, 20:24] = 60000
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    digit = preprocess.preprocess_upload(buffer.getvalue())
    assert digit.image.max() == pytest.approx(1.0)
    expected = preprocess.preprocess_image(image.astype(np.float64) / 65535.0)
    np.testing.assert_allclose(digit.image, expected.image, atol=1e-6)
    assert len(np.unique(np.round(digit.image[digit.image > 0.3], 2))) > 2  # not one flat level


def test_upload_errors_say_what_is_wrong():
    valid = png_bytes(np.zeros((8, 8), np.uint8))
    noisy = png_bytes(np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8))
    gif = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(gif, format="GIF")
    cases = {
        b"": "empty",
        b"this is not an image at all": "not a PNG or JPEG",
        gif.getvalue(): "only PNG and JPEG",
        noisy[:len(noisy) // 2]: "could not be decoded",
        with_png_size(valid, 8000, 8000): "megapixels",
        with_png_size(valid, 12000, 2): "megapixels",
        with_png_size(valid, 30000, 30000): "too large",
    }
    for data, phrase in cases.items():
        with pytest.raises(ImageError) as caught:
            preprocess.preprocess_upload(data)
        assert not isinstance(caught.value, EmptyImageError)
        assert phrase in str(caught.value), (phrase, str(caught.value))


def test_upload_size_limit():
    image = png_bytes(np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageError, match="the limit is"):
        preprocess.preprocess_upload(image, max_bytes=len(image) - 1)
    with pytest.raises(ImageError, match="MB"):
        preprocess.preprocess_upload(b"\x89PNG" + bytes(6 * 2**20))


def test_blank_upload_is_empty_not_an_error():
    with pytest.raises(EmptyImageError):
        preprocess.preprocess_upload(png_bytes(np.full((50, 50), 255, np.uint8)))
