"""End to end: training a model from the sidebar, the real server in Debian's Chromium (Playwright).

Starts ``streamlit run app.py`` on a free port with ``ADVDEMO_MNIST`` = a tiny synthetic mnist.npz (2,048 training,
64 test images, see ``tests/conftest.py``) and ``ADVDEMO_HOME`` = an empty folder; opens "Train a model", chooses
"Custom: your own settings", 2,048 training images, 3 epochs, batch 32, names the model ``e2e-tiny`` and presses
Train. Checks that the progress bar shows "Training **e2e-tiny**: epoch …/3", that the panel then says the model
is ready, that ``e2e-tiny`` is an option of "Models to attack", and that its model and card are in
``$ADVDEMO_HOME/models``.

What makes it deterministic:

* The panel redraws its progress about once a second, and the training stage is short: a MutationObserver,
  installed before Train is pressed, records every text the sidebar's progress bars and alerts show while
  visible, so that no poll can miss one. With 256 images (3 x 8 batches) a busy machine sometimes drew no training
  stage at all, "Preparing" then "is saved"; 2,048 images (3 x 64 batches) keep it on screen for a few redraws.
* Each setting is committed (Enter) and its rerun awaited before the next one: the Train button's callback gets
  the settings as ``args`` from the last run that drew the button, so a click that interrupts the reruns of the
  changes before it trains with older settings (5 epochs instead of 3, seen here). Another MutationObserver
  counts the runs that end (``stApp``'s ``data-test-script-state`` back to ``notRunning``): right after Enter
  that attribute still reads ``notRunning``, so waiting for it alone would not wait at all.
* The "is ready" message is visible only briefly: the page's rerun at the end of the job passes ``expanded=False``
  to the panel's expander (``expanded=running``), and Streamlit 1.67 then collapses it although the user opened
  it. The test waits for that rerun (the Train button enabled again) and opens the panel again to read it.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser_helpers import (
    CHROMIUM,
    VERDICT_SELECTOR,
    ServerError,
    free_port,
    health_url,
    launch_chromium,
    launch_server,
    stop_server,
    wait_for_health,
)

from advdemo import PRETRAINED_DIR

NAME = "e2e-tiny"
EPOCHS = 3
TRAIN_IMAGES = 2048
#: The first page load imports TensorFlow, loads the models and compiles the attacks.
PAGE_TIMEOUT_MS = 240_000
#: Training on 2,048 images takes seconds; measuring the model afterwards (clean, FGSM, PGD, the strongest attack
#: on 64 test images, then the curve) up to a few minutes on a busy machine.
JOB_TIMEOUT_MS = 600_000
#: Every visible text of the sidebar's progress bars into ``window.advdemoProgress``, and of its alerts (as
#: "data-testid: text") into ``window.advdemoAlerts``: in order, the ``<p>``'s inner HTML, repeats collapsed.
RECORD_PROGRESS = """() => {
    window.advdemoProgress = [];
    window.advdemoAlerts = [];
    const push = (seen, text) => { if (seen[seen.length - 1] !== text) seen.push(text); };
    const record = () => {
        const sidebar = '[data-testid="stSidebar"] ';
        for (const bar of document.querySelectorAll(sidebar + '[data-testid="stProgress"]')) {
            const text = bar.querySelector('[data-testid="stMarkdownContainer"] p');
            if (text && bar.checkVisibility()) push(window.advdemoProgress, text.innerHTML);
        }
        for (const alert of document.querySelectorAll(sidebar + '[data-testid^="stAlertContent"]')) {
            const text = alert.querySelector('[data-testid="stMarkdownContainer"] p');
            if (!text || !alert.checkVisibility()) continue;
            push(window.advdemoAlerts, `${alert.dataset.testid}: ${text.innerHTML}`);
        }
    };
    new MutationObserver(record).observe(document.body,
                                         {subtree: true, childList: true, characterData: true, attributes: true});
}"""
#: Counts the script runs that end into ``window.advdemoRuns`` (the app root's script state back to notRunning).
COUNT_RUNS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.advdemoRuns = 0;
    let last = app.getAttribute('data-test-script-state');
    new MutationObserver(() => {
        const now = app.getAttribute('data-test-script-state');
        if (now === 'notRunning' && last !== 'notRunning') window.advdemoRuns += 1;
        last = now;
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
#: True once the job is past its first stage ("Preparing"): a later progress text, or the end's message.
PAST_PREPARING = """() => window.advdemoProgress.some(text => !text.startsWith('Preparing'))
    || window.advdemoAlerts.length > 0"""
#: The progress bar's text while training, as the DOM has it (Streamlit renders the name's ** as <strong>).
TRAINING_TEXT = re.compile(rf"^Training <strong>{re.escape(NAME)}</strong>: epoch [1-{EPOCHS}]/{EPOCHS}, batch ")
READY_TEXT = f"stAlertContentSuccess: <strong>{NAME}</strong> is ready"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
    pytest.mark.skipif(not all((PRETRAINED_DIR / name).is_file() for name in ("base.keras", "robust.keras")),
                       reason=f"{PRETRAINED_DIR} lacks base.keras and robust.keras: train them, or set "
                              "ADVDEMO_PRETRAINED"),
]


@pytest.fixture
def home(tmp_path) -> Path:
    """The server's ``ADVDEMO_HOME``: empty, so the user model folder holds nothing yet."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def app_url(tmp_path, home, write_tiny_mnist) -> Iterator[str]:
    """The URL of a freshly started app server on the tiny MNIST and the empty ``home`` (stopped after the test).
    The file watcher is off: an edit elsewhere in the repository must not rerun the app during the test."""
    port = free_port()
    log = tmp_path / "streamlit.log"
    mnist = write_tiny_mnist(tmp_path / "tiny.npz", n_train=TRAIN_IMAGES)
    env = {"ADVDEMO_HOME": str(home), "ADVDEMO_MNIST": str(mnist),
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    server = launch_server(port, log, env)
    try:
        try:
            wait_for_health(health_url(port), server, log)
        except ServerError as error:
            pytest.fail(str(error))
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_server(server)


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def open_expander(expander, attempts: int = 5) -> None:
    """Opens a collapsed ``st.expander`` (a ``<details>``), clicking its summary again if a rerun closed it."""
    from playwright.sync_api import expect

    details = expander.locator("details")
    for _ in range(attempts):
        if details.get_attribute("open") is None:
            expander.locator("summary").click()
        try:
            expect(details).to_have_attribute("open", "", timeout=2_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the expander did not open after {attempts} attempts")


def open_combobox(widget, attempts: int = 6) -> None:
    """Opens the option list of a selectbox or multiselect (a React Aria combobox in Streamlit 1.67). A click
    does not always open it (the first one after a page load may only focus it): clicks, or presses ArrowDown,
    until it says it is expanded."""
    from playwright.sync_api import expect

    combobox = widget.get_by_role("combobox")
    for attempt in range(attempts):
        if attempt % 2:
            combobox.press("ArrowDown")
        else:
            combobox.click()
        try:
            expect(combobox).to_have_attribute("aria-expanded", "true", timeout=2_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the combobox did not open after {attempts} attempts")


def listed_options(page, widget) -> list[str]:
    """The options the widget's open list shows (closed again afterwards)."""
    open_combobox(widget)
    options = page.get_by_role("listbox").get_by_role("option").all_inner_texts()
    widget.get_by_role("combobox").press("Escape")
    return options


def after_rerun(page, change: Callable[[], object]) -> None:
    """Makes ``change`` (it must rerun the script) once the app is idle, and waits until that rerun has ended
    (``COUNT_RUNS`` must be installed)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    runs = page.evaluate("window.advdemoRuns")
    change()
    page.wait_for_function("runs => window.advdemoRuns > runs", arg=runs)


def set_field(page, expander, key: str, value: str) -> None:
    """Types ``value`` into the text or number input of key ``key`` and commits it (Enter), unless it holds it
    already (then nothing reruns)."""
    from playwright.sync_api import expect

    field = expander.locator(f".st-key-{key} input")
    if field.input_value() != value:
        after_rerun(page, lambda: (field.fill(value), field.press("Enter")))
    expect(field).to_have_value(value)


def test_training_a_tiny_model_in_the_sidebar_adds_it_to_the_models(app_url, browser, home, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    started = time.monotonic()
    try:
        page.goto(app_url, wait_until="domcontentloaded")
        sidebar = page.get_by_test_id("stSidebar")
        models = sidebar.get_by_test_id("stMultiSelect").filter(has_text="Models to attack")
        expect(page.locator(VERDICT_SELECTOR)).to_have_count(2)  # the first run is over: base and robust judged
        assert NAME not in listed_options(page, models)

        page.evaluate(COUNT_RUNS)
        page.evaluate(RECORD_PROGRESS)
        panel = sidebar.get_by_test_id("stExpander").filter(has_text="Train a model")
        open_expander(panel)
        preset = panel.locator(".st-key-train_preset")
        open_combobox(preset)
        custom = page.get_by_role("listbox").get_by_role("option", name="Custom: your own settings", exact=True)
        after_rerun(page, custom.click)
        expect(preset.get_by_role("combobox")).to_have_value("Custom: your own settings")
        set_field(page, panel, "train_train_examples", str(TRAIN_IMAGES))  # the widget's minimum is 100
        set_field(page, panel, "train_epochs", str(EPOCHS))
        set_field(page, panel, "train_batch_size", "32")
        set_field(page, panel, "train_name", NAME)

        panel.locator(".st-key-train_start button").click()
        page.wait_for_function(PAST_PREPARING, timeout=JOB_TIMEOUT_MS)
        seen = page.evaluate("window.advdemoProgress")
        assert any(TRAINING_TEXT.match(text) for text in seen), f"no training progress shown, only {seen}"

        page.wait_for_function("() => window.advdemoAlerts.length > 0", timeout=JOB_TIMEOUT_MS)
        alerts = page.evaluate("window.advdemoAlerts")
        assert alerts[0].startswith(READY_TEXT), alerts
        print(f"{time.monotonic() - started:.0f} s to {NAME} ready; progress texts: {page.evaluate('advdemoProgress')}")

        # Only a full run draws the Train button: enabled again, it says the page has rerun since the job ended.
        expect(panel.locator(".st-key-train_start button")).to_be_enabled(timeout=120_000)
        open_expander(panel)  # that rerun collapsed the panel (see above): the message is still in it
        ready = panel.get_by_test_id("stAlertContentSuccess").filter(has_text=f"{NAME} is ready")
        expect(ready).to_be_visible()
        expect(ready.locator("strong")).to_have_text(NAME)
        assert not [alert for alert in page.evaluate("window.advdemoAlerts") if "Success" not in alert]

        options = listed_options(page, models)  # that rerun drew the sidebar's controls before the panel
        assert NAME in options, f"{NAME} is not an option of Models to attack, only {options}"
    except BaseException:
        with contextlib.suppress(Exception):  # keep the test's own error if the page is gone
            print(f"progress texts: {page.evaluate('window.advdemoProgress ?? null')}; "
                  f"alerts: {page.evaluate('window.advdemoAlerts ?? null')}")
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'failure.png'}; server log: {tmp_path / 'streamlit.log'}")
        raise
    finally:
        page.close()

    folder = home / "models"
    assert (folder / f"{NAME}.keras").is_file(), sorted(path.name for path in folder.glob("*"))
    card = json.loads((folder / f"{NAME}.json").read_text())
    assert card["name"] == NAME and card["trained_in"] == "the app's sidebar"
    # The settings typed in the panel, not its defaults (5 epochs, all images).
    assert card["train_config"]["epochs"] == EPOCHS and card["train_config"]["batch_size"] == 32
    assert card["data"]["train_examples"] == TRAIN_IMAGES
    assert card["metrics"], "the job did not measure the model"
