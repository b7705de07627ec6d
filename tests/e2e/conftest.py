"""What the browser tests share: the app servers, Debian's Chromium, a fresh page per test, and a screenshot of
every test.

* ``app_url``: one server of the normal app for the whole session (models from ``advdemo.PRETRAINED_DIR``, so
  ``ADVDEMO_PRETRAINED`` works here too; an empty ``ADVDEMO_HOME`` of its own).
* ``training_app``: one server for the training tests, with ``ADVDEMO_MNIST`` = a tiny synthetic mnist.npz
  (``TRAINING_IMAGES`` bar images, see ``tests/conftest.py``) and an empty ``ADVDEMO_HOME``; started only if a
  training test runs.
* ``browser``: one headless Chromium (``/usr/bin/chromium``, never Playwright's download) for the session.
* ``page`` / ``new_page``: each a fresh browser context (a new Streamlit session, nothing remembered from another
  test) whose script runs ``page_helpers`` counts. When the test ends, pass or fail, each page is saved as
  ``test-artifacts/screenshots/<test-name>.png`` (a second page as ``<test-name>-2.png``) under the repository
  root; ``screenshot(page, "suffix")`` saves one at a moment of the test's choosing. The servers' logs go to
  ``test-artifacts/logs/``. ``/test-artifacts/`` is in ``.gitignore``: look at them after a run, CI keeps them.

The file watchers are off: an edit elsewhere in the repository (other work in the same tree) must not rerun the app
during a test. Every test in this folder is marked ``browser`` and skipped when Chromium, Playwright or the bundled
base and robust models are missing.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser_helpers import CHROMIUM, REPO, ServerError, app_server, launch_chromium
from page_helpers import attack_heading, watch

from advdemo import PRETRAINED_DIR

HERE = Path(__file__).resolve().parent
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
LOGS = ARTIFACTS / "logs"


def server_log(name: str) -> Path:
    """The log file of the server ``name`` started by this test process (``app``, ``training-app``): one per
    pytest-xdist worker, as each worker starts servers of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return LOGS / (f"{name}-{worker}.log" if worker else f"{name}.log")
VIEWPORT = {"width": 1600, "height": 1100}
#: How long a wait may take by default: a busy CI machine may take a while to attack and rerun.
TIMEOUT_MS = 120_000
#: The training server's data: a few hundred training images (the Quick preset trains on all of them, two epochs
#: of 64), a few dozen test images (the new model's measurement runs on them).
TRAINING_IMAGES = 600
TEST_IMAGES = 32
#: Server environment: no file watcher, no usage statistics.
SERVER_ENV = {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"Debian's Chromium is not installed at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    if not all((PRETRAINED_DIR / name).is_file() for name in ("base.keras", "robust.keras")):
        return f"{PRETRAINED_DIR} lacks base.keras and robust.keras: train them, or set ADVDEMO_PRETRAINED"
    return None


def pytest_collection_modifyitems(config, items) -> None:
    why = _missing()
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if why:
                item.add_marker(pytest.mark.skip(reason=why))


def _server(log: Path, env: dict[str, str]) -> Iterator[str]:
    try:
        with app_server(log, env={**SERVER_ENV, **env}) as url:
            yield url
    except ServerError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> Iterator[str]:
    """The URL of the normal app's server, shared by the whole session."""
    LOGS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("app-home")
    yield from _server(server_log("app"), {"ADVDEMO_HOME": str(home)})


@dataclasses.dataclass(frozen=True)
class TrainingApp:
    """The training tests' server: its URL, its ``ADVDEMO_HOME`` (the new models go to ``home / "models"``) and
    its tiny ``ADVDEMO_MNIST``."""

    url: str
    home: Path
    mnist: Path

    @property
    def models(self) -> Path:
        return self.home / "models"


@pytest.fixture(scope="session")
def training_app(tmp_path_factory, write_tiny_mnist) -> Iterator[TrainingApp]:
    """A server of the app on the tiny synthetic MNIST and an empty ``ADVDEMO_HOME``, shared by the training tests
    (one training at a time per server: each test waits for its own to end)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    folder = tmp_path_factory.mktemp("training")
    home = folder / "home"
    home.mkdir()
    mnist = write_tiny_mnist(folder / "tiny.npz", n_train=TRAINING_IMAGES, n_test=TEST_IMAGES)
    for url in _server(server_log("training-app"), {"ADVDEMO_HOME": str(home), "ADVDEMO_MNIST": str(mnist)}):
        yield TrainingApp(url, home, mnist)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot_path(test_name: str, suffix: str = "") -> Path:
    """``test-artifacts/screenshots/<test-name>[-<suffix>].png`` (characters other than letters, digits, ``-``,
    ``_`` and ``.`` become ``_``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", test_name + (f"-{suffix}" if suffix else ""))
    return SCREENSHOTS / f"{name}.png"


@pytest.fixture
def screenshot(request) -> Callable[..., Path]:
    """``screenshot(page, suffix="", full_page=True)`` saves the page now as ``<test-name>[-<suffix>].png``."""

    def save(page, suffix: str = "", full_page: bool = True) -> Path:
        path = screenshot_path(request.node.name, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save


@pytest.fixture
def new_page(browser, request, screenshot) -> Iterator[Callable[..., object]]:
    """Factory: ``new_page(viewport=VIEWPORT, **options)`` opens a page in a fresh browser context (a session of its
    own); ``options`` are Playwright's context options (a phone: ``new_page(**browser_helpers.PHONE)``). At the end
    of the test each page is scrolled to the attack's heading, if any, saved (``<test-name>.png``, then ``-2``,
    ``-3``…) and closed."""
    contexts = []

    def open_page(viewport: dict | None = None, **options):
        context = browser.new_context(viewport=viewport or VIEWPORT, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return watch(context.new_page())

    yield open_page
    for number, context in enumerate(contexts, start=1):
        for page in context.pages:
            try:
                heading = attack_heading(page)  # the verdicts, rather than the intro, in the picture
                if heading.count():
                    heading.first.evaluate("element => element.scrollIntoView({block: 'start'})", timeout=2_000)
                path = screenshot(page, "" if number == 1 else str(number))
                print(f"screenshot: {path}")
            except Exception as error:  # keep the test's own outcome; say why there is no picture
                print(f"no screenshot of page {number}: {error}")
        context.close()
    print(f"server logs: {LOGS}")


@pytest.fixture
def page(new_page):
    """A fresh page (1600 x 1100) in a context of its own; saved as ``<test-name>.png`` when the test ends."""
    return new_page()
