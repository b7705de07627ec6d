"""Benchmark: the Streamlit app's latency as a user sees it, in Debian's headless Chromium through Playwright
(run by hand; prints p50 and p90 in ms, asserts nothing).

    python benchmarks/app_latency.py [--repeats N]
        [--start-repeats 3] [--slider-repeats 15] [--stroke-repeats 10] [--slider-pattern alternate|climb]

``--repeats N`` sets all three counts at once; the specific options override it. Models come from
``pretrained/`` or ``$ADVDEMO_PRETRAINED`` (e.g. ``ADVDEMO_PRETRAINED=/tmp/t`` for toy models with the same
layout). Three measurements:

1. **server start -> first prediction**: from launching ``streamlit run app.py --server.headless true
   --server.port <free port>`` (cwd the repository) until a fresh page (new browser context) shows the first
   model verdict (``.advdemo-verdict``: FOOLED, HELD or ALREADY WRONG). Includes Streamlit's start, importing
   TensorFlow, loading the models and the first attack. A new server per repeat; Chromium is launched once,
   beforehand, and not timed. The health endpoint's time is printed too.
2. **slider move -> new predictions**: on the default gallery view, focuses the sidebar's ε slider (its
   ``role="slider"`` input), presses ArrowRight or ArrowLeft and times until every model's "Size: L-inf ..."
   line differs from before and every verdict is fresh (its element container no longer ``data-stale``).
   With ``alternate`` (the default) the direction alternates, so after the first move each ε was computed
   before and the app's ``st.cache_data`` answers: that times Streamlit's fragment rerun and the browser's
   rendering, not the attack. ``climb`` always moves up (down once at the top), so every ε is new.
   Each sample says whether its ε was new or cached, and the summary splits them when both occur.
3. **canvas stroke -> predictions**: switches the input to Draw; per repeat, empties the canvas (with its
   toolbar's "Reset canvas & history" button, see ``RESET``), waits until the canvas takes strokes (hovering
   it shows the crosshair cursor; it starts in selection mode), drags one stroke with the mouse on the
   ``<canvas>`` in the drawable canvas's shadow root and times from releasing the mouse until every model's
   verdict is shown, with "Input: your drawing." (the canvas's own 200 ms debounce before it sends the
   drawing included). The shapes (7, 1, 0, 2, 3, L) are jittered per repeat: no drawing repeats (a cache hit).

For 2 and 3, "rerun done" is also printed: until the app's script state is ``notRunning`` again (the
confidence charts and the per-image ε sweep below the verdicts included). Times are taken in Python
around Playwright calls (a few ms of round trip included); before each move or stroke the app is idle.
p90 interpolates linearly between samples (``numpy.percentile``). The server always stops at the end.
The numbers depend heavily on the machine's load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from browser_helpers import (  # noqa: E402
    VERDICT_SELECTOR,
    canvas,
    free_port,
    health_url,
    launch_chromium,
    launch_server,
    press_stroke,
    stop_server,
    wait_for_health,
    wait_until_drawable,
)

DEFAULT_TIMEOUT_S = 300
VIEWPORT = {"width": 1600, "height": 1100}
EPS_STEP = 0.01  # the L-inf slider's resolution (advdemo.ui.controls.EPS_STEPS)
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
#: The canvas toolbar's reset button: it empties the drawing in place. The app's "Clear the canvas" button
#: remounts the canvas under a new key instead, and after that, now and then (roughly one clear in ten here),
#: headless Chromium's hit testing finds the info box below the canvas at the canvas's place (its layout box
#: is 280 px lower) and goes on doing so: the mouse never reaches the canvas again, strokes are lost.
RESET = '[data-testid="stBidiComponentIsolated"] button[aria-label="Reset canvas & history"]'

#: True once every model's "Size: L-inf" line differs from ``old`` (one per model, in order) and all ``n``
#: verdicts are fresh (not left over from the previous run).
SIZES_CHANGED = """([old, n]) => {
  const sizes = [...document.querySelectorAll('[data-testid="stMain"] p')]
    .map(p => p.innerText).filter(text => text.startsWith('Size: L-inf'));
  const verdicts = [...document.querySelectorAll('.advdemo-verdict')];
  return sizes.length === n && sizes.every((text, i) => text !== old[i]) && verdicts.length === n
    && verdicts.every(v => v.closest('[data-testid="stElementContainer"]')?.dataset.stale !== 'true');
}"""
#: True once ``n`` fresh verdicts for the drawing are shown.
DRAWING_PREDICTED = """(n) => {
  const verdicts = [...document.querySelectorAll('.advdemo-verdict')];
  return verdicts.length === n && document.body.innerText.includes('Input: your drawing.')
    && verdicts.every(v => v.closest('[data-testid="stElementContainer"]')?.dataset.stale !== 'true');
}"""
SIZES_NOW = """() => [...document.querySelectorAll('[data-testid="stMain"] p')]
  .map(p => p.innerText).filter(text => text.startsWith('Size: L-inf'))"""

#: Single-stroke digits, in fractions of the canvas.
SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    "7": ((0.25, 0.2), (0.75, 0.2), (0.45, 0.85)),
    "1": ((0.45, 0.15), (0.55, 0.85)),
    "0": tuple((0.5 + 0.22 * np.cos(t), 0.5 + 0.33 * np.sin(t)) for t in np.linspace(-np.pi / 2, 1.5 * np.pi, 17)),
    "2": ((0.3, 0.3), (0.5, 0.17), (0.7, 0.3), (0.3, 0.82), (0.75, 0.82)),
    "3": ((0.3, 0.2), (0.7, 0.25), (0.45, 0.5), (0.72, 0.68), (0.3, 0.82)),
    "L": ((0.32, 0.15), (0.32, 0.8), (0.72, 0.8)),
}


@dataclass
class Samples:
    """Milliseconds of one measurement, optionally tagged (e.g. new or cached ε)."""

    name: str
    values: list[float] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def add(self, seconds: float, tag: str = "") -> float:
        self.values.append(1000 * seconds)
        self.tags.append(tag)
        return 1000 * seconds

    def rows(self) -> list[tuple[str, list[float]]]:
        """(label, values): all of them, then each tag's if there are several tags."""
        rows = [(self.name, self.values)]
        tags = sorted(set(self.tags))
        if len(tags) > 1:
            rows += [(f"  of which {tag}", [v for v, t in zip(self.values, self.tags) if t == tag]) for tag in tags]
        return rows


def summary_line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<44} {0:>3} {'-':>12} {'-':>12}"
    return f"{label:<44} {len(values):>3} {np.percentile(values, 50):>9.0f} ms {np.percentile(values, 90):>9.0f} ms"


def jittered(points, rng: random.Random, amount: float = 0.04) -> list[tuple[float, float]]:
    return [(min(max(x + rng.uniform(-amount, amount), 0.08), 0.92),
             min(max(y + rng.uniform(-amount, amount), 0.08), 0.92)) for x, y in points]


def segment_steps(points, box: dict) -> list[int]:
    """Mouse moves per segment: about one per 4 px, so fabric.js gets a smooth stroke."""
    return [max(2, int(np.hypot((x1 - x0) * box["width"], (y1 - y0) * box["height"]) / 4))
            for (x0, y0), (x1, y1) in zip(points, points[1:])]


def wait_idle(page) -> None:
    page.wait_for_selector(IDLE, state="attached")


def measure_start(browser, log_dir: Path, timeout_ms: float, start: Samples, health: Samples, keep: bool):
    """Starts a server, opens a page, times until the first verdict. Returns (server, page) if ``keep``."""
    port = free_port()
    log = log_dir / f"streamlit-{port}.log"
    began = time.perf_counter()
    server = launch_server(port, log)
    page = None
    try:
        wait_for_health(health_url(port), server, log, timeout=timeout_ms / 1000, poll=0.05)
        healthy = health.add(time.perf_counter() - began)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(timeout_ms)
        page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
        page.wait_for_selector(VERDICT_SELECTOR, state="visible")
        first = start.add(time.perf_counter() - began)
        print(f"  start {len(start.values)}: healthy after {healthy:.0f} ms, first prediction after {first:.0f} ms",
              flush=True)
        wait_idle(page)
    except BaseException:
        stop_server(server)
        raise
    if keep:
        return server, page
    page.close()
    stop_server(server)
    return None, None


def measure_slider(page, repeats: int, pattern: str, shown: Samples, done: Samples) -> None:
    models = page.locator(VERDICT_SELECTOR).count()
    slider = page.locator('[data-testid="stSidebar"]').get_by_role("slider", name=re.compile("ε"))
    expect(slider).to_have_count(1)
    visited = {round(float(slider.input_value()), 6)}
    high = float(slider.get_attribute("max"))
    direction = 1
    for repeat in range(repeats):
        wait_idle(page)
        value = float(slider.input_value())
        if pattern == "alternate":
            direction = 1 if repeat % 2 == 0 else -1
        elif value + EPS_STEP > high + 1e-9:
            direction = -1
        target = round(value + direction * EPS_STEP, 6)
        tag = "cached ε" if target in visited else "new ε"
        visited.add(target)
        old = page.evaluate(SIZES_NOW)
        slider.focus()
        began = time.perf_counter()
        slider.press("ArrowRight" if direction > 0 else "ArrowLeft")
        page.wait_for_function(SIZES_CHANGED, arg=[old, models])
        predicted = shown.add(time.perf_counter() - began, tag)
        wait_idle(page)
        finished = done.add(time.perf_counter() - began, tag)
        print(f"  slider {repeat + 1}: ε {value:.2f} -> {target:.2f} ({tag}): predictions {predicted:.0f} ms, "
              f"rerun done {finished:.0f} ms", flush=True)


def measure_strokes(page, repeats: int, models: int, timeout: float, shown: Samples, done: Samples) -> None:
    verdicts = page.locator(VERDICT_SELECTOR)
    page.get_by_text("Draw", exact=True).click()  # the prompt only appears once its rerun has started
    names = list(SHAPES)
    for repeat in range(repeats):
        if repeat:  # see RESET for why not the app's "Clear the canvas"
            page.locator(RESET).click()
        expect(page.get_by_text("The canvas is empty.")).to_be_visible()
        expect(verdicts).to_have_count(0)
        wait_idle(page)
        drawing = canvas(page)
        expect(drawing).to_be_visible()
        box = drawing.bounding_box()
        wait_until_drawable(page, box, timeout)
        name = names[repeat % len(names)]
        points = jittered(SHAPES[name], random.Random(repeat))
        press_stroke(page, box, points, segment_steps(points, box))
        began = time.perf_counter()
        page.mouse.up()
        page.wait_for_function(DRAWING_PREDICTED, arg=models)
        predicted = shown.add(time.perf_counter() - began)
        wait_idle(page)
        finished = done.add(time.perf_counter() - began)
        print(f"  stroke {repeat + 1} (a {name}): predictions {predicted:.0f} ms, rerun done {finished:.0f} ms, "
              f"verdicts {verdicts.all_inner_texts()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="sets --start-repeats, --slider-repeats and --stroke-repeats at once")
    parser.add_argument("--start-repeats", type=int, default=None, help="server starts to time (default 3)")
    parser.add_argument("--slider-repeats", type=int, default=None, help="ε-slider moves to time (default 15)")
    parser.add_argument("--stroke-repeats", type=int, default=None, help="canvas strokes to time (default 10)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds to wait for any one thing (server health, a page update) before giving up")
    parser.add_argument("--slider-pattern", choices=("alternate", "climb"), default="alternate",
                        help="alternate directions (cached ε after the first move) or always climb (new ε)")
    args = parser.parse_args(argv)

    def count(specific: int | None, default: int) -> int:
        value = specific if specific is not None else args.repeats if args.repeats is not None else default
        return max(value, 0)

    starts = max(count(args.start_repeats, 3), 1)  # the last server is kept for the other measurements
    slider_moves, strokes = count(args.slider_repeats, 15), count(args.stroke_repeats, 10)
    log_dir = Path(tempfile.mkdtemp(prefix="advdemo-latency-"))
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"models from {os.environ.get('ADVDEMO_PRETRAINED') or REPO / 'pretrained'}; server logs in {log_dir}",
          flush=True)
    start, health = Samples("server start -> first prediction"), Samples("server start -> health endpoint ok")
    slider_shown, slider_done = Samples("slider move -> new predictions"), Samples("slider move -> rerun done")
    stroke_shown, stroke_done = Samples("canvas stroke -> predictions"), Samples("canvas stroke -> rerun done")
    timeout_ms = 1000 * args.timeout
    expect.set_options(timeout=timeout_ms)
    server = None
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = None
                for repeat in range(starts):
                    server, page = measure_start(browser, log_dir, timeout_ms, start, health,
                                                 keep=repeat == starts - 1)
                models = page.locator(VERDICT_SELECTOR).count()
                print(f"  {models} models shown", flush=True)
                measure_slider(page, slider_moves, args.slider_pattern, slider_shown, slider_done)
                measure_strokes(page, strokes, models, args.timeout, stroke_shown, stroke_done)
            except Exception:
                if page is not None:
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(log_dir / "failure.png"), full_page=True)
                        print(f"failed: the page as it was is in {log_dir / 'failure.png'}", file=sys.stderr)
                raise
            finally:
                browser.close()
    finally:
        if server is not None:
            stop_server(server)
    print(f"\nload average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'measurement':<44} {'n':>3} {'p50':>12} {'p90':>12}")
    for samples in (health, start, slider_shown, slider_done, stroke_shown, stroke_done):
        for label, values in samples.rows():
            print(summary_line(label, values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
