"""The sidebar's "Train a model" panel, driven with AppTest on a tiny synthetic MNIST (``ADVDEMO_MNIST``) and an
empty user folder (``ADVDEMO_HOME``): a training starts, shows progress, finishes, and the new model can be
attacked; a cancel leaves no file; a second training is refused while one runs; rename and delete work.
"""

from __future__ import annotations

import json
import time

import pytest
from apptest_support import APP, TIMEOUT, rerun
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.demo.charts import training_charts
from advdemo.training.jobs import EpochPoint, State
from advdemo.ui import keys, training
from advdemo.ui.results import VIEW_CURVES

pytestmark = pytest.mark.skipif(not (PRETRAINED_DIR / "base.keras").is_file(),
                                reason="needs the bundled models")


@pytest.fixture
def home(tmp_path, monkeypatch, write_tiny_mnist):
    """A fresh user folder and a tiny MNIST (256 train, 64 test images) for this test; the server's job
    manager forgotten, so that no job of another test is current."""
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADVDEMO_MNIST", str(write_tiny_mnist(tmp_path / "tiny.npz")))
    training.job_manager.clear()
    yield tmp_path / "home" / "models"
    job = training.job_manager().current()
    if job is not None:
        job.cancel()
        job.join(60)
    training.job_manager.clear()


def open_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    return rerun(at)


def custom(at: AppTest, name: str, epochs: int) -> AppTest:
    """Chooses the custom preset: FGSM-regularised training of ``epochs`` on the tiny set, named ``name``."""
    at.sidebar.selectbox(key=training.PRESET).set_value("custom")
    rerun(at)
    at.sidebar.number_input(key="train_epochs").set_value(epochs)
    at.sidebar.number_input(key="train_batch_size").set_value(32)
    at.sidebar.number_input(key="train_train_examples").set_value(256)
    at.sidebar.text_input(key=training.NAME).set_value(name)
    return rerun(at)


def wait_for(predicate, seconds: float = 300.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = training.job_manager().current()
        if job is not None and predicate(job.snapshot()):
            return job.snapshot()
        time.sleep(0.2)
    raise AssertionError("timed out")


def live_charts(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of the main page's charts (the live view's loss and accuracy among them)."""
    return [json.loads(element.proto.spec) for element in at.main.get("vega_lite_chart")]


def test_train_a_model_watch_it_then_attack_it(home):
    at = custom(open_app(), "tiny-nsl", epochs=2)
    at.sidebar.button(key="train_start").click()
    rerun(at)
    final = wait_for(lambda snapshot: snapshot.state.finished)
    assert final.state is State.DONE, final.message
    assert sorted(path.name for path in home.iterdir()) == ["tiny-nsl.json", "tiny-nsl.keras"]
    rerun(at)
    # The live view, on the main page: how it ended, its curves (a point per epoch) and the measured figures.
    assert any("tiny-nsl** is ready" in success.value for success in at.main.success)
    titles = [spec["title"] for spec in live_charts(at)]
    assert titles[:2] == ["training loss", "after each epoch, on 64 test images"]  # the tiny set's 64 images
    assert [point.epoch for point in final.epoch_points] == [1, 2]
    assert [caption.value for caption in at.main.caption if "clean:" in caption.value]
    assert any("tiny-nsl" in caption.value for caption in at.sidebar.caption)  # the sidebar: one status line
    selector = at.sidebar.multiselect(key=keys.MODELS)
    assert "tiny-nsl" in selector.options
    selector.set_value(["base", "tiny-nsl"])
    rerun(at)
    headings = [markdown.value for markdown in at.markdown if "tiny-nsl" in markdown.value]
    assert headings, "the new model is not shown"


def test_watch_progress_then_cancel_halfway_leaves_no_file(home):
    at = custom(open_app(), "tiny-cancel", epochs=40)
    at.sidebar.button(key="train_start").click()
    rerun(at)
    wait_for(lambda snapshot: snapshot.epoch >= 2)
    rerun(at)
    # The progress line is checked on this long run: a 2-epoch run on the tiny set can finish before a rerun.
    bars = [element.proto.text for element in at.main.get("progress")]
    assert len(bars) == 1 and bars[0].startswith("Training **tiny-cancel**: epoch "), bars
    assert not at.sidebar.get("progress")  # the sidebar keeps the controls and one line
    at.sidebar.button(key=training.CANCEL).click()
    rerun(at)
    final = wait_for(lambda snapshot: snapshot.state.finished, 30)
    assert final.state is State.CANCELLED and final.epoch < 40
    assert not home.exists() or list(home.iterdir()) == []
    rerun(at)
    assert any("nothing was written" in info.value for info in at.main.info)
    # The curves keep the whole run's axis after a cancel: 0 to 40 epochs, not squashed to the last batch.
    loss = next(spec for spec in live_charts(at) if spec["title"] == "training loss")
    assert loss["encoding"]["x"]["scale"]["domain"] == [0, 40]


def test_a_second_training_is_refused_while_one_runs(home):
    first = custom(open_app(), "tiny-first", epochs=40)
    first.sidebar.button(key="train_start").click()
    rerun(first)
    wait_for(lambda snapshot: snapshot.batch >= 1)
    second = custom(open_app(), "tiny-second", epochs=1)
    assert second.sidebar.button(key="train_start").disabled  # the button says so before anyone clicks
    assert any(caption.value.startswith('Another session is training "tiny-first"') and
               "Only that session can cancel it" in caption.value for caption in second.sidebar.caption)
    assert not any(button.key == training.CANCEL for button in second.sidebar.button)
    assert not second.main.get("progress")  # no live view on the page of a session that does not follow it
    # Only the session that started it gets the panel opened for it: 30 open panels would redraw 30 progress
    # charts every second.
    assert first.session_state[training.PANEL] is True
    assert second.session_state[training.PANEL] is False


def test_bad_names_are_refused_plainly(home):
    at = open_app()
    at.sidebar.text_input(key=training.NAME).set_value("../../etc/passwd")
    rerun(at)
    at.sidebar.button(key="train_start").click()
    rerun(at)
    assert any("name" in error.value for error in at.sidebar.error)
    assert training.job_manager().current() is None
    at.sidebar.text_input(key=training.NAME).set_value("base")
    rerun(at)
    at.sidebar.button(key="train_start").click()
    rerun(at)
    assert any("base" in error.value for error in at.sidebar.error)
    assert training.job_manager().current() is None


def test_train_uses_the_settings_shown_when_clicked(home):
    """An edit and a click in the same run (a quick user) train what the fields show, not the last run's values."""
    at = custom(open_app(), "tiny-quick-click", epochs=5)
    at.sidebar.number_input(key="train_epochs").set_value(2)
    at.sidebar.button(key="train_start").click()
    rerun(at)
    job = training.job_manager().current()
    assert job is not None and job.request.train_config.epochs == 2
    job.cancel()
    job.join(60)


def test_a_missing_mnist_file_turns_train_off_with_a_warning(home, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVDEMO_MNIST", str(tmp_path / "nowhere.npz"))
    at = open_app()
    assert any("nowhere.npz" in warning.value and "does not exist" in warning.value for warning in at.sidebar.warning)
    assert at.sidebar.button(key="train_start").disabled


def test_the_live_charts_plot_every_epochs_figures_on_the_whole_runs_axis():
    points = [EpochPoint(1, 1.5, 0.6, 0.8, 0.4, 0.2), EpochPoint(2, 0.9, 0.8, 0.9, 0.5, 0.1)]
    history = [(0.5, 2.0, 0.3), (1.0, 1.5, 0.6), (1.5, float("nan"), 0.7)]
    loss, accuracy = training_charts(history, points, epochs=5, images=200)
    assert loss["data"]["values"] == [{"epoch": 0.5, "loss": 2.0}, {"epoch": 1.0, "loss": 1.5}]  # no NaN point
    rows = {(row["epoch"], row["line"]): row["accuracy"] for row in accuracy["data"]["values"]}
    assert rows == {(1, "clean"): 0.8, (1, "under its training attack"): 0.4, (1, "under PGD (white-box)"): 0.2,
                    (2, "clean"): 0.9, (2, "under its training attack"): 0.5, (2, "under PGD (white-box)"): 0.1}
    for spec in (loss, accuracy):  # the axis spans the run, whatever has been drawn so far
        assert spec["encoding"]["x"]["scale"]["domain"] == [0, 5]
    normal = [EpochPoint(1, 1.0, 0.7, 0.9, None, 0.0)]
    _, accuracy = training_charts([], normal, epochs=1, images=200)
    assert accuracy["encoding"]["color"]["scale"]["domain"] == ["clean", "under PGD (white-box)"]
