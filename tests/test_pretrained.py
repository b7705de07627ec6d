"""The bundled models, their cards and the gallery, checked against the real MNIST test set (slow).

Needs ``ADVDEMO_MNIST`` (a Keras-format mnist.npz) and the files in ``advdemo.PRETRAINED_DIR`` (``pretrained/``,
or ``$ADVDEMO_PRETRAINED``); each test is skipped, saying why, when what it needs is missing.

Tolerance of the comparisons with the cards: the 1,000 images are a fixed random sample of the test set (the
first 1,000 are not: they are harder than average, e.g. base under FGSM 0.2 scores 51% there and 55.6% on
all 10,000). A figure p measured on such a sample has a binomial standard error sqrt(p (1 - p) / 1000) around
the full-test-set figure (1.6 points at most); we allow four of them plus one point, and the card's own
sampling error in the same way when it was measured on fewer than 10,000 images. A genuine mismatch, such
as a wrong model or a broken attack, is tens of points.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import advdemo
from advdemo.attacks import run
from advdemo.attacks.gradient import attack
from advdemo.certificates import ibp
from advdemo.configs import AttackConfig, StrongestConfig
from advdemo.data import load_gallery, load_mnist
from advdemo.evaluation import AttackSpec, find_entry
from advdemo.models.cards import card_path, read_card

pytestmark = pytest.mark.slow

NAMES = ("base", "tutorial", "robust", "masked")
SUBSET = 1000
MNIST_TEST_SIZE = 10_000
STANDARD_ERRORS = 4
SLACK = 0.01


def tolerance(card_entry: dict) -> float:
    """Allowed gap between a card's figure and its re-measurement on the sample (a fraction)."""
    p, n = float(card_entry["accuracy"]), int(card_entry["n"])
    variance = p * (1 - p) / SUBSET + (p * (1 - p) / n if n < MNIST_TEST_SIZE else 0.0)
    return STANDARD_ERRORS * math.sqrt(variance) + SLACK


def pretrained(name: str) -> Path:
    return Path(advdemo.PRETRAINED_DIR) / name


NEEDS_MNIST = "set ADVDEMO_MNIST to a Keras-format mnist.npz to check the bundled models against MNIST"


@pytest.fixture(autouse=True)
def _needs_mnist():
    if not os.environ.get("ADVDEMO_MNIST"):
        pytest.skip(NEEDS_MNIST)


@pytest.fixture(scope="module")
def mnist_test():
    if not os.environ.get("ADVDEMO_MNIST"):
        pytest.skip(NEEDS_MNIST)
    _, test = load_mnist()
    assert len(test) == MNIST_TEST_SIZE
    return test


@pytest.fixture(scope="module")
def subset(mnist_test):
    chosen = np.random.default_rng(0).choice(len(mnist_test), size=SUBSET, replace=False)
    return type(mnist_test)(mnist_test.images[chosen], mnist_test.labels[chosen])


def bundled(name: str) -> tuple[keras.Model, dict]:
    path = pretrained(f"{name}.keras")
    if not path.is_file():
        pytest.skip(f"{path} does not exist yet (train it with `python -m advdemo.train --recipe {name}`)")
    model = keras.saving.load_model(path)  # the contract: plain Keras, safe mode
    return model, read_card(card_path(path))


def card_figure(card: dict, spec: AttackSpec) -> dict:
    entry = find_entry(card.get("metrics", []), spec)
    assert entry is not None, f"the {card.get('name')} card has no {spec.describe()} figure: run advdemo.evaluate"
    return entry


def accuracy(model, images, labels) -> float:
    return float(np.mean(np.argmax(model.predict(images, batch_size=500, verbose=0), axis=1) == labels))


def fgsm_linf(model, images, labels, eps: float) -> np.ndarray:
    """FGSM written out here (not advdemo's): x + eps * sign(grad_x CE), clipped to [0, 1]."""
    outputs = []
    for start in range(0, len(images), 500):
        x = tf.constant(images[start:start + 500])
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels[start:start + 500], model(x))
        outputs.append(np.clip(x.numpy() + eps * np.sign(tape.gradient(loss, x).numpy()), 0.0, 1.0))
    return np.concatenate(outputs)


@pytest.mark.parametrize("name", NAMES)
def test_bundled_model_loads_with_plain_keras(name, request):
    model, card = bundled(name)
    mnist_test = request.getfixturevalue("mnist_test")
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)
    logits = model.predict(mnist_test.images[:8], verbose=0)
    assert logits.shape == (8, 10) and np.all(np.isfinite(logits))
    assert card["name"] == name


@pytest.mark.parametrize("name", NAMES)
def test_card_clean_and_fgsm_figures_reproduce(name, request):
    model, card = bundled(name)
    subset = request.getfixturevalue("subset")
    clean = card_figure(card, AttackSpec.clean())
    assert accuracy(model, subset.images, subset.labels) == pytest.approx(clean["accuracy"], abs=tolerance(clean))
    white_box = card_figure(card, AttackSpec.fgsm(0.2))
    adversarial = fgsm_linf(model, subset.images, subset.labels, 0.2)
    assert np.abs(adversarial - subset.images).max() <= 0.2 + 1e-6
    assert accuracy(model, adversarial, subset.labels) == pytest.approx(white_box["accuracy"],
                                                                        abs=tolerance(white_box))


def test_tutorial_transfer_figure_reproduces(request):
    model, card = bundled("tutorial")
    base, _ = bundled("base")
    subset = request.getfixturevalue("subset")
    transfer = card_figure(card, AttackSpec.fgsm(0.2, source="base"))
    adversarial = fgsm_linf(base, subset.images, subset.labels, 0.2)  # built on the base model, fed to the tutorial's
    assert accuracy(model, adversarial, subset.labels) == pytest.approx(transfer["accuracy"], abs=tolerance(transfer))


def test_masked_model_is_what_its_name_says(request):
    """The teaching model: one white-box FGSM step at L-inf 0.2 leaves it about as accurate as clean (it even
    does better than at 0.1), while ten PGD steps break it; and its card's own checks flag it."""
    model, card = bundled("masked")
    subset = request.getfixturevalue("subset")
    clean = accuracy(model, subset.images, subset.labels)
    fgsm = accuracy(model, fgsm_linf(model, subset.images, subset.labels, 0.2), subset.labels)
    keras.utils.set_random_seed(0)
    pgd = accuracy(model, attack(model, subset.images, subset.labels, AttackConfig.pgd(0.2, steps=10)), subset.labels)
    assert fgsm >= clean - 0.03 and pgd <= 0.10, (clean, fgsm, pgd)
    failed = [check["check"] for check in card["sanity_checks"] if not check["passed"]]
    assert "transfer attack never beats white-box" in failed


@pytest.mark.parametrize("name", NAMES)
def test_one_restart_pgd_is_not_above_the_cards_three_restarts(name, request):
    """One restart is a weaker attack than three, so its accuracy can only be higher by sampling noise."""
    model, card = bundled(name)
    subset = request.getfixturevalue("subset")
    three = card_figure(card, AttackSpec.pgd(0.2, steps=40, restarts=3))
    keras.utils.set_random_seed(0)
    adversarial = attack(model, subset.images, subset.labels, AttackConfig.pgd(0.2, steps=40, restarts=1))
    assert np.abs(adversarial - subset.images).max() <= 0.2 + 1e-6
    assert accuracy(model, adversarial, subset.labels) <= three["accuracy"] + tolerance(three)


def test_gallery_is_small_and_matches_mnist(request):
    path = pretrained("gallery.npz")
    if not path.is_file():
        pytest.skip(f"{path} does not exist yet (build it with `python -m advdemo.gallery`)")
    mnist_test = request.getfixturevalue("mnist_test")
    gallery = load_gallery(path)
    assert 0 < len(gallery) <= 500
    assert set(gallery.labels.tolist()) == set(range(10))
    indices = gallery.test_indices
    assert len(np.unique(indices)) == len(indices)
    assert indices.min() >= 0 and indices.max() < len(mnist_test)
    np.testing.assert_array_equal(gallery.labels, mnist_test.labels[indices])
    np.testing.assert_array_equal(gallery.images, mnist_test.images[indices])
    assert pretrained("GALLERY_ATTRIBUTION.txt").is_file()


@pytest.mark.parametrize("name", [*NAMES, "certified"])
def test_no_attack_fools_a_digit_within_its_certified_radius(name, mnist_test):
    """The proof and the attacks agree: on test digits that interval bound propagation certifies, a strong attack
    (APGD-CE and APGD-T 50 steps, Square 300) at the certified radius never changes the answer, and the card's
    certified figures reproduce."""
    model, card = bundled(name)
    images, labels = mnist_test.images[:200], mnist_test.labels[:200]
    radius = ibp.certified_radius(model, images, labels, high=0.5)
    proven = np.flatnonzero(radius > 0)[:12]
    assert proven.size, f"IBP certifies none of the first 200 test digits for {name} at any radius"
    for index in proven:
        budget = StrongestConfig(epsilon=float(radius[index]), apgd_steps=50, target_classes=1, square_queries=300)
        adversarial = run(budget, model, images[index:index + 1], labels[index:index + 1])
        assert np.argmax(model(adversarial).numpy()) == labels[index], (name, index, radius[index])
    for figure in card.get("certified", []):
        measured = ibp.verified_accuracy(model, mnist_test.images, mnist_test.labels, figure["eps"])
        assert measured == pytest.approx(figure["accuracy"], abs=1e-4), figure
