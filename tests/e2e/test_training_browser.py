"""End to end: training models from the sidebar, the real server in Debian's Chromium (Playwright), on the
``training_app`` server of ``conftest.py``: ``ADVDEMO_MNIST`` = a tiny synthetic mnist.npz (600 training, 32 test
images of bars, see ``tests/conftest.py``) and an empty ``ADVDEMO_HOME``. The tests drive the UI only (the job may
run in a thread or in a child process, which starts a few seconds later while it imports TensorFlow):

* a custom training of 50 epochs of 75 batches: the live view on the main page, its progress bar's text changing
  ("Training **name**: epoch e/50, batch b/75 · about … left", later epochs and batches, a different ETA) and its
  curves drawn after the first epoch, then Cancel: the live view says nothing was written, no model file is in
  ``$ADVDEMO_HOME/models`` and "Models to attack" does not offer it; the server's terminal got no warning from it;
* the Quick preset on all 600 images (2 epochs): its measurement's progress, "**name** is ready", then the model
  under "Models to attack" and its verdict on the gallery digit, and its model and card in ``$ADVDEMO_HOME/models``.

What makes them deterministic:

* The live view redraws itself every two seconds: a MutationObserver, installed before Train is pressed,
  records every text the live view's progress bars and alerts show while visible, so that no poll can miss one (a
  short stage may be on screen for one redraw only, or none: with 256 images a busy machine drew no training stage
  at all, "Preparing" then "is saved"). The cancelled job trains long (50 epochs of 75 batches) so that it is still
  training when Cancel is pressed, whatever the machine's speed; the finished one is not asked to show its short
  training stage.
* Each setting is committed (Enter) and its rerun awaited before the next one (``page_helpers.settle``): a click
  that interrupts the reruns of the changes before it once trained with older settings (5 epochs instead of 3).
* While a job runs, a fragment of the panel reruns every second: the tests wait for what the page shows (the
  recorded texts, the alert, the Train button enabled again), not for "no script running".
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from conftest import server_log
from page_helpers import (
    VERDICT,
    attack_heading,
    choose_option,
    listed_options,
    open_app,
    open_expander,
    set_number,
    settle,
    size_lines,
    verdicts_by_model,
    widget,
)

expect = pytest.importorskip("playwright.sync_api").expect

#: Starting the job (a child process imports TensorFlow), training and measuring a tiny model on a busy machine.
JOB_TIMEOUT_MS = 300_000
CANCELLED = "e2e-cancelled"
CANCELLED_EPOCHS = 50
QUICK = "e2e-quick"
#: Every visible text of the live view's progress bars into ``window.advdemoProgress``, and of its alerts (as
#: "data-testid: text") into ``window.advdemoAlerts``: in order, repeats collapsed.
RECORD_PROGRESS = """() => {
    window.advdemoProgress = [];
    window.advdemoAlerts = [];
    const push = (seen, text) => { if (seen[seen.length - 1] !== text) seen.push(text); };
    const record = () => {
        const live = '.st-key-train_live ';
        for (const bar of document.querySelectorAll(live + '[data-testid="stProgress"]')) {
            const text = bar.querySelector('[data-testid="stMarkdownContainer"] p');
            if (text && bar.checkVisibility()) push(window.advdemoProgress, text.textContent);
        }
        for (const alert of document.querySelectorAll(live + '[data-testid^="stAlertContent"]')) {
            const text = alert.querySelector('[data-testid="stMarkdownContainer"] p');
            if (!text || !alert.checkVisibility()) continue;
            push(window.advdemoAlerts, `${alert.dataset.testid}: ${text.textContent}`);
        }
    };
    new MutationObserver(record).observe(document.body,
                                         {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def training_text(name: str, epochs: int) -> re.Pattern:
    """The progress bar's text while training, with an ETA: (epoch, batch, batches)."""
    return re.compile(rf"^Training {re.escape(name)}: epoch ([1-9][0-9]*)/{epochs}, batch ([0-9]+)/([0-9]+) · about "
                      r"[0-9]+ (s|min) left$")


def progress(page) -> list[str]:
    return page.evaluate("window.advdemoProgress")


def alerts(page) -> list[str]:
    return page.evaluate("window.advdemoAlerts")


def train_panel(page):
    return page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="Train a model")


def start_training(page, panel) -> None:
    """Records the panel's texts from now on, and presses Train."""
    page.evaluate(RECORD_PROGRESS)
    settle(page, panel.locator(".st-key-train_start button").click)
    expect(panel.locator(".st-key-train_start button")).to_be_disabled()  # one training at a time


def test_a_training_shows_its_progress_and_a_cancelled_one_keeps_no_model(training_app, page, screenshot):
    open_app(page, training_app.url)
    expect(page.locator(VERDICT)).to_have_count(2)
    panel = train_panel(page)
    open_expander(page, panel)
    choose_option(page, "train_preset", "Custom: your own settings")
    expect(widget(page, "train_preset").get_by_role("combobox")).to_have_value("Custom: your own settings")
    set_number(page, "train_epochs", str(CANCELLED_EPOCHS))
    set_number(page, "train_batch_size", "8")  # 75 batches an epoch: minutes of training, cancelled in seconds
    set_number(page, "train_name", CANCELLED)

    log = server_log("training-app")
    log_before = log.stat().st_size if log.exists() else 0
    start_training(page, panel)
    pattern = training_text(CANCELLED, CANCELLED_EPOCHS)
    live = page.locator(".st-key-train_live")
    try:
        # Watch the text change: two training texts with an ETA, the later one further on.
        page.wait_for_function("""pattern => {
            const seen = window.advdemoProgress.map(text => text.match(new RegExp(pattern))).filter(Boolean)
                .map(match => [Number(match[1]), Number(match[2])]);
            return seen.length >= 2 && (seen.at(-1)[0] > seen[0][0] || seen.at(-1)[1] > seen[0][1]);
        }""", arg=pattern.pattern, timeout=JOB_TIMEOUT_MS)
        # The curves on the main page: the loss at once, the accuracies once the first epoch is measured.
        expect(live.get_by_test_id("stVegaLiteChart")).to_have_count(2, timeout=JOB_TIMEOUT_MS)
        page.wait_for_function("""pattern => new Set(window.advdemoProgress.filter(text => new RegExp(pattern)
            .test(text)).map(text => text.split(' · ')[1])).size >= 2""", arg=pattern.pattern,
                               timeout=JOB_TIMEOUT_MS)  # the ETA moves
        screenshot(page, "progress")
        settle(page, panel.locator(".st-key-train_cancel button").click)
    finally:
        with contextlib.suppress(Exception):  # never leave a 50-epoch job running for the next test
            panel.locator(".st-key-train_cancel button").click(timeout=1_000)

    cancelled = live.get_by_test_id("stAlertContentInfo")
    expect(cancelled).to_have_text(f"{CANCELLED}: cancelled: nothing was written", timeout=JOB_TIMEOUT_MS)
    expect(live.get_by_test_id("stVegaLiteChart")).to_have_count(2)  # the curves stay, on the whole run's axis
    expect(panel.locator(".st-key-train_start button")).to_be_enabled()
    texts = progress(page)
    assert all(not text.startswith(f"{CANCELLED} is saved") for text in texts), texts  # it never got that far
    assert [pattern.match(text) is not None for text in texts if text.startswith("Training")].count(True) >= 2, texts
    assert not list(training_app.models.glob(f"{CANCELLED}*")), list(training_app.models.iterdir())
    assert CANCELLED not in listed_options(page, "models")
    # The teacher's terminal: nothing from the training (no warning, no traceback, no TensorFlow start-up lines).
    with log.open("rb") as lines:
        lines.seek(log_before)
        noise = [line for line in lines.read().decode(errors="replace").splitlines()
                 if re.search(r"WARNING|Traceback|ScriptRunContext|cuda|^[IEW]0000", line)]
    assert noise == [], noise[:10]


def test_a_quick_training_finishes_and_its_new_model_can_be_attacked(training_app, page):
    open_app(page, training_app.url)
    expect(page.locator(VERDICT)).to_have_count(2)
    assert QUICK not in listed_options(page, "models")
    panel = train_panel(page)
    open_expander(page, panel)
    expect(widget(page, "train_preset").get_by_role("combobox")).to_have_value(re.compile(r"^Quick: normal training"))
    set_number(page, "train_name", QUICK)

    start_training(page, panel)
    ready = page.locator(".st-key-train_live").get_by_test_id("stAlertContentSuccess")
    expect(ready).to_have_text(f"{QUICK} is ready: choose it under Models to attack.", timeout=JOB_TIMEOUT_MS)
    texts = progress(page)
    assert any(text.startswith(f"{QUICK} is saved and ready to attack; measuring") for text in texts), texts
    # No error on the way (the panel may show the last job's end, e.g. the cancelled one's, before this one starts).
    assert not [alert for alert in alerts(page) if alert.startswith(("stAlertContentError", "stAlertContentWarning"))]
    assert alerts(page)[-1] == f"stAlertContentSuccess: {QUICK} is ready: choose it under Models to attack."
    expect(panel.locator(".st-key-train_start button")).to_be_enabled()  # the page has rerun since the job ended

    assert QUICK in listed_options(page, "models")
    choose_option(page, "models", QUICK)
    expect(page.locator(VERDICT)).to_have_count(3)
    verdicts = verdicts_by_model(page)
    assert sorted(verdicts) == sorted(["base", "robust", QUICK]), verdicts
    assert re.match(r"(✗ FOOLED|✓ HELD|ALREADY WRONG) ", verdicts[QUICK]), verdicts
    assert len(size_lines(page)) == 3
    expect(attack_heading(page)).to_have_text("2 · The attack: FGSM L-inf ε = 0.2, white-box")
    expect(page.get_by_test_id("stSidebar").get_by_text("Your models (1)")).to_be_visible()

    card = json.loads((training_app.models / f"{QUICK}.json").read_text())
    assert (training_app.models / f"{QUICK}.keras").is_file()
    assert card["name"] == QUICK and card["recipe"] == "quick" and card["trained_in"] == "the app's sidebar"
    assert card["train_config"]["epochs"] == 2 and card["data"]["train_examples"] == 600, card
    assert card["metrics"], "the job did not measure the model"
