"""End to end: the real server in Debian's Chromium (Playwright), a digit drawn with the mouse on the canvas.

Starts ``streamlit run app.py`` on a free port (models from ``advdemo.PRETRAINED_DIR``, so
``ADVDEMO_PRETRAINED`` works here too), waits for ``/_stcore/health``, switches the input to Draw, checks
the empty-canvas prompt, draws a 7 and waits for both default models' verdicts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from advdemo import PRETRAINED_DIR

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: The first page load imports TensorFlow, loads the models and compiles the attacks: be patient.
STARTUP_SECONDS = 240
PAGE_TIMEOUT_MS = 240_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
    pytest.mark.skipif(not all((PRETRAINED_DIR / name).is_file() for name in ("base.keras", "robust.keras")),
                       reason=f"{PRETRAINED_DIR} lacks base.keras and robust.keras: train them, or set "
                              "ADVDEMO_PRETRAINED"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url: str, server: subprocess.Popen, log: Path) -> None:
    """Polls ``url`` until it answers ``ok``; fails with the server's log if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    """The URL of a freshly started app server (stopped after the tests)."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"http://127.0.0.1:{port}/_stcore/health", server, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_drawing_a_digit_shows_both_models_predictions(app_url, browser, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)  # a busy machine may take a while to attack and rerun
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(app_url, wait_until="domcontentloaded")
    verdicts = page.locator(".advdemo-verdict")
    expect(verdicts).to_have_count(2)  # the default gallery digit, base and robust

    page.get_by_text("Draw", exact=True).click()
    expect(page.get_by_text("The canvas is empty.")).to_be_visible()
    expect(verdicts).to_have_count(0)

    canvas = page.locator('[data-testid="stBidiComponentIsolated"] canvas').last
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    page.mouse.move(*at(0.25, 0.2))  # a 7: the bar, then the stem
    page.mouse.down()
    page.mouse.move(*at(0.75, 0.2), steps=15)
    page.mouse.move(*at(0.45, 0.85), steps=20)
    page.mouse.up()

    expect(page.get_by_text("Input: your drawing.")).to_be_visible()
    expect(verdicts).to_have_count(2)
    expect(page.get_by_text("The canvas is empty.")).to_have_count(0)
    headings = page.locator("h3").all_inner_texts()
    assert "base" in headings and "robust" in headings
    expect(page.get_by_text("Before the attack:")).to_have_count(2)
    for text in verdicts.all_inner_texts():
        assert any(word in text for word in ("FOOLED", "HELD", "ALREADY WRONG")), text
    page.screenshot(path=str(tmp_path / "drawn.png"), full_page=True)
    page.close()
