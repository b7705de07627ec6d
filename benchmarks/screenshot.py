"""Screenshots of the app's main view (docs/screenshot-main.png) and of presentation mode on a 1280x720 screen
(docs/screenshot-presentation.png), and the time from an eps-slider move to the updated predictions, measured in
Debian's Chromium through Playwright.

    python benchmarks/screenshot.py [--out docs/screenshot-main.png] [--moves 5] [--width 1600] [--query "..."]
                                    [--presentation-out docs/screenshot-presentation.png] [--presentation-size 1280x720]

Starts ``streamlit run app.py`` on a free port (models from ``pretrained/`` or ``$ADVDEMO_PRETRAINED``),
opens the default view (a hard gallery digit under FGSM L-inf 0.2, base and robust), takes the screenshot (the
whole page), then presses the right arrow on the eps slider ``--moves`` times and prints how long each update took.
Then it opens the same scenario in presentation mode (``present=1``) in a window of ``--presentation-size``,
moves eps one step with the slider above the results, prints where each verdict is and takes the screenshot (the
window only: what a class sees without scrolling; ``--presentation-out ""`` skips it). ``--query`` opens another
scenario, e.g. ``--query "models=base,tutorial&attack=pgd"`` (the app keeps its scenario in the URL).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from browser_helpers import VERDICT_SELECTOR, app_server, free_port, launch_chromium  # noqa: E402

TIMEOUT_MS = 300_000


def presentation_screenshot(browser, url: str, query: str, width: int, height: int, out: Path) -> None:
    """Presentation mode in a ``width`` x ``height`` window: moves eps one step with the keyboard on the slider
    above the results, prints where the verdicts are, and saves what the window shows to ``out``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}?{'&'.join(part for part in ('present=1', query.lstrip('?')) if part)}",
              wait_until="domcontentloaded")
    verdicts = page.locator(VERDICT_SELECTOR)
    expect(verdicts.first).to_be_visible()
    slider = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
    value = float(slider.input_value())
    slider.focus()
    slider.press("ArrowRight")
    expect(page.get_by_text(f"ε = {round(value + 0.01, 2):g}", exact=False).first).to_be_visible()
    expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_attached()
    page.wait_for_timeout(2500)  # the sweep below fills in the smallest eps under each verdict; charts draw
    boxes = [verdict.bounding_box() for verdict in verdicts.all()]
    print(f"presentation mode {width}x{height}, eps {value:.2f} -> {value + 0.01:.2f}: verdicts at y = "
          + ", ".join(f"{box['y']:.0f}-{box['y'] + box['height']:.0f}" for box in boxes if box)
          + f" (window height {height})")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))
    print(f"wrote {out}")
    page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot-main.png")
    parser.add_argument("--moves", type=int, default=5, help="eps-slider moves to time (0: none)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--query", default="", help="URL query string of the scenario to open")
    parser.add_argument("--presentation-out", default=str(REPO / "docs" / "screenshot-presentation.png"),
                        help='presentation-mode screenshot ("": none)')
    parser.add_argument("--presentation-size", default="1280x720", help="its window, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"advdemo-screenshot-{port}.log"
    with app_server(log, port) as url:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": args.width, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            started = time.perf_counter()
            page.goto(f"{url}?{args.query.lstrip('?')}", wait_until="domcontentloaded")
            verdicts = page.locator(VERDICT_SELECTOR)
            expect(verdicts.first).to_be_visible()
            shown = verdicts.count()
            expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
            print(f"first page with predictions: {time.perf_counter() - started:.1f} s")
            page.wait_for_timeout(1500)  # let the charts finish drawing
            height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": args.width, "height": min(int(height) + 40, 4000)})
            page.wait_for_timeout(1000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            print(f"wrote {args.out}")
            page.set_viewport_size({"width": args.width, "height": 1000})
            seconds = []
            thumb = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"] input[type="range"]').first
            for _ in range(args.moves):
                value = float(thumb.input_value())
                expected = f"Size: L-inf {value + 0.01:.3f}"
                thumb.focus()
                begin = time.perf_counter()
                thumb.press("ArrowRight")
                expect(page.get_by_text(expected).first).to_be_visible()
                expect(verdicts).to_have_count(shown)
                seconds.append(time.perf_counter() - begin)
                print(f"eps {value:.2f} -> {value + 0.01:.2f}: predictions updated in {seconds[-1]:.2f} s")
            if seconds:
                print(f"median slider-to-predictions time: {statistics.median(seconds):.2f} s over {len(seconds)}")
            page.close()
            if args.presentation_out:
                width, height = (int(side) for side in args.presentation_size.lower().split("x"))
                presentation_screenshot(browser, url, args.query, width, height, Path(args.presentation_out))
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
