"""Section 2 (each model side by side: verdict, attacked image, perturbation, confidences) and section 3
(this image's eps sweep, the cards' test-set curves, a batch of 32), in one fragment with the sidebar: moving
a slider reruns only this fragment, not the input section.

Where every figure comes from is said next to it: computed now on this image, or read from a model card. Under
each verdict, the smallest eps that fools that model on this digit (from the sweep, ``show_flips``); under its
images, whether the change can be seen (``thresholds.visibility``). In presentation mode the norm, eps and attack
are drawn above the verdicts (``controls.sidebar_controls``).
"""

from __future__ import annotations

import contextlib
import functools
import html
import io
import json
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from advdemo.configs import Norm
from advdemo.demo import analysis, card_figures, charts
from advdemo.demo.analysis import Method, Outcome, Scenario, Source, Sweep, sweep_epsilons
from advdemo.demo.thresholds import describe_flip, visibility
from advdemo.models.registry import TRANSFER_SOURCE, ModelInfo, coloured_name
from advdemo.ui import controls, downloads, join, keys, quiz, resources, stepthrough, url
from advdemo.ui.inputs import InputDigit
from advdemo.ui.resources import ModelEntry

BATCH_SIZE = keys.BATCH_SIZE
#: The detail views' tab labels (their names in the URL: ``keys.VIEWS``).
VIEW_SWEEP, VIEW_CURVES, VIEW_BATCH = keys.VIEW_SWEEP, keys.VIEW_CURVES, keys.VIEW_BATCH
VIEW_STEPS, VIEW_QUIZ = keys.VIEW_STEPS, keys.VIEW_QUIZ
#: Under each verdict until the sweep says where the model is first fooled.
FLIP_PENDING = "Smallest ε that fools it on this digit: …"
#: The confidence bars' height in pixels, and in presentation mode (lower: its larger type needs the room).
BARS_HEIGHT, PRESENTATION_BARS_HEIGHT = 180, 150
#: Above the models' answers on an input that does not look like a digit.
MEANINGLESS = ("**No verdicts: this does not look like a digit** (see section 1). The models answer anyway, because "
               "a network always picks one of the ten digits, however little the input resembles one: their answers "
               "below mean nothing.")


def title_of(scenario: Scenario, epsilon: float | None = None) -> str:
    """The scenario in words, with a real epsilon sign."""
    return scenario.describe(epsilon).replace("eps=", "ε = ")


def attacked_models(scenario: Scenario, names: Sequence[str]) -> int:
    """How many models the attack runs on: each shown model (white-box) or the transfer source only."""
    return 1 if scenario.source is Source.TRANSFER else len(names)


@contextlib.contextmanager
def strongest_spinner(scenario: Scenario, text: str) -> Iterator[None]:
    """A spinner saying ``text`` while the strongest attack runs (slower than FGSM and PGD, so it says what runs
    and for how long); nothing extra for FGSM and PGD, whose computations show their own short spinners."""
    if scenario.method is not Method.STRONGEST:
        yield
        return
    with st.spinner(text):
        yield


def verdict(outcome: Outcome, label: int, target: int | None, *, guessed_by: str | None = None,
            not_a_digit: bool = False) -> tuple[str, str]:
    """(css class, text) of a model's verdict.

    ``label`` is the true or stated label, or, with ``guessed_by``, that model's guess (a drawing nobody labelled):
    "already wrong" then only means "disagrees with the guess", and says so. A targeted attack (``target``)
    reached its target, or missed it (the model held, or went wrong elsewhere); an untargeted one fooled the model
    or not. On an input that is ``not_a_digit`` there is no verdict, only the answer.
    """
    probability = float(outcome.adversarial_probs[outcome.prediction])
    says = f"{outcome.prediction} ({probability:.0%})"
    if not_a_digit:
        return "none", f"NO VERDICT: not a digit · says {says}"
    if outcome.clean_prediction != label:
        if guessed_by is not None:
            return "wrong", f"ALREADY WRONG? says {outcome.clean_prediction}, {guessed_by} guessed {label}"
        return "wrong", f"ALREADY WRONG before the attack (says {outcome.clean_prediction})"
    if target is not None:
        if outcome.prediction == target:
            return "fooled", f"🎯 REACHED {target} → says {says}"
        if outcome.prediction == label:
            return "held", f"✓ MISSED {target} → still {says}"
        return "missed", f"MISSED {target} → says {says}, wrong but not the target"
    if outcome.fooled(label):
        return "fooled", f"✗ FOOLED → says {says}"
    return "held", f"✓ HELD → still {says}"


def verdict_html(kind: str, text: str) -> str:
    """The verdict's styled box: the one place the page renders HTML built from data (model names, a guess), so
    both the class and the text are escaped."""
    return f'<div class="advdemo-verdict advdemo-{html.escape(kind)}">{html.escape(text)}</div>'


def _model_heading(name: str) -> str:
    """The model's name in its registry colour (close to its charts' colour)."""
    return f"### {coloured_name(name)}"


#: The captions of the attacked image and of the perturbation (``{amplification}``: its colour scale's factor); in
#: presentation mode, shorter (the pictures are smaller).
CAPTIONS = ("attacked image", "perturbation ×{amplification:.1f} (red +, blue −)")
PRESENTATION_CAPTIONS = ("attacked", "change ×{amplification:.1f} (red +, blue −)")


def _show_lines(outcome: Outcome, scenario: Scenario, radius: float | None, summary: str | None = None
                ) -> DeltaGenerator:
    """Under a verdict: the proof line (if ``radius``), the empty line for the smallest eps (returned), the model's
    ``summary`` (if given) and its answer before the attack."""
    if radius is not None:
        proven, line = analysis.proof(radius, scenario.norm, scenario.epsilon)
        st.markdown(f"**{line}**" if proven else line)
    flip_line = st.empty()
    if summary is not None:
        st.caption(summary)
    clean_p = float(outcome.clean_probs[outcome.clean_prediction])
    st.markdown(f"Before the attack: **{outcome.clean_prediction}** ({clean_p:.0%})")
    return flip_line


def _show_pictures(outcome: Outcome, image: np.ndarray, attacked: DeltaGenerator, perturbation: DeltaGenerator,
                   captions: tuple[str, str]) -> None:
    """The attacked image and the perturbation (amplified, red brighter, blue darker), each filling its area."""
    attacked.image(charts.upscale(outcome.adversarial), width="stretch", caption=captions[0])
    picture, amplification = charts.perturbation_picture(outcome.adversarial - image)
    perturbation.image(picture, width="stretch", caption=captions[1].format(amplification=amplification))


def show_outcome(outcome: Outcome, info: ModelInfo, image: np.ndarray, label: int, scenario: Scenario,
                 guessed_by: str | None = None, not_a_digit: bool = False, present: bool = False,
                 radius: float | None = None, beside: bool = True) -> DeltaGenerator:
    """One model's column (``info``: its roster entry); ``image`` is the clean digit; ``guessed_by`` and
    ``not_a_digit`` as for ``verdict``; ``radius`` the L-inf radius interval bounds certify (None: no proof
    shown). The verdict comes first, under the model's name. Returns the empty line under the verdict that says,
    once the sweep is done, the smallest eps that fools this model (``show_flips``).

    In presentation mode (``present``) the column must fit the projector's first screen with the controls above
    it: no model summary, lower bars, and the attacked image and the perturbation right under the verdict, smaller,
    with the lines on the clean answer, the smallest eps and the proof beside them (``beside``: there is room for
    them, at most two models) or under them."""
    st.markdown(_model_heading(outcome.model))
    kind, text = verdict(outcome, label, scenario.target, guessed_by=guessed_by, not_a_digit=not_a_digit)
    st.markdown(verdict_html(kind, text), unsafe_allow_html=True)
    if present:
        attacked, perturbation, *rest = st.columns([1.15, 1.15, 2] if beside else [1, 1], gap="small")
        _show_pictures(outcome, image, attacked, perturbation, PRESENTATION_CAPTIONS)
        with rest[0] if rest else contextlib.nullcontext():
            flip_line = _show_lines(outcome, scenario, radius)
    else:
        flip_line = _show_lines(outcome, scenario, radius, info.summary)
        _show_pictures(outcome, image, *st.columns(2), CAPTIONS)
    norms = outcome.norms
    st.markdown(f"Size: L-inf **{norms[Norm.LINF]:.3f}** · L2 **{norms[Norm.L2]:.3g}** · L1 **{norms[Norm.L1]:.3g}**")
    size = norms[scenario.norm]
    if scenario.epsilon > 0 and size < 0.9 * scenario.epsilon:
        if scenario.method is Method.STRONGEST:
            st.caption(f"Only {size:.3g} of ε = {scenario.epsilon:g} ({scenario.norm.label}) is used: the strongest "
                       "attack keeps the first member's image that fools the model (unchanged if it was already "
                       "wrong), and clipping to [0, 1] cuts the rest.")
        else:
            st.caption(f"Only {size:.3g} of ε = {scenario.epsilon:g} ({scenario.norm.label}) is left after "
                       "clipping to valid pixel values [0, 1].")
    st.caption(visibility(image, outcome.adversarial, scenario.norm))
    st.html(charts.confidence_bars(outcome, label, PRESENTATION_BARS_HEIGHT if present else BARS_HEIGHT))
    if outcome.noisy_probs is not None and outcome.noise_prediction is not None:
        noise_p = float(outcome.noisy_probs[outcome.noise_prediction])
        mark = "✓ right" if outcome.noise_prediction == label else "✗ wrong"
        st.markdown(f"Random noise of the same {scenario.norm.label} size ({outcome.noise_norm:.3g}): "
                    f"says **{outcome.noise_prediction}** ({noise_p:.0%}), {mark}")
        st.image(charts.upscale(outcome.noisy, 4), caption="image + random noise")
    return flip_line


def export_npz(digit: InputDigit, label: int, scenario: Scenario, outcomes: Sequence[Outcome]) -> bytes:
    """The example as a .npz: clean image, label, scenario (JSON), and per model the adversarial image and
    the clean and adversarial probabilities."""
    arrays: dict[str, np.ndarray] = {"image": digit.image, "label": np.array(label),
                                     "scenario": np.array(json.dumps(scenario.to_query()))}
    for outcome in outcomes:
        arrays[f"{outcome.model}_adversarial"] = outcome.adversarial
        arrays[f"{outcome.model}_clean_probs"] = outcome.clean_probs
        arrays[f"{outcome.model}_adversarial_probs"] = outcome.adversarial_probs
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _resolve_label(digit: InputDigit, entries: dict[str, ModelEntry],
                   available: Sequence[str]) -> tuple[int, str, str | None]:
    """The label to attack away from, where it comes from, and the model whose guess it is (None: a true or
    stated label)."""
    if digit.label is not None:
        return digit.label, "true label" if digit.origin == "gallery" else "the digit you stated", None
    judge = TRANSFER_SOURCE if TRANSFER_SOURCE in available else available[0]
    label = resources.clean_prediction((entries[judge].key,), digit.image)
    return label, f"the {judge} model's answer on the clean image; say which digit it is to change it", judge


def sweep_view(model_keys: resources.ModelKeys, names: tuple[str, ...], digit: InputDigit, label: int,
               scenario: Scenario) -> Sweep:
    """Confidence in the label as eps grows, on this one image, with where each model is first fooled; returns the
    sweep (``show_flips`` reads it)."""
    epsilons = sweep_epsilons(scenario.norm, scenario.epsilon)
    st.caption(f"Computed now, on this digit only: {scenario.attack_name} in {scenario.norm.label} at "
               f"{len(epsilons) - 1} values of ε (one attack per ε and model), against label {label}. "
               "A cross marks where each model is first fooled; the grey line is the sidebar's ε.")
    runs = (len(epsilons) - 1) * attacked_models(scenario, names)
    with strongest_spinner(scenario, f"Sweeping ε with the strongest attack: about a second per ε and model, so "
                                     f"up to {runs} s the first time…"):
        result = resources.sweep(model_keys, names, digit.image, label, scenario)
    origin = f", crafted on {scenario.transfer_from}" if scenario.source is Source.TRANSFER else ""
    title = f"{scenario.attack_name} {scenario.norm.label}{origin}: confidence in {label} as ε grows"
    st.vega_lite_chart(spec=charts.sweep_chart(result, names, scenario.epsilon, title), width="stretch")
    lines = []
    for name in names:
        first = result.first_fooled(name)
        if first is None:
            lines.append(f"- **{name}** holds at every ε up to {result.epsilons[-1]:g}")
        elif first == 0:
            lines.append(f"- **{name}** is wrong even without an attack")
        else:
            lines.append(f"- **{name}** is first fooled at ε = {first:g}")
    st.markdown("\n".join(lines))
    return result


def show_flips(lines: Mapping[str, DeltaGenerator], model_keys: resources.ModelKeys, names: tuple[str, ...],
               digit: InputDigit, label: int, scenario: Scenario, result: Sweep | None) -> None:
    """Under each model's verdict (``lines``, from ``show_outcome``): the smallest eps that fools it on this digit,
    read from the sweep ``result`` and refined on the slider's grid (``resources.smallest_flips``); without the
    sweep (another tab is open), where to find it."""
    if result is None:
        for line in lines.values():
            line.markdown(f"Smallest ε that fools it on this digit: open the tab *{VIEW_SWEEP}* below.")
        return
    flips = resources.smallest_flips(model_keys, names, digit.image, label, scenario, result,
                                     controls.EPS_STEPS[scenario.norm])
    for name, line in lines.items():
        line.markdown(describe_flip(flips[name]))


def curves_view(scenario: Scenario, models: Sequence[ModelInfo]) -> None:
    """The accuracy-vs-eps sweeps and headline figures of every model of the roster (``models``) from its
    card (whichever models the sidebar shows: the comparison is the point), with failed sanity checks."""
    cards, missing, card_paths = {}, [], []
    for info in models:
        card, error = resources.card(info)
        if card is None:
            missing.append(f"{info.name} ({error})")
        else:
            cards[info.name] = card
            card_paths.append(info.card_path)
    if missing:
        st.caption("No figures for " + "; ".join(missing))
    names = list(cards)
    norm = scenario.norm
    rows = card_figures.curve_rows(cards, norm)
    if rows:
        attacked = "/".join(str(n) for n in sorted({row["n"] for row in rows if row["eps"] > 0}))
        clean = "/".join(str(n) for n in sorted({row["n"] for row in rows if row["eps"] == 0}))
        title = f"Test-set accuracy vs ε ({norm.label}): PGD-40 (1 restart, solid) and FGSM (dashed), white-box"
        st.altair_chart(charts.accuracy_chart(rows, names, scenario.epsilon, title), width="stretch")
        st.caption(f"From the model cards ({', '.join(f'{path.parent.name}/{path.name}' for path in card_paths)}), "
                   f"measured by `python -m advdemo.evaluate` when the models were built, not recomputed here: "
                   f"attacks on {attacked} MNIST test images" + (f", ε = 0 is clean accuracy on {clean}" if clean
                                                                 else "") + ". Grey line: the sidebar's ε.")
    else:
        st.info(f"The model cards hold no {norm.label} sweep yet. Measure one with "
                "`python -m advdemo.evaluate --model pretrained/NAME.keras --write-card`.")
    table = card_figures.headline_rows(cards, list(cards))
    if table:
        st.markdown("**Headline figures** (test accuracy; *from base (transfer)* is the NSL tutorial's own "
                    "evaluation)")
        frame = pd.DataFrame(table).rename(columns={"measurement": "attack", "n": "test images"})
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config={name: st.column_config.NumberColumn(format="percent") for name in cards})
    for name, card in cards.items():
        for check in card_figures.failed_checks(card):
            st.warning(f"**{name}** fails the sanity check *{check['check']}*: {check['detail']}. "
                       "A sign of gradient masking: its robustness to weak attacks is not real.")


def _next_batch() -> None:
    st.session_state[keys.BATCH_START] = st.session_state.get(keys.BATCH_START, 0) + BATCH_SIZE


def batch_view(model_keys: resources.ModelKeys, names: tuple[str, ...], scenario: Scenario) -> None:
    """The tutorial's batch view: 32 gallery digits attacked, each titled with its label and the models'
    answers, and the batch score."""
    digits, error = resources.gallery()
    if digits is None:
        st.info(f"The batch view needs the digit gallery: {error}")
        return
    keys.default(keys.BATCH_START, 0)
    start = int(st.session_state[keys.BATCH_START]) % len(digits)
    with strongest_spinner(scenario, f"Running the strongest attack on {BATCH_SIZE} digits: about 10 s per "
                                     "model…"):
        result, png = resources.batch(model_keys, names, resources.gallery_key(), start, BATCH_SIZE, scenario)
    held = " · ".join(f"{name} {result.score(name)}/{len(result.labels)}" for name in names)
    clean = " · ".join(f"{name} {result.clean_score(name)}/{len(result.labels)}" for name in names)
    st.markdown(f"#### Batch score under attack: {held}")
    st.caption(f"Clean: {clean}. Gallery digits {start}-{start + BATCH_SIZE - 1}; computed now with "
               f"{title_of(scenario)}.")
    shown = names[0]
    how = (f"crafted on {scenario.transfer_from}, the same for every model" if scenario.source is Source.TRANSFER
           else f"the white-box attack on {shown}; each model was scored on its own white-box attack")
    st.image(png, width="stretch",
             caption=f"Attacked digits ({how}). Title: true label; under each digit, each model's answer "
                     f"({', '.join(f'{name[0]} = {name}' for name in names)}): green right, red wrong.")
    st.button("Next batch", icon=":material/skip_next:", on_click=_next_batch)


@st.fragment
def analysis_fragment(digit: InputDigit | None, entries: dict[str, ModelEntry]) -> None:
    """The sidebar's controls and everything computed from them (reruns alone when a control moves): the page's
    sections 2 and 3 in the order they are drawn, which is why it is read top to bottom rather than split."""
    keys.keep_values(keys.KEPT_ATTACK)
    available = [name for name, entry in entries.items() if entry.error is None]
    label, label_source, guessed_by = (_resolve_label(digit, entries, available) if digit is not None and available
                                       else (None, "", None))
    present = bool(st.session_state.get(keys.PRESENT))  # presentation mode: the norm, eps and attack up here
    chosen = controls.sidebar_controls(available, {name: entries[name].info.summary for name in available}, label,
                                       present)
    scenario, names = chosen.scenario, tuple(chosen.models)
    url.write_url(scenario, names)
    join.join()  # presentation mode: the students' QR code of the link just written
    if not available:
        st.error("No model could be loaded: see the messages above.")
        return
    if digit is None or label is None:
        return
    if not names:
        st.warning("Select at least one model in the sidebar.")
        return
    if scenario.source is Source.TRANSFER and scenario.transfer_from not in available:
        st.error(f"The transfer attack is crafted on the **{scenario.transfer_from}** model, which is unavailable (see "
                 "above). Choose white-box gradients in the sidebar.")
        return
    needed = list(names) + ([scenario.transfer_from] if scenario.source is Source.TRANSFER and
                            scenario.transfer_from not in names else [])
    model_keys = tuple(entries[name].key for name in needed)
    st.subheader(f"2 · The attack: {title_of(scenario)}")
    strongest = scenario.method is Method.STRONGEST
    budget = scenario.attack().describe() if strongest else ""
    st.caption(f"Computed now on this digit{f' with {budget} per model (untargeted)' if strongest else ''}. "
               f"Label {label}: {label_source}.")
    if digit.not_a_digit is not None:
        st.warning(MEANINGLESS, icon=":material/help:")
    count = attacked_models(scenario, names)
    with strongest_spinner(scenario, f"Running the strongest attack ({budget}) on {count} "
                                     f"model{'s' if count > 1 else ''}: about 1-2 s per model (longer the "
                                     "first time, while TensorFlow compiles it)…"):
        outcomes = resources.outcomes(model_keys, names, digit.image, label, scenario, chosen.noise)
    flip_lines = {}
    proofs = {} if digit.not_a_digit is not None or guessed_by is not None else {
        name: resources.certified_radius(entries[name].key, digit.image, label) for name in names}
    for column, outcome in zip(st.columns(len(outcomes), gap="large"), outcomes):
        with column:
            line = show_outcome(outcome, entries[outcome.model].info, digit.image, label, scenario, guessed_by,
                                digit.not_a_digit is not None, present, proofs.get(outcome.model),
                                beside=len(outcomes) <= 2)
        if digit.not_a_digit is None:
            line.markdown(FLIP_PENDING)  # until the sweep below is done: one line, so nothing under it jumps
            flip_lines[outcome.model] = line
    st.download_button("Download this example (.npz)", functools.partial(export_npz, digit, label, scenario, outcomes),
                       file_name="adversarial-example.npz", mime="application/octet-stream", on_click="ignore",
                       icon=":material/download:")
    downloads.export_buttons(model_keys, digit.image, label, title_of(scenario), outcomes)
    st.subheader("3 · Look closer")
    sweep_tab, curves_tab, batch_tab, steps_tab, quiz_tab = st.tabs(
        [VIEW_SWEEP, VIEW_CURVES, VIEW_BATCH, VIEW_STEPS, VIEW_QUIZ], key=keys.VIEW, on_change="rerun")
    sweep = None
    if sweep_tab.open:
        with sweep_tab:
            sweep = sweep_view(model_keys, names, digit, label, scenario)
    show_flips(flip_lines, model_keys, names, digit, label, scenario, sweep)
    if curves_tab.open:
        with curves_tab:
            curves_view(scenario, [entry.info for entry in entries.values()])
    if batch_tab.open:
        with batch_tab:
            batch_view(model_keys, names, scenario)
    if steps_tab.open:
        with steps_tab:
            stepthrough.stepthrough_view(model_keys, names, digit.image, label, scenario)
    if quiz_tab.open:
        with quiz_tab:
            quiz.quiz_view(model_keys, names, scenario)
