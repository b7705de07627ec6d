"""One training at a time for a whole deployment: a lock file in the shared model store.

Every replica of the app (several Streamlit processes behind a proxy, see ``docs/deploy.md``) reads and writes the
same ``ADVDEMO_HOME``. The replica that starts a training holds ``$ADVDEMO_HOME/training.lock`` with
``fcntl.flock`` (exclusive) for as long as the job runs, and keeps its content current: which model, which session,
which host and process, since when, the stage and the ETA (one JSON object, rewritten in place about once a second).
Every replica reads that content to show that a training runs, and to refuse a second one with who, since when and
until about when.

A lock is only as alive as its holder: the kernel releases a ``flock`` when the process that holds it ends, however
it ends (SIGKILL, out of memory), so a lock whose content says "training" but that nobody holds is stale: its job
is reported as stopped and the next training may start. No pid or host check is needed for that, and it also holds
across containers that share the volume on one host. (On a network file system, flock is only as good as the
server's lock support: NFS v4 has it.)

A cancel from another replica writes ``training.cancel`` next to the lock with the job's token; the holder polls it
and cancels its job.

Stdlib only: the tests' helper processes use it without TensorFlow.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCK_NAME = "training.lock"
CANCEL_NAME = "training.cancel"
#: How long ``acquire`` retries when the lock is busy only because a reader is probing it (seconds).
PROBE_GRACE = 0.3


class Held(RuntimeError):
    """Another process holds the training lock; ``info`` is its content (may be empty while it is written)."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        super().__init__(f"the training lock is held: {dict(info)}")
        self.info = dict(info)


def _is_busy(error: OSError) -> bool:
    return error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class TrainingLock:
    """The training lock of the store ``home`` (``$ADVDEMO_HOME``)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.path = self.home / LOCK_NAME
        self.cancel_path = self.home / CANCEL_NAME

    # -- the holder -------------------------------------------------------------------------------------------
    def acquire(self, info: Mapping[str, Any]) -> Holder:
        """Takes the lock and writes ``info`` (plus host, pid, token) into it; ``Held`` with the holder's content
        if another process (or another holder of this one) has it."""
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + PROBE_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if not _is_busy(error):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:  # not a reader's short probe: someone trains
                    os.close(fd)
                    raise Held(self.read_content()) from None
                time.sleep(0.02)
        holder = Holder(self, fd, {**info, "host": socket.gethostname(), "pid": os.getpid(),
                                   "token": uuid.uuid4().hex, "running": True})
        with contextlib.suppress(FileNotFoundError):
            self.cancel_path.unlink()  # a request left for an earlier job
        holder.update()
        return holder

    # -- everyone -----------------------------------------------------------------------------------------------
    def read_content(self) -> dict[str, Any]:
        """The lock file's content (``{}`` if there is none or it is being rewritten right now)."""
        for _ in range(5):
            try:
                text = self.path.read_text()
            except (FileNotFoundError, UnicodeDecodeError):
                return {}
            try:
                content = json.loads(text)
                return content if isinstance(content, dict) else {}
            except json.JSONDecodeError:
                time.sleep(0.01)  # caught between the truncate and the write
        return {}

    def is_held(self) -> bool:
        """Whether a live process holds the lock now (a short shared probe, never blocking)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as error:
            if _is_busy(error):
                return True
            raise
        else:
            return False
        finally:
            os.close(fd)  # also releases the probe's shared lock

    def status(self) -> tuple[dict[str, Any], bool]:
        """(content, held): the last job's content and whether its holder still runs it."""
        held = self.is_held()
        return self.read_content(), held

    def request_cancel(self, token: str) -> None:
        """Asks the holder of job ``token`` to cancel it (it polls for this file)."""
        self.home.mkdir(parents=True, exist_ok=True)
        temporary = self.cancel_path.with_name(f".{CANCEL_NAME}.{os.getpid()}")
        temporary.write_text(token)
        os.replace(temporary, self.cancel_path)


class Holder:
    """A held training lock: ``update`` its content, ``cancel_requested``, ``release``."""

    def __init__(self, lock: TrainingLock, fd: int, content: dict[str, Any]) -> None:
        self.lock, self._fd, self.content = lock, fd, content
        self._guard = threading.Lock()  # the keeper thread and a new ``start`` may both release

    @property
    def token(self) -> str:
        return self.content["token"]

    def update(self, **changes: Any) -> None:
        """Rewrites the lock file's content in place with ``changes`` (the file is never replaced: the flock is on
        it)."""
        with self._guard:
            self._write(changes)

    def _write(self, changes: Mapping[str, Any]) -> None:
        if self._fd is None:
            return
        self.content = {**self.content, **changes, "updated": time.time()}
        data = json.dumps(self.content).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def cancel_requested(self) -> bool:
        try:
            return self.lock.cancel_path.read_text().strip() == self.token
        except (FileNotFoundError, UnicodeDecodeError):
            return False

    def release(self, **final: Any) -> None:
        """Writes the final content (``running`` false) and lets the lock go."""
        with self._guard:
            if self._fd is None:
                return
            try:
                self._write({**final, "running": False})
                with contextlib.suppress(FileNotFoundError):
                    if self.cancel_requested():
                        self.lock.cancel_path.unlink()
            finally:
                fd, self._fd = self._fd, None
                os.close(fd)
