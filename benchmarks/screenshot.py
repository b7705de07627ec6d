"""Screenshot of the app's main view (docs/screenshot-main.png), and the time from an eps-slider move to the
updated predictions, measured in Debian's Chromium through Playwright.

    python benchmarks/screenshot.py [--out docs/screenshot-main.png] [--moves 5] [--width 1600] [--query "..."]

Starts ``streamlit run app.py`` on a free port (models from ``pretrained/`` or ``$ADVDEMO_PRETRAINED``),
opens the default view (a hard gallery digit under FGSM L-inf 0.2, base and robust), takes the screenshot,
then presses the right arrow on the eps slider ``--moves`` times and prints how long each update took.
``--query`` opens another scenario, e.g. ``--query "models=base,tutorial&attack=pgd"`` (the app keeps its
scenario in the URL).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 300_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, log: Path) -> subprocess.Popen:
    """``streamlit run app.py`` in the background; returns once /_stcore/health answers."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.address", "127.0.0.1"],
                                  cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited ({server.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
                if response.read().strip() == b"ok":
                    return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"streamlit did not become healthy; see {log}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot-main.png")
    parser.add_argument("--moves", type=int, default=5, help="eps-slider moves to time (0: none)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--query", default="", help="URL query string of the scenario to open")
    args = parser.parse_args(argv)
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"advdemo-screenshot-{port}.log"
    server = start_server(port, log)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": args.width, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            started = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/?{args.query.lstrip('?')}", wait_until="domcontentloaded")
            verdicts = page.locator(".advdemo-verdict")
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
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
