"""The classroom quiz: two kinds of round, and a running score.

* **Spot the attack**: a gallery digit and its attacked version side by side, in a random order; which one is the
  adversarial image?
* **Predict the model**: an attacked digit; which digit will the model answer?

Pure logic only (no Streamlit, no model): which digit a round uses and in which order its images are shown, both
drawn from a seed and the round's number, so a round is the same on every rerun; whether an answer is right; the
score. The app (``advdemo.ui.quiz``) attacks the round's digit with the sidebar's settings and keeps the seed, the
round number, the answer and the score (numbers only) in session state.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable

import numpy as np

from advdemo.demo.i18n import N_

#: The two pictures of a "spot the attack" round, by their position on screen.
POSITIONS = ("A", "B")


class Kind(enum.StrEnum):
    """The kind of a round."""

    SPOT = "spot"
    PREDICT = "predict"

    @property
    def question(self) -> str:
        return {"spot": N_("Which of these is the adversarial image?"),
                "predict": N_("What will the model predict for this attacked digit?")}[self.value]


@dataclasses.dataclass(frozen=True)
class Round:
    """One question.

    Attributes:
        kind: spot the attack, or predict the model.
        number: the round's number (0, 1, ...).
        index: the gallery digit it uses.
        adversarial_position: where the attacked image is shown in a spot round: 0 (A, left) or 1 (B, right).
    """

    kind: Kind
    number: int
    index: int
    adversarial_position: int

    def shown(self, clean: np.ndarray, adversarial: np.ndarray) -> list[np.ndarray]:
        """The images in the order shown: the attacked one at ``adversarial_position``, the clean one at the other
        (a predict round shows the attacked image only)."""
        if self.kind is Kind.PREDICT:
            return [adversarial]
        return [adversarial, clean] if self.adversarial_position == 0 else [clean, adversarial]

    def is_right(self, answer: int, model_prediction: int | None = None) -> bool:
        """Whether ``answer`` is right: the attacked image's position (spot), or the digit the model predicts on
        the attacked image, ``model_prediction`` (predict)."""
        if self.kind is Kind.SPOT:
            return int(answer) == self.adversarial_position
        if model_prediction is None:
            raise ValueError("a predict round is judged against the model's prediction")
        return int(answer) == int(model_prediction)


def new_round(kind: Kind | str, seed: int, number: int, gallery_size: int) -> Round:
    """Round ``number`` of the quiz seeded ``seed``: a gallery digit (0 to ``gallery_size`` - 1) and the attacked
    image's position, drawn from (seed, number) only, so that a rerun shows the same round."""
    if gallery_size < 1:
        raise ValueError("the quiz needs at least one gallery digit")
    rng = np.random.default_rng([int(seed), int(number)])
    index = int(rng.integers(gallery_size))
    return Round(Kind(kind), int(number), index, int(rng.integers(len(POSITIONS))))


@dataclasses.dataclass(frozen=True)
class Score:
    """Right answers out of rounds answered."""

    right: int = 0
    asked: int = 0

    def after(self, correct: bool) -> Score:
        """The score after one more answer."""
        return Score(self.right + int(bool(correct)), self.asked + 1)

    def describe(self) -> str:
        if self.asked == 0:
            return N_("no answers yet")
        return f"{self.right} of {self.asked} right ({self.right / self.asked:.0%})"

    def describe_in(self, gettext: Callable[[str], str]) -> str:
        """``describe`` in ``gettext``'s language."""
        if not self.asked:
            return gettext("no answers yet")
        return gettext("{right} of {asked} right ({share})").format(right=self.right, asked=self.asked,
                                                                   share=f"{self.right / self.asked:.0%}")
