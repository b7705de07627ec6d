"""Drawings as the canvas returns them (RGBA, white strokes of the app's 22-pixel brush on black), for the tests
of drawings, links and the page. Imported as ``from drawings import ...`` (pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from advdemo import PRETRAINED_DIR
from advdemo.data import load_gallery

CANVAS = 280


BRUSH = 22


def canvas_of(draw) -> np.ndarray:
    """An RGBA canvas on which ``draw(ImageDraw)`` drew in white."""
    picture = Image.new("L", (CANVAS, CANVAS), 0)
    draw(ImageDraw.Draw(picture))
    pixels = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    pixels[..., :3] = np.asarray(picture)[..., None]
    pixels[..., 3] = 255
    return pixels


def stroke(draw: ImageDraw.ImageDraw, points) -> None:
    draw.line([tuple(point) for point in points], fill=255, width=BRUSH, joint="curve")


def ring(draw: ImageDraw.ImageDraw, box) -> None:
    draw.ellipse(box, outline=255, width=BRUSH)


def drawn_digit(digit: int, height: int) -> np.ndarray:
    """A rough hand-drawn ``digit`` (0, 1, 4, 7 or 8), ``height`` pixels tall in the middle of the canvas."""
    width, middle = 0.6 * height, CANVAS / 2
    left, right, top, bottom = middle - width / 2, middle + width / 2, middle - height / 2, middle + height / 2
    shapes = {
        0: lambda d: ring(d, (left, top, right, bottom)),
        1: lambda d: stroke(d, [(middle + 0.1 * width, top), (middle - 0.1 * width, bottom)]),
        4: lambda d: (stroke(d, [(left + 0.6 * width, top), (left, middle + 0.15 * height),
                                 (right, middle + 0.15 * height)]),
                      stroke(d, [(left + 0.7 * width, top + 0.3 * height), (left + 0.7 * width, bottom)])),
        7: lambda d: stroke(d, [(left, top), (right, top), (middle - 0.1 * width, bottom)]),
        8: lambda d: (ring(d, (left + 0.1 * width, top, right - 0.1 * width, middle)),
                      ring(d, (left, middle, right, bottom))),
    }
    return canvas_of(shapes[digit])


def a_seven() -> np.ndarray:
    return drawn_digit(7, 220)


def a_dot() -> np.ndarray:
    """One click of the brush, a little dragged: 0.4% of the canvas."""
    return canvas_of(lambda d: d.ellipse((130, 130, 153, 152), fill=255))


def a_filled_canvas() -> np.ndarray:
    return canvas_of(lambda d: d.rectangle((0, 0, CANVAS, CANVAS), fill=255))


def a_hatching() -> np.ndarray:
    """A back-and-forth scribble over most of the canvas."""
    points = []
    for row in range(8):
        y = 40 + row * 200 / 7
        points += [(40, y), (240, y + 10)] if row % 2 == 0 else [(240, y), (40, y + 10)]
    return canvas_of(lambda d: stroke(d, points))


def a_tangle() -> np.ndarray:
    """A random scribble of 14 strokes that cross each other."""
    points = np.random.default_rng(1).uniform(30, 250, size=(14, 2))
    return canvas_of(lambda d: stroke(d, points))


def scattered_dots() -> np.ndarray:
    return canvas_of(lambda d: [d.ellipse((x - 10, y - 10, x + 10, y + 10), fill=255)
                                for x, y in [(40, 40), (240, 50), (140, 140), (50, 230), (230, 240)]])


NONSENSE = {  # drawing, and the words that must say what it is
    "dot": (a_dot, "a single dot (0.5% of the canvas is ink"),
    "filled canvas": (a_filled_canvas, "a painted-over canvas, not pen strokes (100% of the canvas is ink"),
    "scribble": (a_hatching, "a scribble"),
    "tangle": (a_tangle, "a tangle"),
    "scattered dots": (scattered_dots, "in 5 separate pieces"),
}


def gallery_image(index: int = 0) -> np.ndarray:
    return load_gallery(PRETRAINED_DIR / "gallery.npz").images[index, :, :, 0]
