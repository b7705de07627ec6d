"""advdemo.training.jobs.ProcessJob: the app's training runs in a child process at a lower CPU priority, reports its
progress to the server, can be cancelled without writing anything, and a child that dies is reported, not waited
for forever. Each test starts a real child (a fresh interpreter importing TensorFlow: a few seconds each)."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import types

import pytest

from advdemo.configs import TrainConfig
from advdemo.training.jobs import CHILD_NICENESS, ProcessJob, State, TrainingRequest, user_model_job

WAIT_SECONDS = 240


def tiny_request(name: str, epochs: int, evaluation_n: int = 8) -> TrainingRequest:
    return TrainingRequest(name, "custom", "a test", TrainConfig(epochs=epochs, batch_size=32), None,
                           evaluation_n=evaluation_n, curve_n=0)


@pytest.fixture
def user_folder(tmp_path, monkeypatch, write_tiny_mnist):
    """ADVDEMO_HOME and ADVDEMO_MNIST (256 tiny training images) for this test; the child inherits both."""
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADVDEMO_MNIST", str(write_tiny_mnist(tmp_path / "tiny.npz")))
    return tmp_path / "home" / "models"


def start(request: TrainingRequest) -> ProcessJob:
    return ProcessJob(request, functools.partial(user_model_job, request, owner="s1"), owner="s1").start()


def follow(job: ProcessJob, until=lambda snapshot: snapshot.state.finished, on_poll=lambda: None):
    """Polls the job every 50 ms until ``until(snapshot)``; returns (that snapshot, all distinct snapshots)."""
    seen = []
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        snapshot = job.snapshot()
        if not seen or snapshot != seen[-1]:
            seen.append(snapshot)
        on_poll()
        if until(snapshot):
            return snapshot, seen
        time.sleep(0.05)
    raise AssertionError(f"not reached within {WAIT_SECONDS} s; last snapshot: {job.snapshot()}")


def test_the_child_trains_at_a_lower_priority_reports_progress_and_saves_to_the_user_folder(user_folder):
    job = start(tiny_request("child-made", epochs=2))
    niceness = set()

    def read_niceness():
        try:
            niceness.add(os.getpriority(os.PRIO_PROCESS, job.pid))
        except ProcessLookupError:  # the child has just ended
            pass

    final, seen = follow(job, on_poll=read_niceness)
    assert final.state is State.DONE, final.message
    assert job.pid != os.getpid()
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + CHILD_NICENESS)
    assert niceness == {expected}  # lowered once, at the start, before any work
    assert seen[0].message == "starting the training process"
    training = [s for s in seen if s.state is State.TRAINING and s.batches]
    assert training and training[-1].epochs == 2  # the child's per-batch progress reached this process
    assert any(s.state is State.EVALUATING for s in seen)
    assert final.figures and all(0.0 <= value <= 1.0 for _, value in final.figures)
    assert sorted(path.name for path in user_folder.iterdir() if not path.name.startswith(".")) == [
        "child-made.json", "child-made.keras"]
    assert job.join(5).state is State.DONE
    late_cancel = threading.Thread(target=job.cancel, daemon=True)  # e.g. a Cancel click as the job ends
    late_cancel.start()
    late_cancel.join(10)
    assert not late_cancel.is_alive(), "cancel() hangs once the child has exited"
    assert job.snapshot().state is State.DONE


def test_a_cancel_reaches_the_child_and_nothing_is_written(user_folder):
    job = start(tiny_request("never-saved", epochs=200))
    follow(job, until=lambda snapshot: snapshot.state is State.TRAINING and snapshot.batch > 0)
    job.cancel()
    final, _ = follow(job)
    assert final.state is State.CANCELLED
    assert "nothing was written" in final.message
    assert not user_folder.exists() or list(user_folder.iterdir()) == []


def die_at_once(on_update=None):
    """A job builder whose child exits at once, as a killed or out-of-memory child would."""
    os._exit(3)


def test_a_child_that_dies_is_reported_as_failed_with_its_exit_code(user_folder, caplog):
    request = tiny_request("dies", epochs=1)
    job = ProcessJob(request, die_at_once, owner="s1").start()
    final, _ = follow(job)
    assert final.state is State.FAILED
    assert "exit code 3" in final.message
    assert not user_folder.exists()
    # Logged once, with the model's name and the file that kept the child's output.
    failures = [record.getMessage() for record in caplog.records if record.name == "advdemo.training.jobs"]
    assert len(failures) == 1 and '"dies" failed' in failures[0] and str(job.log_path) in failures[0]
    assert job.log_path.exists()
    job.log_path.unlink()


def test_a_normal_training_leaves_the_servers_terminal_quiet(user_folder, capfd):
    """TensorFlow's start-up lines and any warning of the child go to its own log file, deleted when it ends
    well: the teacher's terminal shows nothing of a normal training."""
    capfd.readouterr()
    job = start(tiny_request("quiet", epochs=1))
    final, _ = follow(job)
    assert final.state is State.DONE, final.message
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out + err)[:2000]
    assert not job.log_path.exists()


def test_the_child_never_runs_the_page_script(user_folder, tmp_path, monkeypatch):
    """While Streamlit runs a page, ``sys.modules["__main__"]`` is the page script. A spawned child re-runs its
    parent's ``__main__`` file unless told otherwise: it would run the whole app without a server (hundreds of
    "missing ScriptRunContext" warnings in the teacher's terminal, and the models loaded and attacked for nothing).
    The child must start from ``advdemo.training.child`` alone."""
    marker = tmp_path / "page-ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'w').close()\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    job = start(tiny_request("no-page", epochs=1))
    final, _ = follow(job)
    assert final.state is State.DONE, final.message
    assert not marker.exists()
    assert sys.modules["__main__"] is fake_main  # the page's module is back in place for the page


PARENT = """
import functools, sys, time
from advdemo.configs import TrainConfig
from advdemo.training.jobs import ProcessJob, TrainingRequest, user_model_job
request = TrainingRequest("orphan", "custom", "a test", TrainConfig(epochs=200, batch_size=32), None,
                          evaluation_n=8, curve_n=0)
job = ProcessJob(request, functools.partial(user_model_job, request, owner="s1"), owner="s1").start()
while job.snapshot().batch == 0:
    time.sleep(0.1)
print(job.pid, flush=True)
time.sleep(600)
"""


def test_a_child_whose_server_is_killed_stops_and_writes_nothing(user_folder):
    """A server killed outright (SIGKILL: no clean-up runs) no longer holds the training lock; its child must not
    train on beside the next training, nor save its model later."""
    import signal
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(child_pid, signal.SIGKILL)
        raise AssertionError("the orphaned training child was still running 60 s after its server was killed")
    assert not user_folder.exists() or list(user_folder.iterdir()) == []
