"""MNIST loading (an explicit file wins over Keras' download) and the bundled digit gallery."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from advdemo import PRETRAINED_DIR

#: Environment variable naming a Keras-format ``mnist.npz`` (x_train, y_train, x_test, y_test; uint8).
MNIST_ENV = "ADVDEMO_MNIST"
GALLERY_PATH = PRETRAINED_DIR / "gallery.npz"
_MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclasses.dataclass(frozen=True)
class Split:
    """Images float32 (n, 28, 28, 1) in [0, 1] and labels int64 (n,) in 0-9."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int | None) -> Split:
        """The first ``n`` examples (all of them for ``None``)."""
        return self if n is None else Split(self.images[:n], self.labels[:n])

    def tail(self, n: int) -> Split:
        """The last ``n`` examples (all of them when there are fewer)."""
        start = max(0, len(self) - n)
        return Split(self.images[start:], self.labels[start:])


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) or (n, 28, 28, 1) in 0-255 -> float32 (n, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"expected images shaped (n, 28, 28) or (n, 28, 28, 1), got {images.shape}")
    return images.astype(np.float32) / 255.0


def _validated_split(images: np.ndarray, labels: np.ndarray, source: str, name: str) -> Split:
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: {name} images must be uint8 0-255 (Keras mnist.npz format), got {images.dtype}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{source}: {name} has {len(images)} images but labels shaped {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{source}: {name} labels must be classes 0-9, got {labels.min()}..{labels.max()}")
    try:
        return Split(to_model_input(images), labels.astype(np.int64))
    except ValueError as error:
        raise ValueError(f"{source}: {name}: {error}") from None


def _open_npz(path: Path, what: str, hint: str) -> np.lib.npyio.NpzFile:
    """``np.load`` of an .npz archive; anything else (a text file, a lone .npy, pickles) is a ValueError."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{what} is not a readable .npz ({error}): {hint}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{what} is a single .npy array, not an .npz archive: {hint}")
    return archive


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    hint = ("name a Keras-format mnist.npz (arrays x_train, y_train, x_test, y_test, uint8) with "
            f"{MNIST_ENV} (then restart the app) or, on the command line, --data")
    if not path.is_file():
        raise FileNotFoundError(f"MNIST file {path} does not exist: {hint}")
    archive = _open_npz(path, f"MNIST file {path}", hint)
    with archive:
        missing = [key for key in _MNIST_KEYS if key not in archive.files]
        if missing:
            raise ValueError(f"MNIST file {path} lacks {', '.join(missing)}: {hint}")
        try:
            return {key: archive[key] for key in _MNIST_KEYS}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ValueError(f"MNIST file {path} has an unreadable array ({error}): {hint}") from None


def resolve_mnist_path(path: str | os.PathLike | None = None) -> Path | None:
    """The file to read: ``path`` if given, else ``$ADVDEMO_MNIST`` if set, else ``None`` (Keras downloads)."""
    if path:
        return Path(path)
    from_env = os.environ.get(MNIST_ENV)
    return Path(from_env) if from_env else None


def describe_source(path: str | os.PathLike | None) -> str:
    """How a model card names its data: the file's name and SHA-256 (a path would name one machine's folders),
    or ``keras.datasets.mnist`` for Keras' download."""
    if path is None:
        return "keras.datasets.mnist"
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{Path(path).name} (sha256 {digest})"


def load_mnist(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """MNIST as (train, test) splits of float32 (n, 28, 28, 1) images in [0, 1] and int labels.

    An explicit ``path`` wins, then the ``ADVDEMO_MNIST`` environment variable; with neither, Keras'
    ``mnist.load_data()`` downloads (and caches) the data set.

    Raises:
        FileNotFoundError: the named file does not exist.
        ValueError: the file is not a Keras-format mnist.npz.
    """
    resolved = resolve_mnist_path(path)
    if resolved is None:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        source = "keras.datasets.mnist"
    else:
        arrays = _read_npz(resolved)
        x_train, y_train, x_test, y_test = (arrays[key] for key in _MNIST_KEYS)
        source = f"MNIST file {resolved}"
    return (_validated_split(x_train, y_train, source, "training set"),
            _validated_split(x_test, y_test, source, "test set"))


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Bundled MNIST test digits: images float32 (n, 28, 28, 1) in [0, 1], labels (n,), their indices in the
    MNIST test set (n,), and ``hard`` (n,) bool: the base model misclassifies them under a small attack."""

    images: np.ndarray
    labels: np.ndarray
    test_indices: np.ndarray
    hard: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_gallery(path: str | os.PathLike = GALLERY_PATH) -> Gallery:
    """Reads the bundled gallery written by ``python -m advdemo.gallery``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"gallery {path} does not exist: rebuild it with `python -m advdemo.gallery` "
                                "or restore it from the repository")
    hint = "rebuild it with `python -m advdemo.gallery` or restore it from the repository"
    with _open_npz(path, f"gallery {path}", hint) as archive:
        try:
            return Gallery(to_model_input(archive["images"]), archive["labels"].astype(np.int64),
                           archive["test_indices"].astype(np.int64), archive["hard"].astype(bool))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ValueError(f"gallery {path} is unreadable ({error}): {hint}") from None
