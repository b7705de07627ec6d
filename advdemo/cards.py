"""Model cards: the JSON beside each bundled model, and atomic file writes."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any


def card_path(model_path: str | os.PathLike) -> Path:
    """``pretrained/robust.keras`` -> ``pretrained/robust.json``."""
    return Path(model_path).with_suffix(".json")


def write_json_atomically(path: str | os.PathLike, data: Any) -> Path:
    """Writes ``data`` as indented JSON through a temporary file and a rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.tmp", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=2, sort_keys=False)
            stream.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a model card; a missing or malformed file raises ``ValueError`` naming it."""
    path = Path(path)
    try:
        with open(path) as stream:
            card = json.load(stream)
    except FileNotFoundError:
        raise ValueError(f"model card {path} does not exist: train the model with `python -m advdemo.train`") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"model card {path} is not valid JSON ({error}): rerun `python -m advdemo.train`") from None
    if not isinstance(card, dict):
        raise ValueError(f"model card {path} must hold a JSON object")
    return card


def command_line() -> str:
    """The command that is running, as a user would type it (``python -m advdemo.train ...``)."""
    program = Path(sys.argv[0])
    module = f"advdemo.{program.stem}" if program.parent.name == "advdemo" else None
    head = ["python", "-m", module] if module else ["python", str(program)]
    return shlex.join(head + sys.argv[1:])


def machine_description() -> dict[str, Any]:
    """Where a figure was measured: CPU count, platform and library versions."""
    import keras
    import numpy
    import tensorflow

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
