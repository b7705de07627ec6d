"""Atomic writes: a file is written beside its destination under a temporary name, then renamed over it, so that
a crash or a cancelled run never leaves a half-written model or card."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Calls ``write(temporary)`` for a temporary file in ``path``'s folder (created if needed), makes it readable
    by everyone (0644), and renames it to ``path``; the temporary file is removed if ``write`` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.tmp", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a model or a card is for everyone
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
