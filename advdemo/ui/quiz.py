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
from advdemo.ui import controls, keys, resources
from advdemo.ui.lang import N_, _, num

KIND_LABELS = {quiz.Kind.SPOT: N_("Spot the attack"), quiz.Kind.PREDICT: N_("Predict the model")}


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
        column.button(_("{name} is the adversarial one").format(name=name), key=f"quiz_pick_{position}",
                      on_click=_answer,
                      args=(round_.kind.value, round_.number, position, rights[position]), disabled=answer is not None,
                      width="stretch")
    if answer is None:
        return
    attacked = quiz.POSITIONS[round_.adversarial_position]
    said = _("✓ Right") if rights[answer] else _("✗ Not this time")
    words.markdown(_("**{said}: {attacked} is the adversarial image.** {model} says **{says}** ({confidence}) on it "
                     "and {clean} on the clean digit.").format(
        said=said, attacked=attacked, model=outcome.model, says=outcome.prediction,
        confidence=num(outcome.adversarial_probs[outcome.prediction], ".0%"), clean=outcome.clean_prediction))


def _predict(round_: quiz.Round, outcome: Outcome, clean: np.ndarray, truth: int, answer: int | None) -> None:
    """The attacked image and one button per digit."""
    rights = [round_.is_right(digit, outcome.prediction) for digit in range(10)]
    picture, buttons = st.columns([1, 2])  # the picture as wide as a spot round's
    picture.image(charts.upscale(round_.shown(clean, outcome.adversarial)[0]), width="stretch",
                  caption=_("attacked; the true digit is {truth}").format(truth=truth))
    with buttons:
        st.markdown(_("**Which digit will {model} answer?**").format(model=outcome.model))
        for row in (range(5), range(5, 10)):
            for digit, column in zip(row, st.columns(5)):
                column.button(str(digit), key=f"quiz_guess_{digit}", on_click=_answer,
                              args=(round_.kind.value, round_.number, digit, rights[digit]),
                              disabled=answer is not None, width="stretch")
    if answer is None:
        return
    said = _("✓ Right") if rights[answer] else _("✗ You said {answer}").format(answer=answer)
    probability = outcome.adversarial_probs[outcome.prediction]
    fooled = _("fooled") if outcome.prediction != truth else _("not fooled")
    st.markdown(_("**{said}: {model} says {says}** ({confidence}) on the attacked digit, {fooled} (true digit "
                  "{truth}; {clean} before the attack).").format(
        said=said, model=outcome.model, says=outcome.prediction, confidence=num(probability, ".0%"), fooled=fooled,
        truth=truth, clean=outcome.clean_prediction))


def quiz_view(model_keys: resources.ModelKeys, names: Sequence[str], scenario: Scenario) -> None:
    """The tab: the model and kind of round, the score, the round, and Next round."""
    digits, error = resources.gallery()
    if digits is None:
        st.info(_("The quiz needs the digit gallery: {error}").format(error=error))
        return
    keys.default(keys.QUIZ_SEED, secrets.randbelow(2**31))
    keys.default(keys.QUIZ_ROUND, 0)
    if st.session_state.get(keys.QUIZ_MODEL) not in names:
        st.session_state[keys.QUIZ_MODEL] = names[0]
    keys.default(keys.QUIZ_KIND, quiz.Kind.SPOT)
    left, right = st.columns(2)
    name = left.selectbox(_("Model"), list(names), key=keys.QUIZ_MODEL)
    kind = quiz.Kind(right.radio(_("Round"), list(quiz.Kind), key=keys.QUIZ_KIND,
                                 format_func=lambda value: _(KIND_LABELS[value]), horizontal=True))
    round_ = quiz.new_round(kind, st.session_state[keys.QUIZ_SEED], st.session_state[keys.QUIZ_ROUND], len(digits))
    clean = digits.images[round_.index, :, :, 0]
    truth = int(digits.labels[round_.index])
    outcome = resources.outcomes(model_keys, (name,), clean, truth, scenario, False)[0]
    answer = answer_to(round_)
    st.markdown(_("#### Round {number}: {question}").format(number=round_.number + 1, question=_(kind.question)))
    title = controls.scenario_title(scenario)
    st.caption(_("Gallery digit {index}, attacked with {scenario}. Score: {score}.").format(
        index=round_.index, scenario=title, score=score().describe_in(_)))
    if kind is quiz.Kind.SPOT:
        _spot(round_, outcome, clean, answer)
    else:
        _predict(round_, outcome, clean, truth, answer)
    next_round, restart = st.columns(2)
    next_round.button(_("Next round"), icon=":material/arrow_forward:", on_click=_next_round, key="quiz_next",
                      type="primary" if answer is not None else "secondary", width="stretch")
    restart.button(_("New quiz (score to 0)"), icon=":material/restart_alt:", on_click=_restart, key="quiz_restart",
                   width="stretch")
