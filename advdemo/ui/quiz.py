"""Section 3's "Quiz" tab: rounds of "which of these is the adversarial image?" and "what will the model predict?"
on gallery digits attacked with the sidebar's settings, with a running score.

The rounds and the scoring are ``advdemo.demo.quiz``'s; session state keeps numbers only (the quiz's seed, the round
number, the score and the answer to the current round). A round's attacked image comes from the same cached
computation as section 2 (``resources.outcomes``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np
import streamlit as st

from advdemo.demo import charts, quiz
from advdemo.demo.analysis import Outcome, Scenario
from advdemo.ui import keys, resources

KIND_LABELS = {quiz.Kind.SPOT: "Spot the attack", quiz.Kind.PREDICT: "Predict the model"}


def score() -> quiz.Score:
    """The running score (kept in session state as (right, asked))."""
    return quiz.Score(*st.session_state.get(keys.QUIZ_SCORE, (0, 0)))


def answer_to(round_: quiz.Round) -> int | None:
    """The answer given to ``round_``, or None."""
    kept = st.session_state.get(keys.QUIZ_ANSWER)
    if kept is not None and tuple(kept[:2]) == (round_.kind.value, round_.number):
        return int(kept[2])
    return None


def _answer(kind: str, number: int, answer: int, correct: bool) -> None:
    """Record the answer to round ``number`` of ``kind`` and score it (once: a second click changes nothing)."""
    kept = st.session_state.get(keys.QUIZ_ANSWER)
    if kept is not None and tuple(kept[:2]) == (kind, number):
        return
    st.session_state[keys.QUIZ_ANSWER] = (kind, number, int(answer))
    after = score().after(correct)
    st.session_state[keys.QUIZ_SCORE] = (after.right, after.asked)


def _next_round() -> None:
    st.session_state[keys.QUIZ_ROUND] = int(st.session_state.get(keys.QUIZ_ROUND, 0)) + 1


def _restart() -> None:
    st.session_state[keys.QUIZ_SCORE] = (0, 0)
    st.session_state[keys.QUIZ_ANSWER] = None
    st.session_state[keys.QUIZ_SEED] = secrets.randbelow(2**31)
    st.session_state[keys.QUIZ_ROUND] = 0


def _spot(round_: quiz.Round, outcome: Outcome, clean: np.ndarray, answer: int | None) -> None:
    """Two images, one attacked: a button under each."""
    rights = [round_.is_right(position) for position in range(len(quiz.POSITIONS))]
    *columns, words = st.columns(len(quiz.POSITIONS) + 1)
    for position, (column, picture) in enumerate(zip(columns, round_.shown(clean, outcome.adversarial))):
        name = quiz.POSITIONS[position]
        column.image(charts.upscale(picture), caption=name, width="stretch")
        column.button(f"{name} is the adversarial one", key=f"quiz_pick_{position}", on_click=_answer,
                      args=(round_.kind.value, round_.number, position, rights[position]), disabled=answer is not None,
                      width="stretch")
    if answer is None:
        return
    attacked = quiz.POSITIONS[round_.adversarial_position]
    said = "✓ Right" if rights[answer] else "✗ Not this time"
    words.markdown(f"**{said}: {attacked} is the adversarial image.** {outcome.model} says "
                   f"**{outcome.prediction}** ({outcome.adversarial_probs[outcome.prediction]:.0%}) on it and "
                   f"{outcome.clean_prediction} on the clean digit.")


def _predict(round_: quiz.Round, outcome: Outcome, clean: np.ndarray, truth: int, answer: int | None) -> None:
    """The attacked image and one button per digit."""
    rights = [round_.is_right(digit, outcome.prediction) for digit in range(10)]
    picture, buttons = st.columns([1, 2])  # the picture as wide as a spot round's
    picture.image(charts.upscale(round_.shown(clean, outcome.adversarial)[0]), width="stretch",
                  caption=f"attacked; the true digit is {truth}")
    with buttons:
        st.markdown(f"**Which digit will {outcome.model} answer?**")
        for row in (range(5), range(5, 10)):
            for digit, column in zip(row, st.columns(5)):
                column.button(str(digit), key=f"quiz_guess_{digit}", on_click=_answer,
                              args=(round_.kind.value, round_.number, digit, rights[digit]),
                              disabled=answer is not None, width="stretch")
    if answer is None:
        return
    said = "✓ Right" if rights[answer] else f"✗ You said {answer}"
    probability = outcome.adversarial_probs[outcome.prediction]
    fooled = "fooled" if outcome.prediction != truth else "not fooled"
    st.markdown(f"**{said}: {outcome.model} says {outcome.prediction}** ({probability:.0%}) on the attacked digit, "
                f"{fooled} (true digit {truth}; {outcome.clean_prediction} before the attack).")


def quiz_view(model_keys: resources.ModelKeys, names: Sequence[str], scenario: Scenario) -> None:
    """The tab: the model and kind of round, the score, the round, and Next round."""
    digits, error = resources.gallery()
    if digits is None:
        st.info(f"The quiz needs the digit gallery: {error}")
        return
    keys.default(keys.QUIZ_SEED, secrets.randbelow(2**31))
    keys.default(keys.QUIZ_ROUND, 0)
    if st.session_state.get(keys.QUIZ_MODEL) not in names:
        st.session_state[keys.QUIZ_MODEL] = names[0]
    keys.default(keys.QUIZ_KIND, quiz.Kind.SPOT)
    left, right = st.columns(2)
    name = left.selectbox("Model", list(names), key=keys.QUIZ_MODEL)
    kind = quiz.Kind(right.radio("Round", list(quiz.Kind), key=keys.QUIZ_KIND, format_func=KIND_LABELS.get,
                                 horizontal=True))
    round_ = quiz.new_round(kind, st.session_state[keys.QUIZ_SEED], st.session_state[keys.QUIZ_ROUND], len(digits))
    clean = digits.images[round_.index, :, :, 0]
    truth = int(digits.labels[round_.index])
    outcome = resources.outcomes(model_keys, (name,), clean, truth, scenario, False)[0]
    answer = answer_to(round_)
    st.markdown(f"#### Round {round_.number + 1}: {kind.question}")
    title = scenario.describe().replace("eps=", "ε = ")
    st.caption(f"Gallery digit {round_.index}, attacked with {title}. Score: {score().describe()}.")
    if kind is quiz.Kind.SPOT:
        _spot(round_, outcome, clean, answer)
    else:
        _predict(round_, outcome, clean, truth, answer)
    next_round, restart = st.columns(2)
    next_round.button("Next round", icon=":material/arrow_forward:", on_click=_next_round, key="quiz_next",
                      type="primary" if answer is not None else "secondary", width="stretch")
    restart.button("New quiz (score to 0)", icon=":material/restart_alt:", on_click=_restart, key="quiz_restart",
                   width="stretch")
