"""``run_in_own_loop``: ``asyncio.run`` for tests that may share a pytest process with the browser tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any


def run_in_own_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs ``coroutine`` to its end in a thread of its own, with its own event loop: Playwright's sync API (the
    browser tests, which may run earlier in the same process) leaves an event loop running in the main thread,
    where ``asyncio.run`` refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
