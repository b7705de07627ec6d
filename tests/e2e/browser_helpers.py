"""What the browser test and the by-hand browser benchmarks share: start and stop the app server, launch
Debian's Chromium, find and draw on the canvas.

No pytest in here, and no ``advdemo`` import (TensorFlow): ``benchmarks/screenshot.py`` and
``benchmarks/app_latency.py`` import this file too (they put ``tests/e2e`` on ``sys.path``). Failures raise
``ServerError``; the test turns it into ``pytest.fail``.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: The first page load imports TensorFlow, loads the models and compiles the attacks: be patient.
STARTUP_SECONDS = 240
#: Each model's verdict (FOOLED, HELD or ALREADY WRONG), see ``advdemo/ui/results.py``.
VERDICT_SELECTOR = ".advdemo-verdict"
#: The drawing canvas: streamlit-drawable-canvas 0.13 renders into an open shadow root (no iframe), which
#: Playwright's CSS selectors pierce; fabric.js stacks three canvases, the last (top) one takes the mouse.
CANVAS_SELECTOR = '[data-testid="stBidiComponentIsolated"] canvas'
#: A 7 in fractions of the canvas: the bar, then the stem.
SEVEN = ((0.25, 0.2), (0.75, 0.2), (0.45, 0.85))
#: A phone, as Playwright's context options (``new_page(**PHONE)`` in the tests): 390 x 844 CSS pixels at 3 device
#: pixels each, a touch screen, a mobile browser (the page's meta viewport is honoured, touches are sent as touch
#: events).
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}

Point = tuple[float, float]


class ServerError(RuntimeError):
    """The app server died or never answered; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_server(port: int, log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """``streamlit run app.py`` (headless, on 127.0.0.1:``port``, cwd the repository) in the background,
    its output in ``log``; returns at once (see ``wait_for_health``). Models come from ``advdemo.PRETRAINED_DIR``,
    so ``ADVDEMO_PRETRAINED`` works here too. The server inherits this process's environment, with ``env`` (e.g.
    ``ADVDEMO_HOME``, ``ADVDEMO_MNIST``) set on top."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           **(env or {})}
    with open(log, "w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)


def health_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/_stcore/health"


def wait_for_health(url: str, server: subprocess.Popen, log: Path, timeout: float = STARTUP_SECONDS,
                    poll: float = 0.5) -> None:
    """Polls ``url`` every ``poll`` s until it answers ``ok``.

    Raises:
        ServerError: the server exited, or did not answer within ``timeout`` s (with its log's tail).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerError(f"streamlit exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(poll)
    raise ServerError(f"{url} did not answer within {timeout:g} s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen, timeout: float = 20) -> None:
    """Terminates the server, killing it if it does not exit within ``timeout`` s."""
    server.terminate()
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def app_server(log: Path, port: int | None = None, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A freshly started app server (``env`` as in ``launch_server``), healthy; yields its URL and stops it on
    exit.

    Raises:
        ServerError: see ``wait_for_health``.
    """
    port = port or free_port()
    server = launch_server(port, log, env)
    try:
        wait_for_health(health_url(port), server, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_server(server)


def launch_chromium(playwright):
    """Debian's headless Chromium (never Playwright's own download) from a ``sync_playwright()`` handle."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def canvas(page):
    """The locator of the drawing canvas (the top fabric.js layer)."""
    return page.locator(CANVAS_SELECTOR).last


def wait_until_drawable(page, box: dict, timeout: float = 60) -> None:
    """Waits until the canvas takes strokes. By the component's code, fabric.js starts in selection mode (a
    drag there draws a selection box, no ink) and switches to free drawing once the initial drawing has loaded,
    asynchronously. In drawing mode, a mouse move over the canvas sets the crosshair cursor: moves the mouse
    around the middle of ``box`` (the canvas's bounding box) until it does.

    Raises:
        TimeoutError: still not drawable after ``timeout`` s (e.g. the mouse does not reach the canvas).
    """
    top = canvas(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    deadline = time.monotonic() + timeout
    for wiggle in itertools.count():
        page.mouse.move(x + wiggle % 20 - 10, y + wiggle // 20 % 20 - 10)  # the cursor is set on moves only
        if top.evaluate("element => element.style.cursor") == "crosshair":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the canvas did not switch to drawing mode within {timeout:g} s")
        page.wait_for_timeout(20)


def press_stroke(page, box: dict, points: Sequence[Point], steps: int | Sequence[int] = 15) -> None:
    """Presses the mouse at ``points[0]`` and drags it through the other points (fractions of ``box``, the
    canvas's bounding box), ``steps`` mouse moves per segment (one number, or one per segment); the button
    stays down: release it with ``page.mouse.up()`` (a benchmark times from there)."""
    per_segment = [steps] * (len(points) - 1) if isinstance(steps, int) else list(steps)
    if len(per_segment) != len(points) - 1:
        raise ValueError(f"{len(points) - 1} segments but {len(per_segment)} step counts")

    def at(point: Point) -> tuple[float, float]:
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for point, count in zip(points[1:], per_segment):
        page.mouse.move(*at(point), steps=count)


def draw_stroke(page, box: dict, points: Sequence[Point], steps: int | Sequence[int] = 15) -> None:
    """One stroke through ``points`` (see ``press_stroke``), mouse released at the end."""
    press_stroke(page, box, points, steps)
    page.mouse.up()


class Finger:
    """One finger on a page's touch screen (the context needs ``has_touch``): real touch events, through the
    Chrome DevTools Protocol (``Input.dispatchTouchEvent``), which Chromium turns into touch and pointer events as
    a phone would. Playwright itself only taps (``page.touchscreen.tap``); a drag needs this."""

    def __init__(self, page):
        self.session = page.context.new_cdp_session(page)

    def _send(self, kind: str, x: float | None = None, y: float | None = None) -> None:
        points = [] if x is None else [{"x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1}]
        self.session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def drag(self, points: Sequence[tuple[float, float]], steps: int = 12) -> None:
        """Touches the page at ``points[0]`` (CSS pixels of the viewport), slides through the other points,
        ``steps`` moves per segment, and lifts the finger."""
        self._send("touchStart", *points[0])
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            for step in range(1, steps + 1):
                self._send("touchMove", x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
        self._send("touchEnd")

    def stroke(self, box: dict, points: Sequence[Point], steps: int = 15) -> None:
        """A stroke through ``points``, fractions of ``box`` (a bounding box, e.g. the canvas's)."""
        self.drag([(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points], steps)
