"""advdemo.models (the CNN, safe saving and loading) and advdemo.data (MNIST files, the gallery)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from advdemo.data import Split, load_gallery, load_mnist, resolve_mnist_path, to_model_input
from advdemo.models import (
    PARAMETER_COUNT,
    ModelFileError,
    build_cnn,
    load_model,
    predict_logits,
    save_model,
    with_compute_precision,
)

# --- the CNN ---------------------------------------------------------------------------------------------------------


def test_build_cnn_has_the_tutorials_shape_and_parameter_count():
    model = build_cnn()
    # 28 -conv3-> 26 -pool-> 13 -conv3-> 11 -pool-> 5 -conv3-> 3: the flattened features are 3 * 3 * 64 = 576.
    by_hand = ((3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (3 * 3 * 64 * 64 + 64)
               + (576 * 64 + 64) + (64 * 10 + 10))
    assert by_hand == 93_322 == PARAMETER_COUNT
    assert model.count_params() == by_hand
    assert model.inputs[0].name == "image"
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    assert model.layers[-1].get_config()["activation"] == "linear"  # logits, not probabilities


@pytest.fixture(scope="module")
def cnn_and_inputs():
    keras.utils.set_random_seed(3)
    model = build_cnn()
    images = np.random.default_rng(0).uniform(0, 1, size=(8, 28, 28, 1)).astype(np.float32)
    return model, images


def test_save_load_round_trip_gives_identical_predictions(cnn_and_inputs, tmp_path):
    model, images = cnn_and_inputs
    path = save_model(model, tmp_path / "sub" / "cnn.keras")
    assert path == tmp_path / "sub" / "cnn.keras" and path.is_file()
    assert os.listdir(path.parent) == ["cnn.keras"]  # no temporary file left behind
    assert path.stat().st_mode & 0o777 == 0o644
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    # the file is a plain Keras archive: keras.saving.load_model reads it too
    plain = keras.saving.load_model(path, compile=False)
    np.testing.assert_array_equal(plain.predict(images, verbose=0), model.predict(images, verbose=0))


def test_predictions_are_compiled_once_per_model_for_every_batch_size(cnn_and_inputs):
    """One trace per model, whatever the batch sizes (the app's first page asks for 2, then 1: two traces per
    model before), and the logits those of the model itself."""
    from advdemo.models import network as models

    _, images = cnn_and_inputs
    model = build_cnn()  # a model no other test has compiled
    before = models._logits.experimental_get_tracing_count()
    logits = [predict_logits(model, images[:n]) for n in (2, 1, 7, 2)]
    assert models._logits.experimental_get_tracing_count() - before == 1
    for batch in logits:
        np.testing.assert_allclose(batch, model(images[:len(batch)], training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_mixed_precision_copy_shares_the_weights_and_keeps_float32_logits(cnn_and_inputs):
    model, images = cnn_and_inputs
    mixed = with_compute_precision(model, "mixed_bfloat16")
    assert mixed is not model
    policies = {layer.name: layer.dtype_policy.name for layer in mixed.layers[1:]}
    assert policies.pop("logits") == "float32" and set(policies.values()) == {"mixed_bfloat16"}
    for ours, theirs in zip(mixed.get_weights(), model.get_weights()):
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)
    logits, reference = mixed(images), model(images).numpy()
    assert logits.dtype == "float32"
    # bfloat16 keeps 8 significant bits: the logits differ a little, never a lot
    assert 0 < np.abs(logits.numpy() - reference).max() < 0.05 * np.abs(reference).max() + 0.05
    back = with_compute_precision(mixed, "float32")
    assert {layer.dtype_policy.name for layer in back.layers} == {"float32"}
    np.testing.assert_array_equal(back(images).numpy(), reference)


def test_compute_precision_rejects_unknown_names(cnn_and_inputs):
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        with_compute_precision(cnn_and_inputs[0], "float16")


def test_save_model_wants_a_keras_suffix(cnn_and_inputs, tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        save_model(cnn_and_inputs[0], tmp_path / "cnn.h5")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_leaves_the_old_file_intact(cnn_and_inputs, tmp_path, monkeypatch, make_linear_model):
    model, _ = cnn_and_inputs
    path = save_model(model, tmp_path / "cnn.keras")
    before = path.read_bytes()
    other = make_linear_model()

    def crash(filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK half a file")  # the crash happens mid-write
        raise OSError("disk full")

    monkeypatch.setattr(type(other), "save", lambda self, filepath, *a, **k: crash(filepath))
    with pytest.raises(OSError, match="disk full"):
        save_model(other, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["cnn.keras"]


def assert_model_file_error(path: Path, match: str | None = None) -> ModelFileError:
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    assert isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)
    if match:
        assert match in str(caught.value)
    return caught.value


def test_load_model_missing_file(tmp_path):
    assert_model_file_error(tmp_path / "absent.keras", "does not exist")


def test_load_model_not_a_zip(tmp_path):
    path = tmp_path / "text.keras"
    path.write_text("this is not a model\n")
    assert_model_file_error(path)


def test_load_model_truncated_archive(cnn_and_inputs, tmp_path):
    good = save_model(cnn_and_inputs[0], tmp_path / "good.keras").read_bytes()
    for fraction in (0.5, 0.95):
        path = tmp_path / f"cut{int(fraction * 100)}.keras"
        path.write_bytes(good[:int(len(good) * fraction)])
        assert_model_file_error(path)


def test_load_model_zip_that_is_no_model(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert_model_file_error(path)


def test_load_model_wrong_shapes(tmp_path, make_linear_model):
    path = save_model(make_linear_model(input_shape=(10,)), tmp_path / "small.keras")
    assert_model_file_error(path, "expected")


# --- MNIST files -----------------------------------------------------------------------------------------------------

def write_mnist(path: Path, n_train: int = 12, n_test: int = 5, seed: int = 0, **overrides) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
              "y_train": (np.arange(n_train) % 10).astype(np.uint8),
              "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
              "y_test": (np.arange(n_test) % 10).astype(np.uint8)}
    arrays.update(overrides)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def test_load_mnist_converts_to_float_images(tmp_path, no_keras_download):
    path = write_mnist(tmp_path / "m.npz")
    train, test = load_mnist(path)
    with np.load(path) as raw:
        for split, x, y in ((train, raw["x_train"], raw["y_train"]), (test, raw["x_test"], raw["y_test"])):
            assert split.images.dtype == np.float32 and split.images.shape == (len(x), 28, 28, 1)
            assert split.images.min() >= 0.0 and split.images.max() <= 1.0
            np.testing.assert_allclose(split.images[..., 0] * 255.0, x, atol=1e-4)
            np.testing.assert_array_equal(split.labels, y)
            assert split.labels.dtype == np.int64 and len(split) == len(y)


def test_tiny_fixture_is_a_valid_mnist_file(tiny_mnist_path, no_keras_download):
    train, test = load_mnist(str(tiny_mnist_path))  # a str path works too
    assert (len(train), len(test)) == (256, 64)
    assert set(np.unique(train.labels)) == set(range(10))


def test_explicit_path_wins_over_the_environment(tmp_path, monkeypatch, no_keras_download):
    explicit = write_mnist(tmp_path / "explicit.npz", n_train=12)
    from_env = write_mnist(tmp_path / "env.npz", n_train=7)
    monkeypatch.setenv("ADVDEMO_MNIST", str(from_env))
    assert len(load_mnist(explicit)[0]) == 12
    assert len(load_mnist()[0]) == 7  # no path: the environment variable
    assert resolve_mnist_path(explicit) == explicit and resolve_mnist_path() == from_env
    monkeypatch.setenv("ADVDEMO_MNIST", str(tmp_path / "missing.npz"))
    assert len(load_mnist(explicit)[0]) == 12  # an env var naming a missing file does not matter


def test_environment_variable_naming_a_missing_file(tmp_path, monkeypatch, no_keras_download):
    missing = tmp_path / "nowhere.npz"
    monkeypatch.setenv("ADVDEMO_MNIST", str(missing))
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_mnist()


def test_keras_download_is_the_last_resort(monkeypatch):
    monkeypatch.delenv("ADVDEMO_MNIST", raising=False)
    calls = []
    rng = np.random.default_rng(0)
    fake = ((rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8), np.array([1, 2, 3, 4], np.uint8)),
            (rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8), np.array([5, 6], np.uint8)))

    def fake_load_data(*args, **kwargs):
        calls.append(args)
        return fake

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    assert resolve_mnist_path(None) is None and resolve_mnist_path("") is None
    train, test = load_mnist()
    assert len(calls) == 1
    np.testing.assert_array_equal(test.labels, [5, 6])
    np.testing.assert_allclose(train.images[..., 0] * 255, fake[0][0], atol=1e-4)


def test_missing_file_is_named(tmp_path, no_keras_download):
    missing = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError) as caught:
        load_mnist(missing)
    assert str(missing) in str(caught.value)


def _text(path: Path) -> Path:
    path.write_text("not an npz\n")
    return path


def _npy(path: Path) -> Path:
    np.save(path, np.zeros((3, 28, 28), np.uint8))  # a valid .npy (path ends in .npy), but not an .npz
    return path


def _cut(path: Path) -> Path:
    good = write_mnist(path.with_name("whole.npz"), n_train=50).read_bytes()
    path.write_bytes(good[:len(good) // 2])
    return path


MALFORMED = {
    "missing-keys": lambda p: write_mnist(p, y_test=None),
    "float-images": lambda p: write_mnist(p, x_train=np.zeros((12, 28, 28), np.float32)),
    "label-10": lambda p: write_mnist(p, y_train=np.full(12, 10, np.uint8)),
    "negative-label": lambda p: write_mnist(p, y_test=np.array([0, 1, -1, 2, 3], np.int64)),
    "label-count": lambda p: write_mnist(p, y_train=np.zeros(11, np.uint8)),
    "2d-labels": lambda p: write_mnist(p, y_train=np.zeros((12, 1), np.uint8)),
    "image-shape": lambda p: write_mnist(p, x_test=np.zeros((5, 28, 27), np.uint8)),
    "empty-file": lambda p: (p.write_bytes(b""), p)[1],
    "truncated-zip": _cut,
    "not-a-zip": _text,
    "npy-not-npz": _npy,
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_file_raises_value_error_naming_it(tmp_path, kind, no_keras_download):
    path = MALFORMED[kind](tmp_path / ("bad.npy" if kind == "npy-not-npz" else "bad.npz"))
    with pytest.raises(ValueError) as caught:
        load_mnist(path)
    assert str(path) in str(caught.value)


def test_split_head_and_to_model_input():
    split = Split(np.zeros((5, 28, 28, 1), np.float32), np.arange(5))
    assert len(split.head(3)) == 3 and split.head(None) is split
    assert to_model_input(np.full((2, 28, 28, 1), 255, np.uint8)).max() == 1.0
    with pytest.raises(ValueError, match="28, 28"):
        to_model_input(np.zeros((2, 32, 32), np.uint8))


# --- the gallery -----------------------------------------------------------------------------------------------------

def write_gallery(path: Path, **overrides) -> Path:
    arrays = {"images": np.arange(3 * 28 * 28).reshape(3, 28, 28).astype(np.uint8),
              "labels": np.array([7, 2, 1], np.uint8), "test_indices": np.array([0, 1, 2], np.int32),
              "hard": np.array([False, True, False])}
    arrays.update(overrides)
    np.savez_compressed(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def test_load_gallery_reads_what_the_builder_writes(tmp_path):
    gallery = load_gallery(write_gallery(tmp_path / "g.npz"))
    assert len(gallery) == 3
    assert gallery.images.shape == (3, 28, 28, 1) and gallery.images.dtype == np.float32
    np.testing.assert_allclose(gallery.images[1, 0, 0, 0], (28 * 28 % 256) / 255.0)
    np.testing.assert_array_equal(gallery.labels, [7, 2, 1])
    np.testing.assert_array_equal(gallery.hard, [False, True, False])
    assert gallery.hard.dtype == bool and gallery.test_indices.dtype == np.int64


def test_load_gallery_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "none.npz")):
        load_gallery(tmp_path / "none.npz")


def test_load_gallery_missing_key(tmp_path):
    path = write_gallery(tmp_path / "g.npz", hard=None)
    with pytest.raises(ValueError) as caught:
        load_gallery(path)
    assert str(path) in str(caught.value)


def test_load_gallery_truncated(tmp_path):
    good = write_gallery(tmp_path / "g.npz").read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(good[:len(good) // 2])
    with pytest.raises(ValueError) as caught:
        load_gallery(path)
    assert str(path) in str(caught.value)


def test_load_gallery_not_a_zip(tmp_path):
    path = _text(tmp_path / "g.npz")
    with pytest.raises(ValueError) as caught:
        load_gallery(path)
    assert str(path) in str(caught.value)
