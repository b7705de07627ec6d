"""PGD step by step: ``advdemo.attacks.gradient.pgd_trajectory`` retraces ``attack`` exactly, every step stays in
the eps-ball and the pixel range, the distances to the boundary are right by hand, and the app's "PGD step by step"
tab moves through the steps and shows the model's answer at each (``streamlit.testing.v1.AppTest``).
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from apptest_support import needs_models, rerun, start
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.attacks.gradient import attack, attack_tensor, pgd_trajectory
from advdemo.attacks.norms import measure
from advdemo.configs import AttackConfig, Norm
from advdemo.data import load_gallery
from advdemo.demo import analysis
from advdemo.demo.analysis import ATTACK_SEED, Method, Scenario, Source
from advdemo.models import load_model
from advdemo.ui import keys
from advdemo.ui.inputs import default_gallery_index
from advdemo.ui.stepthrough import format_distance

EPSILONS = {Norm.LINF: 0.2, Norm.L2: 2.0, Norm.L1: 10.0}


@pytest.fixture(scope="module")
def models():
    return {name: load_model(PRETRAINED_DIR / f"{name}.keras") for name in ("base", "robust")}


@pytest.fixture(scope="module")
def gallery():
    return load_gallery(PRETRAINED_DIR / "gallery.npz")


def sizes(deltas: np.ndarray, norm: Norm) -> np.ndarray:
    flat = deltas.reshape(len(deltas), -1).astype(np.float64)
    return {Norm.LINF: np.abs(flat).max(1), Norm.L2: np.linalg.norm(flat, axis=1), Norm.L1: np.abs(flat).sum(1)}[norm]


# --- the trajectory ----------------------------------------------------------------------------------------------

@needs_models
@pytest.mark.parametrize("norm", list(Norm))
def test_the_trajectory_retraces_a_direct_attack(models, gallery, norm):
    """White-box PGD from a random start on the base model and a gallery digit: the step the trajectory marks as
    kept is ``attack``'s result, bit for bit (the same seeded start, the same loop); it is the first of x_1..x_T
    with the highest score; every step stays in the eps-ball and in [0, 1]."""
    images, labels = gallery.images[:1], gallery.labels[:1]
    config = AttackConfig.pgd(EPSILONS[norm], norm, steps=20)
    trajectory = pgd_trajectory(models["base"], images, labels, config, seed=ATTACK_SEED)
    assert trajectory.iterates.shape == (21, 1, 28, 28, 1) and trajectory.scores.shape == (21, 1)
    direct = attack(models["base"], images, labels, config, seed=ATTACK_SEED)
    np.testing.assert_array_equal(trajectory.result, direct)
    assert trajectory.kept[0] == 1 + np.argmax(trajectory.scores[1:, 0])
    deltas = trajectory.iterates[:, 0] - images[0]
    assert np.all(sizes(deltas, norm) <= EPSILONS[norm] * (1 + 1e-5) + 1e-6)
    assert trajectory.iterates.min() >= 0.0 and trajectory.iterates.max() <= 1.0
    moved = [np.any(trajectory.iterates[t] != trajectory.iterates[t - 1]) for t in range(1, 21)]
    assert sum(moved) > 10  # the steps really move
    assert np.any(deltas[0] != 0)  # x_0 is the random start, not the clean image


@needs_models
def test_the_attack_keeps_its_strongest_step_which_need_not_be_the_last(models, gallery):
    """On this digit, L1 PGD-20's strongest step is step 19, not the last: the step-through marks that step as the
    attack's result, and it is ``attack``'s output exactly."""
    images, labels = gallery.images[:1], gallery.labels[:1]
    config = AttackConfig.pgd(EPSILONS[Norm.L1], Norm.L1, steps=20)
    trajectory = pgd_trajectory(models["base"], images, labels, config, seed=ATTACK_SEED)
    assert trajectory.kept[0] == 19
    assert not np.array_equal(trajectory.iterates[-1], trajectory.result)
    np.testing.assert_array_equal(trajectory.result, attack(models["base"], images, labels, config, seed=ATTACK_SEED))


@needs_models
@pytest.mark.parametrize("norm", list(Norm))
def test_fgsm_is_one_step_and_the_last_iterate_is_nsls(models, gallery, norm):
    """FGSM is x_0 = the clean image and x_1 = ``attack``'s FGSM; without a random start the last iterate of PGD is
    ``attack_tensor``'s (NSL's semantics: the last iterate)."""
    images, labels = gallery.images[:1], gallery.labels[:1]
    fgsm = AttackConfig.fgsm(EPSILONS[norm], norm)
    trajectory = pgd_trajectory(models["base"], images, labels, fgsm)
    assert trajectory.iterates.shape[0] == 2
    np.testing.assert_array_equal(trajectory.iterates[0], images)
    np.testing.assert_array_equal(trajectory.iterates[1], attack(models["base"], images, labels, fgsm))
    pgd = AttackConfig.pgd(EPSILONS[norm], norm, steps=5, random_init=False)
    last = attack_tensor(models["base"], tf.constant(images), tf.constant(labels), pgd).numpy()
    np.testing.assert_allclose(pgd_trajectory(models["base"], images, labels, pgd).iterates[-1], last, atol=1e-6)


@needs_models
def test_a_seeded_start_ignores_the_global_random_state(models, gallery):
    images, labels = gallery.images[:2], gallery.labels[:2]
    config = AttackConfig.pgd(0.2, Norm.LINF, steps=2)
    keras.utils.set_random_seed(1)
    first = attack(models["base"], images, labels, config, seed=5)
    keras.utils.set_random_seed(2)
    tf.random.uniform([3])
    again = attack(models["base"], images, labels, config, seed=5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, attack(models["base"], images, labels, config, seed=6))


def test_apgd_has_no_trajectory(make_linear_model):
    with pytest.raises(ValueError, match="APGD"):
        pgd_trajectory(make_linear_model(), np.zeros((1, 28, 28, 1), np.float32), np.array([0]),
                       AttackConfig.apgd(0.1))


def test_distance_to_boundary_by_hand():
    """Three perturbations: none; 0.1 on one pixel and -0.05 on another; 0.01 on every pixel."""
    deltas = np.zeros((3, 28, 28), np.float32)
    deltas[1, 0, 0], deltas[1, 5, 5] = 0.1, -0.05
    deltas[2] = 0.01
    np.testing.assert_allclose(analysis.distance_to_boundary(deltas, 0.2, Norm.LINF), [0.2, 0.1, 0.19], atol=1e-7)
    np.testing.assert_allclose(analysis.distance_to_boundary(deltas, 1.0, Norm.L2),
                               [1.0, 1.0 - np.sqrt(0.1**2 + 0.05**2), 1.0 - 0.28], atol=1e-6)
    np.testing.assert_allclose(analysis.distance_to_boundary(deltas, 10.0, Norm.L1), [10.0, 9.85, 10.0 - 7.84],
                               atol=1e-5)
    assert format_distance(-3e-9) == "0" and format_distance(0.15) == "0.15"


@needs_models
def test_the_step_through_ends_on_section_2s_image(models, gallery):
    """The app's step-through retraces the very attack section 2 shows (white-box, and transfer: crafted on base,
    answered by robust), with the shown model's probabilities and the distances of its own steps."""
    image, label = gallery.images[0, :, :, 0], int(gallery.labels[0])
    for scenario, shown in ((Scenario(method=Method.PGD, steps=10), "base"),
                            (Scenario(method=Method.PGD, steps=10, norm=Norm.L2, epsilon=2.0, source=Source.TRANSFER),
                             "robust")):
        outcome = analysis.analyse(models, ("base", "robust"), image, label, scenario)
        view = analysis.step_through(models, shown, image, label, scenario)
        section_2 = next(o for o in outcome if o.model == shown)
        np.testing.assert_array_equal(view.images[view.kept], section_2.adversarial)
        assert view.crafted_on == ("base" if scenario.source is Source.TRANSFER else shown)
        np.testing.assert_allclose(view.probs, analysis.probabilities(models[shown], view.images), atol=1e-6)
        expected = scenario.epsilon - measure(tf.constant(view.images[..., None] - image[..., None]),
                                              scenario.norm).numpy()
        np.testing.assert_allclose(view.distances, expected, atol=1e-5)


# --- the tab -----------------------------------------------------------------------------------------------------

def shown_step(at: AppTest) -> tuple[int, int]:
    """(step, of how many) from the step's heading."""
    match = next(re.match(r"#### Step (\d+) of (\d+)", m.value) for m in at.markdown if m.value.startswith("#### Step"))
    return int(match[1]), int(match[2])


def answer(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " says **" in m.value and "·" in m.value)


def distance_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("Distance to the ε-ball's boundary"))


@needs_models
def test_the_tab_steps_plays_and_shows_the_models_answer(models, gallery):
    steps = 6
    at = start(**{keys.MODELS: ["base"], keys.METHOD: Method.PGD, keys.STEPS: steps, keys.VIEW: keys.VIEW_STEPS})
    index = default_gallery_index(gallery)
    image, label = gallery.images[index, :, :, 0], int(gallery.labels[index])
    view = analysis.step_through(models, "base", image, label, Scenario(method=Method.PGD, steps=steps))

    def check(step: int) -> None:
        assert shown_step(at) == (step, steps)
        assert at.slider(key=keys.STEP_INDEX).value == step
        assert answer(at).startswith(f"base says **{view.prediction(step)}** ({view.confidence(step):.0%})")
        assert distance_line(at).endswith(f"**{format_distance(view.distances[step])}** (L-inf)")

    check(0)
    assert "the random start" in next(m.value for m in at.markdown if m.value.startswith("#### Step"))
    at.button(key="step_next").click()
    rerun(at)
    check(1)
    at.button(key="step_next").click()
    rerun(at)
    at.button(key="step_next").click()
    rerun(at)
    check(3)
    at.button(key="step_previous").click()
    rerun(at)
    check(2)
    at.slider(key=keys.STEP_INDEX).set_value(steps)
    rerun(at)
    check(steps)
    assert at.button(key="step_next").disabled and not at.button(key="step_previous").disabled
    at.button(key="step_play").click()  # at the end, play starts again from the start: one step per run
    rerun(at)
    check(1)
    assert at.session_state[keys.STEP_PLAYING] and at.button(key="step_pause")
    rerun(at)  # what the timer does
    check(2)
    at.button(key="step_pause").click()
    rerun(at)
    check(2)
    rerun(at)
    check(2)
    assert not at.session_state[keys.STEP_PLAYING]


@needs_models
def test_the_strongest_attack_offers_pgd_instead():
    at = start(**{keys.MODELS: ["base"], keys.METHOD: Method.STRONGEST, keys.VIEW: keys.VIEW_STEPS})
    assert any("ensemble" in info.value for info in at.info)
    assert not [m for m in at.markdown if m.value.startswith("#### Step")]
    at.button(key="step_use_pgd").click()
    rerun(at)
    assert at.radio(key=keys.METHOD).value is Method.PGD
    assert shown_step(at) == (0, 40)
