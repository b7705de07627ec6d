"""Model cards: the JSON beside each bundled model, and atomic file writes."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

from advdemo.models.files import write_atomically


def card_path(model_path: str | os.PathLike) -> Path:
    """``pretrained/robust.keras`` -> ``pretrained/robust.json``."""
    return Path(model_path).with_suffix(".json")


def write_json_atomically(path: str | os.PathLike, data: Any) -> Path:
    """Writes ``data`` as indented JSON, atomically (``files.write_atomically``): never a half-written file."""

    def write(temporary: Path) -> None:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")

    return write_atomically(path, write)


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


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``: ``avx2``, ``avx512_bf16``, ``amx_bf16``...); empty if unknown."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def machine_description() -> dict[str, Any]:
    """Where a figure was measured: CPU count, platform and library versions."""
    import keras
    import numpy
    import tensorflow

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_name(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
