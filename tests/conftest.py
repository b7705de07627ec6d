"""Shared fixtures: a tiny synthetic MNIST-like data set and tiny linear Keras classifiers.

Nothing here downloads anything or reads the real MNIST; every fixture is small enough for a few-second test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Must happen before TensorFlow is imported anywhere (advdemo imports it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TINY_TRAIN = 256
TINY_TEST = 64

#: How to run the slow tests (the bundled models checked against MNIST, the cross-check against ART and Foolbox).
NEEDS_MNIST = ("they need the full MNIST: run them with ADVDEMO_MNIST=/path/to/mnist.npz bash scripts/test.sh "
               "(Keras' mnist.npz)")


def pytest_configure(config):
    """A named MNIST file that does not exist is an error, said once (not one failure per slow test)."""
    named = os.environ.get("ADVDEMO_MNIST")
    if named and not Path(named).is_file():
        raise pytest.UsageError(f"ADVDEMO_MNIST names {named}, which is not a file: point it at Keras' mnist.npz, "
                                "or unset it to skip the slow tests")


def pytest_collection_modifyitems(config, items):
    """Without ADVDEMO_MNIST the slow tests are skipped, each with the same reason (summed up in one line)."""
    if os.environ.get("ADVDEMO_MNIST"):
        return
    skip = pytest.mark.skip(reason=f"slow: {NEEDS_MNIST}")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """One line under the results: how many slow tests were skipped for want of MNIST, and how to run them."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple) and NEEDS_MNIST in str(report.longrepr[-1])]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} slow tests skipped: {NEEDS_MNIST}")


def bar_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (n, 28, 28) images: dim noise plus a bright two-row horizontal bar at rows 3+2c, 4+2c for class c.

    The bar's length varies, so the classes are easy (even for a linear model) but not identical copies.
    """
    n = len(labels)
    images = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row = 3 + 2 * int(label)
        start, stop = rng.integers(2, 7), rng.integers(20, 27)
        images[i, row:row + 2, start:stop] = rng.integers(180, 256, size=(2, stop - start))
    return images


def make_tiny_mnist(path: Path, n_train: int = TINY_TRAIN, n_test: int = TINY_TEST, seed: int = 0) -> Path:
    """Writes a Keras-format mnist.npz (x_train, y_train, x_test, y_test; uint8) with bar images."""
    rng = np.random.default_rng(seed)
    y_train = rng.permutation(np.arange(n_train) % 10).astype(np.uint8)
    y_test = rng.permutation(np.arange(n_test) % 10).astype(np.uint8)
    np.savez(path, x_train=bar_images(y_train, rng), y_train=y_train,
             x_test=bar_images(y_test, rng), y_test=y_test)
    return path


@pytest.fixture(scope="session", autouse=True)
def isolated_user_models(tmp_path_factory):
    """Every test (and every server a test starts) sees an empty user model folder of its own, never the
    real ``~/.advdemo``: ``ADVDEMO_HOME`` points at a fresh folder for the whole session. Tests that need
    their own set it again with ``monkeypatch.setenv``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVDEMO_HOME", str(tmp_path_factory.mktemp("advdemo-home")))
        yield


@pytest.fixture(scope="session")
def write_tiny_mnist():
    """Factory: ``write_tiny_mnist(path, n_train=256, n_test=64, seed=0)`` writes the tiny data set to ``path``."""
    return make_tiny_mnist


@pytest.fixture
def tiny_mnist_path(tmp_path: Path) -> Path:
    """A fresh tiny synthetic mnist.npz in this test's tmp_path (256 train, 64 test images)."""
    return make_tiny_mnist(tmp_path / "tiny.npz")


@pytest.fixture(scope="session")
def shared_tiny_mnist_path(tmp_path_factory) -> Path:
    """The same kind of file, written once per session (for read-only use)."""
    return make_tiny_mnist(tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="session")
def tiny_splits(shared_tiny_mnist_path):
    """(train, test) ``advdemo.data.Split``s of the tiny data set: float32 (n, 28, 28, 1) in [0, 1]."""
    from advdemo.data import load_mnist

    return load_mnist(shared_tiny_mnist_path)


def build_linear(input_shape=(28, 28, 1), classes: int = 10, kernel: np.ndarray | None = None,
                 bias: np.ndarray | None = None, name: str = "linear"):
    """Flatten -> Dense(classes): logits = flatten(x) @ kernel + bias, with the given weights if any."""
    import keras

    inputs = keras.Input(shape=input_shape, dtype="float32")
    outputs = keras.layers.Dense(classes, name="dense")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name=name)
    if kernel is not None or bias is not None:
        features = int(np.prod(input_shape))
        kernel = np.zeros((features, classes), np.float32) if kernel is None else kernel
        bias = np.zeros(classes, np.float32) if bias is None else bias
        model.get_layer("dense").set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
    return model


@pytest.fixture(scope="session")
def make_linear_model():
    """Factory: ``make_linear_model(input_shape=(28, 28, 1), classes=10, kernel=None, bias=None)``."""
    return build_linear


@pytest.fixture
def no_keras_download(monkeypatch):
    """Makes ``keras.datasets.mnist.load_data`` fail loudly: a test must never download MNIST."""
    import keras

    def forbidden(*args, **kwargs):
        raise AssertionError("keras.datasets.mnist.load_data() was called: tests must never download MNIST")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", forbidden)
