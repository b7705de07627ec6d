"""The entry point of a ``jobs.ProcessJob``'s child process.

Nothing here imports TensorFlow: the child lowers its CPU priority first, then unpickles the job's builder,
whose import of TensorFlow is seconds of CPU that the server's sessions should not have to wait for.
"""

from __future__ import annotations

import os
import pickle
from typing import Any


def run(priority: int, build: bytes, updates: Any, cancel: Any) -> None:
    """Makes sure this process runs at ``priority`` (a nice value; the parent already set it from outside right
    after the start), then ``advdemo.jobs.serve_in_child`` with the unpickled ``build``."""
    os.setpriority(os.PRIO_PROCESS, 0, priority)
    from advdemo.jobs import serve_in_child

    serve_in_child(pickle.loads(build), updates, cancel)
