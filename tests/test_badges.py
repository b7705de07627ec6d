"""The verdict badges (HELD, FOOLED, already wrong; with a target: reached or missed), the label a badge is
judged against, and the default target: ``results.verdict`` and ``controls`` directly, then on the page."""

from __future__ import annotations

import re

import numpy as np
import pytest
from apptest_support import (
    needs_models,
    rerun,
    start,
    texts,
    verdicts,
)

from advdemo.configs import Norm
from advdemo.demo.analysis import Outcome
from advdemo.ui import keys
from advdemo.ui.controls import default_target, target_choices
from advdemo.ui.results import verdict


def outcome(clean: int, adversarial: int, p: float = 0.83) -> Outcome:
    def probabilities(top: int, value: float) -> np.ndarray:
        probs = np.full(10, (1.0 - value) / 9, np.float32)
        probs[top] = value
        return probs

    image = np.zeros((28, 28), np.float32)
    return Outcome("robust", probabilities(clean, 0.9), image, probabilities(adversarial, p),
                   {norm: 0.0 for norm in Norm}, "robust")


@pytest.mark.parametrize("clean, adversarial, target, expected", [
    (4, 5, 5, ("fooled", "🎯 REACHED 5 → says 5 (83%)")),
    (4, 4, 5, ("held", "✓ MISSED 5 → still 4 (83%)")),
    (4, 8, 5, ("missed", "MISSED 5 → says 8 (83%), wrong but not the target")),
    (4, 9, None, ("fooled", "✗ FOOLED → says 9 (83%)")),
])
def test_targeted_badges_say_reached_or_missed(clean, adversarial, target, expected):
    assert verdict(outcome(clean, adversarial), 4, target) == expected


def test_a_guessed_label_is_said_to_be_a_guess():
    """A drawing nobody labelled: its label is base's guess, so a model that disagrees is not known to be wrong."""
    assert verdict(outcome(7, 7), 4, None, guessed_by="base") == ("wrong", "ALREADY WRONG? says 7, base guessed 4")
    assert verdict(outcome(7, 7), 4, None) == ("wrong", "ALREADY WRONG before the attack (says 7)")
    assert verdict(outcome(4, 9), 4, None, not_a_digit=True) == ("none", "NO VERDICT: not a digit · says 9 (83%)")


@pytest.mark.parametrize("label", range(10))
def test_the_target_is_never_the_label(label):
    assert label not in target_choices(label) and len(target_choices(label)) == 9
    assert default_target(label) in target_choices(label)
    assert target_choices(None) == list(range(10))


@needs_models
def test_targeted_badges_and_the_default_target():
    """On the default gallery digit: the target offered first is not its label, the label is not offered, and
    each badge says whether the attack reached the target."""
    at = start()
    at.toggle(key=keys.TARGETED).set_value(True)
    rerun(at)
    label = int(re.search(r"\*\*True label: (\d)\*\*", texts(at, "markdown"))[1])
    target = at.selectbox(key=keys.TARGET)
    assert target.value == (label + 1) % 10 and label not in target.options and str(label) not in target.options
    base, robust = verdicts(at)
    assert re.fullmatch(rf"(🎯 REACHED {target.value} → says {target.value}|MISSED {target.value} → says \d) .*",
                        base), base
    assert robust.startswith(f"✓ MISSED {target.value} → still {label}"), robust
    assert "FOOLED" not in " ".join(verdicts(at))
