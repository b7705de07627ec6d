"""The test command as a user without MNIST meets it: the slow tests skip with one line saying how to run them,
and an ADVDEMO_MNIST naming a file that does not exist is one clear error (run in a child pytest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child_pytest(*args: str, mnist: str | None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "ADVDEMO_MNIST"}
    if mnist is not None:
        env["ADVDEMO_MNIST"] = mnist
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_without_mnist_the_slow_tests_skip_with_one_line_saying_how_to_run_them():
    result = child_pytest("tests/test_pretrained.py", mnist=None)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "ADVDEMO_MNIST=/path/to/mnist.npz" in line]
    assert len(lines) == 1 and lines[0].split()[1:4] == ["slow", "tests", "skipped:"], result.stdout
    assert " passed" not in result.stdout and " failed" not in result.stdout


def test_a_named_mnist_file_that_does_not_exist_is_one_clear_error(tmp_path):
    missing = tmp_path / "mnist.npz"
    result = child_pytest("tests/test_pretrained.py", mnist=str(missing))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.count(f"ADVDEMO_MNIST names {missing}, which is not a file") == 1, output
    assert "Traceback" not in output
