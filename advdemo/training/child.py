"""The entry point of a ``jobs.ProcessJob``'s child process, and the loop that serves the job there.

Nothing here imports TensorFlow: the child lowers its CPU priority first, then unpickles the job's builder,
whose import of TensorFlow is seconds of CPU that the server's sessions should not have to wait for.

The child writes its output (TensorFlow's start-up lines, a traceback) to its own log file, not to the server's
terminal: the teacher's terminal stays quiet, and the parent logs a failure once, with the model's name and that
file (``jobs.ProcessJob``).
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

#: The child looks for a cancel this often (then the job stops within a batch).
CANCEL_POLL_SECONDS = 0.1
#: The child sends at most one progress snapshot per this many seconds (and every change of state).
SEND_EVERY_SECONDS = 0.25


def run(priority: int, build: bytes, updates: Any, cancel: Any, log_path: str | None = None) -> None:
    """Makes sure this process runs at ``priority`` (a nice value; the parent already set it from outside right
    after the start), sends its standard output and error to ``log_path`` (if given), then ``serve`` with the
    unpickled ``build``."""
    os.setpriority(os.PRIO_PROCESS, 0, priority)
    if log_path is not None:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    serve(pickle.loads(build), updates, cancel)


class _Sender:
    """The child's ``on_update``: puts snapshots on the queue, at most one per ``SEND_EVERY_SECONDS`` while the
    state stays the same (a training reports every batch)."""

    def __init__(self, updates: Any) -> None:
        self._updates, self._sent_at, self._state = updates, 0.0, None

    def __call__(self, snapshot: Any) -> None:
        now = time.monotonic()
        if snapshot.state is not self._state or now - self._sent_at >= SEND_EVERY_SECONDS:
            self._updates.put(snapshot)
            self._sent_at, self._state = now, snapshot.state


def serve(build: Callable[..., Any], updates: Any, cancel: Any) -> None:
    """Builds the job (``build(on_update=...)``, a ``jobs.TrainingJob``), runs it with progress sent to ``updates``
    and the shared ``cancel`` flag watched, and sends the final snapshot. A child whose parent (the app's server)
    is gone cancels its job as if asked to: killed, the server no longer holds the training lock, and an orphan
    must not go on training beside the next one (nor save a model nobody asked for any more)."""
    parent = os.getppid()
    job = build(on_update=_Sender(updates))

    def watch_cancel() -> None:
        while not cancel.value and os.getppid() == parent:
            time.sleep(CANCEL_POLL_SECONDS)
        job.cancel()

    threading.Thread(target=watch_cancel, name="watch-cancel", daemon=True).start()
    updates.put(job.run())
    updates.close()
    updates.join_thread()  # the final snapshot is in the pipe before the process ends
