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
from advdemo.demo import analysis, card_figures, charts, i18n
from advdemo.demo.analysis import Method, Outcome, Scenario, Source, Sweep, sweep_epsilons
from advdemo.demo.thresholds import Flip, visibility
from advdemo.models.registry import TRANSFER_SOURCE, ModelInfo, coloured_name
from advdemo.ui import controls, downloads, join, keys, quiz, resources, stepthrough, url
from advdemo.ui.inputs import InputDigit
from advdemo.ui.lang import N_, _, ngettext, num
from advdemo.ui.resources import ModelEntry

BATCH_SIZE = keys.BATCH_SIZE
#: The detail views' tab labels (their names in the URL: ``keys.VIEWS``).
VIEW_SWEEP, VIEW_CURVES, VIEW_BATCH = keys.VIEW_SWEEP, keys.VIEW_CURVES, keys.VIEW_BATCH
VIEW_STEPS, VIEW_QUIZ = keys.VIEW_STEPS, keys.VIEW_QUIZ
#: The tabs in order; their labels are shown translated (msgids below), the URL keeps their names.
VIEW_ORDER = (VIEW_SWEEP, VIEW_CURVES, VIEW_BATCH, VIEW_STEPS, VIEW_QUIZ)
_VIEW_MSGIDS = (N_("This digit: ε sweep"), N_("Test set: accuracy vs ε"), N_("A batch of 32"), N_("PGD step by step"),
                N_("Quiz"))
#: Under each verdict until the sweep says where the model is first fooled.
FLIP_PENDING = N_("Smallest ε that fools it on this digit: …")
#: The confidence bars' height in pixels, and in presentation mode (lower: its larger type needs the room).
BARS_HEIGHT, PRESENTATION_BARS_HEIGHT = 180, 150
#: Above the models' answers on an input that does not look like a digit.
MEANINGLESS = N_("**No verdicts: this does not look like a digit** (see section 1). The models answer anyway, because "
               "a network always picks one of the ten digits, however little the input resembles one: their answers "
               "below mean nothing.")


def view_of(label: object) -> str | None:
    """The tab (its English label, ``keys.VIEWS``) whose label ``label`` is in any language, or None."""
    for view in VIEW_ORDER:
        if label == view or any(i18n.translator(code).gettext(view) == label for code in i18n.SUPPORTED):
            return view
    return None


def flip_line(flip: Flip) -> str:
    """``thresholds.describe_flip``'s line (where a model is first fooled), in the session's language."""
    if flip.fooled is None:
        return _("Holds at every ε tried on this digit, up to {eps}.").format(eps=num(flip.held))
    if flip.fooled == 0:
        return _("Wrong on this digit even without an attack.")
    if flip.exact:
        return _("Smallest ε that fools it on this digit: **{eps}** (it holds at {held}).").format(
            eps=num(flip.fooled), held=num(flip.held))
    held = _("; it holds at {eps}").format(eps=num(flip.held)) if flip.held is not None else ""
    return _("Fooled on this digit by ε = **{eps}**{held} (between the sweep's steps: not refined).").format(
        eps=num(flip.fooled), held=held)


def proof_line(radius: float, norm: Norm, epsilon: float) -> tuple[bool, str]:
    """``analysis.proof`` (whether the digit is proven, and the line under the verdict) in the session's language;
    in English, the same text."""
    proven, _english = analysis.proof(radius, norm, epsilon)
    if proven:
        ball = "" if norm is Norm.LINF else _(" ({norm} ε = {eps} moves no pixel by more than that)").format(
            norm=norm.label, eps=num(epsilon))
        return True, _("🔒 PROVEN: no change up to L-inf ε = {radius} can change this answer{ball}: no attack of this "
                       "size can ever fool it (interval bounds)").format(radius=num(radius, ".3g"), ball=ball)
    where = "" if radius > 0 else _(", not even the clean image")
    return False, _("not proven at {norm} ε = {eps}: interval bounds prove this answer only up to L-inf ε = "
                    "{radius}{where}; an attack that fails is no proof").format(
        norm=norm.label, eps=num(epsilon), radius=num(radius, ".3g"), where=where)


def title_of(scenario: Scenario, epsilon: float | None = None) -> str:
    """The scenario in words, with a real epsilon sign (``controls.scenario_title``)."""
    return controls.scenario_title(scenario, epsilon)


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
    says = f"{outcome.prediction} ({num(probability, '.0%')})"
    if not_a_digit:
        return "none", _("NO VERDICT: not a digit · says {says}").format(says=says)
    if outcome.clean_prediction != label:
        if guessed_by is not None:
            return "wrong", _("ALREADY WRONG? says {clean}, {model} guessed {label}").format(
                clean=outcome.clean_prediction, model=guessed_by, label=label)
        return "wrong", _("ALREADY WRONG before the attack (says {clean})").format(clean=outcome.clean_prediction)
    if target is not None:
        if outcome.prediction == target:
            return "fooled", _("🎯 REACHED {target} → says {says}").format(target=target, says=says)
        if outcome.prediction == label:
            return "held", _("✓ MISSED {target} → still {says}").format(target=target, says=says)
        return "missed", _("MISSED {target} → says {says}, wrong but not the target").format(target=target, says=says)
    if outcome.fooled(label):
        return "fooled", _("✗ FOOLED → says {says}").format(says=says)
    return "held", _("✓ HELD → still {says}").format(says=says)


def verdict_html(kind: str, text: str) -> str:
    """The verdict's styled box: the one place the page renders HTML built from data (model names, a guess), so
    both the class and the text are escaped."""
    return f'<div class="advdemo-verdict advdemo-{html.escape(kind)}">{html.escape(text)}</div>'


def _model_heading(name: str) -> str:
    """The model's name in its registry colour (close to its charts' colour)."""
    return f"### {coloured_name(name)}"


#: The captions of the attacked image and of the perturbation (``{amplification}``: its colour scale's factor); in
#: presentation mode, shorter (the pictures are smaller).
CAPTIONS = (N_("attacked image"), N_("perturbation ×{amplification} (red +, blue −)"))
PRESENTATION_CAPTIONS = (N_("attacked"), N_("change ×{amplification} (red +, blue −)"))


def _show_lines(outcome: Outcome, scenario: Scenario, radius: float | None, summary: str | None = None
                ) -> DeltaGenerator:
    """Under a verdict: the proof line (if ``radius``), the empty line for the smallest eps (returned), the model's
    ``summary`` (if given) and its answer before the attack."""
    if radius is not None:
        proven, line = proof_line(radius, scenario.norm, scenario.epsilon)
        st.markdown(f"**{line}**" if proven else line)
    flip_line = st.empty()
    if summary is not None:
        st.caption(summary)
    clean_p = float(outcome.clean_probs[outcome.clean_prediction])
    st.markdown(_("Before the attack: **{clean}** ({confidence})").format(clean=outcome.clean_prediction,
                                                                          confidence=num(clean_p, ".0%")))
    return flip_line


def _show_pictures(outcome: Outcome, image: np.ndarray, attacked: DeltaGenerator, perturbation: DeltaGenerator,
                   captions: tuple[str, str]) -> None:
    """The attacked image and the perturbation (amplified, red brighter, blue darker), each filling its area."""
    attacked.image(charts.upscale(outcome.adversarial), width="stretch", caption=_(captions[0]))
    picture, amplification = charts.perturbation_picture(outcome.adversarial - image)
    perturbation.image(picture, width="stretch", caption=_(captions[1]).format(amplification=num(amplification, ".1f")))


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
    st.markdown(_("Size: L-inf **{linf}** · L2 **{l2}** · L1 **{l1}**").format(
        linf=num(norms[Norm.LINF], ".3f"), l2=num(norms[Norm.L2], ".3g"), l1=num(norms[Norm.L1], ".3g")))
    size = norms[scenario.norm]
    if scenario.epsilon > 0 and size < 0.9 * scenario.epsilon:
        if scenario.method is Method.STRONGEST:
            st.caption(_("Only {size} of ε = {eps} ({norm}) is used: the strongest attack keeps the first member's "
                         "image that fools the model (unchanged if it was already wrong), and clipping to [0, 1] cuts "
                         "the rest.").format(size=num(size, ".3g"), eps=num(scenario.epsilon),
                                             norm=scenario.norm.label))
        else:
            st.caption(_("Only {size} of ε = {eps} ({norm}) is left after clipping to valid pixel values [0, 1].")
                       .format(size=num(size, ".3g"), eps=num(scenario.epsilon), norm=scenario.norm.label))
    st.caption(visibility(image, outcome.adversarial, scenario.norm))
    st.html(charts.confidence_bars(outcome, label, PRESENTATION_BARS_HEIGHT if present else BARS_HEIGHT, _))
    if outcome.noisy_probs is not None and outcome.noise_prediction is not None:
        noise_p = float(outcome.noisy_probs[outcome.noise_prediction])
        mark = _("✓ right") if outcome.noise_prediction == label else _("✗ wrong")
        st.markdown(_("Random noise of the same {norm} size ({size}): says **{says}** ({confidence}), {mark}").format(
            norm=scenario.norm.label, size=num(outcome.noise_norm, ".3g"), says=outcome.noise_prediction,
            confidence=num(noise_p, ".0%"), mark=mark))
        st.image(charts.upscale(outcome.noisy, 4), caption=_("image + random noise"))
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
        return digit.label, _("true label") if digit.origin == "gallery" else _("the digit you stated"), None
    judge = TRANSFER_SOURCE if TRANSFER_SOURCE in available else available[0]
    label = resources.clean_prediction((entries[judge].key,), digit.image)
    return label, _("the {model} model's answer on the clean image; say which digit it is to change it").format(
        model=judge), judge


def sweep_view(model_keys: resources.ModelKeys, names: tuple[str, ...], digit: InputDigit, label: int,
               scenario: Scenario) -> Sweep:
    """Confidence in the label as eps grows, on this one image, with where each model is first fooled; returns the
    sweep (``show_flips`` reads it)."""
    epsilons = sweep_epsilons(scenario.norm, scenario.epsilon)
    st.caption(_("Computed now, on this digit only: {attack} in {norm} at {count} values of ε (one attack per ε and "
                 "model), against label {label}. A cross marks where each model is first fooled; the grey line is "
                 "the sidebar's ε.").format(attack=scenario.attack_name, norm=scenario.norm.label,
                                            count=len(epsilons) - 1, label=label))
    runs = (len(epsilons) - 1) * attacked_models(scenario, names)
    with strongest_spinner(scenario, _("Sweeping ε with the strongest attack: about a second per ε and model, so "
                                       "up to {seconds} s the first time…").format(seconds=runs)):
        result = resources.sweep(model_keys, names, digit.image, label, scenario)
    origin = _(", crafted on {model}").format(model=scenario.transfer_from) if scenario.source is Source.TRANSFER \
        else ""
    title = _("{attack} {norm}{origin}: confidence in {label} as ε grows").format(
        attack=scenario.attack_name, norm=scenario.norm.label, origin=origin, label=label)
    st.vega_lite_chart(spec=charts.sweep_chart(result, names, scenario.epsilon, title, gettext=_), width="stretch")
    lines = []
    for name in names:
        first = result.first_fooled(name)
        if first is None:
            lines.append(_("- **{model}** holds at every ε up to {eps}").format(model=name,
                                                                                eps=num(result.epsilons[-1])))
        elif first == 0:
            lines.append(_("- **{model}** is wrong even without an attack").format(model=name))
        else:
            lines.append(_("- **{model}** is first fooled at ε = {eps}").format(model=name, eps=num(first)))
    st.markdown("\n".join(lines))
    return result


def show_flips(lines: Mapping[str, DeltaGenerator], model_keys: resources.ModelKeys, names: tuple[str, ...],
               digit: InputDigit, label: int, scenario: Scenario, result: Sweep | None) -> None:
    """Under each model's verdict (``lines``, from ``show_outcome``): the smallest eps that fools it on this digit,
    read from the sweep ``result`` and refined on the slider's grid (``resources.smallest_flips``); without the
    sweep (another tab is open), where to find it."""
    if result is None:
        for line in lines.values():
            line.markdown(_("Smallest ε that fools it on this digit: open the tab *{tab}* below.").format(
                tab=_(VIEW_SWEEP)))
        return
    flips = resources.smallest_flips(model_keys, names, digit.image, label, scenario, result,
                                     controls.EPS_STEPS[scenario.norm])
    for name, line in lines.items():
        line.markdown(flip_line(flips[name]))


def curves_view(scenario: Scenario, models: Sequence[ModelInfo]) -> None:
    """The accuracy-vs-eps sweeps and headline figures of every model of the roster (``models``) from its
    card (whichever models the sidebar shows: the comparison is the point), with failed sanity checks."""
    cards, missing, card_paths = {}, [], []
    for info in models:
        card, error = resources.card(info)
        if card is None:
            missing.append(f"{info.name} ({error})")  # the card's error: English (advdemo.models)
        else:
            cards[info.name] = card
            card_paths.append(info.card_path)
    if missing:
        st.caption(_("No figures for {models}").format(models="; ".join(missing)))
    names = list(cards)
    norm = scenario.norm
    rows = card_figures.curve_rows(cards, norm)
    if rows:
        attacked = "/".join(str(n) for n in sorted({row["n"] for row in rows if row["eps"] > 0}))
        clean = "/".join(str(n) for n in sorted({row["n"] for row in rows if row["eps"] == 0}))
        title = _("Test-set accuracy vs ε ({norm}): PGD-40 (1 restart, solid) and FGSM (dashed), white-box").format(
            norm=norm.label)
        st.altair_chart(charts.accuracy_chart(rows, names, scenario.epsilon, title, gettext=_), width="stretch")
        cards_list = ", ".join(f"{path.parent.name}/{path.name}" for path in card_paths)
        st.caption(_("From the model cards ({cards}), measured by `python -m advdemo.evaluate` when the models were "
                     "built, not recomputed here: attacks on {attacked} MNIST test images").format(
                         cards=cards_list, attacked=attacked)
                   + (_(", ε = 0 is clean accuracy on {clean}").format(clean=clean) if clean else "")
                   + _(". Grey line: the sidebar's ε."))
    else:
        st.info(_("The model cards hold no {norm} sweep yet. Measure one with "
                  "`python -m advdemo.evaluate --model pretrained/NAME.keras --write-card`.").format(norm=norm.label))
    table = card_figures.headline_rows(cards, list(cards))
    if table:
        st.markdown(_("**Headline figures** (test accuracy; *from base (transfer)* is the NSL tutorial's own "
                      "evaluation)"))
        frame = pd.DataFrame(table).rename(columns={"measurement": _("attack"), "n": _("test images")})
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config={name: st.column_config.NumberColumn(format="percent") for name in cards})
    for name, card in cards.items():
        for check in card_figures.failed_checks(card):
            st.warning(_("**{model}** fails the sanity check *{check}*: {detail}. A sign of gradient masking: its "
                         "robustness to weak attacks is not real.").format(model=name, check=check["check"],
                                                                           detail=check["detail"]))


def _next_batch() -> None:
    st.session_state[keys.BATCH_START] = st.session_state.get(keys.BATCH_START, 0) + BATCH_SIZE


def batch_view(model_keys: resources.ModelKeys, names: tuple[str, ...], scenario: Scenario) -> None:
    """The tutorial's batch view: 32 gallery digits attacked, each titled with its label and the models'
    answers, and the batch score."""
    digits, error = resources.gallery()
    if digits is None:
        st.info(_("The batch view needs the digit gallery: {error}").format(error=error))
        return
    keys.default(keys.BATCH_START, 0)
    start = int(st.session_state[keys.BATCH_START]) % len(digits)
    with strongest_spinner(scenario, _("Running the strongest attack on {count} digits: about 10 s per "
                                       "model…").format(count=BATCH_SIZE)):
        result, png = resources.batch(model_keys, names, resources.gallery_key(), start, BATCH_SIZE, scenario)
    held = " · ".join(f"{name} {result.score(name)}/{len(result.labels)}" for name in names)
    clean = " · ".join(f"{name} {result.clean_score(name)}/{len(result.labels)}" for name in names)
    st.markdown(_("#### Batch score under attack: {scores}").format(scores=held))
    st.caption(_("Clean: {scores}. Gallery digits {first}-{last}; computed now with {scenario}.").format(
        scores=clean, first=start, last=start + BATCH_SIZE - 1, scenario=title_of(scenario)))
    shown = names[0]
    how = (_("crafted on {model}, the same for every model").format(model=scenario.transfer_from)
           if scenario.source is Source.TRANSFER
           else _("the white-box attack on {model}; each model was scored on its own white-box attack").format(
               model=shown))
    st.image(png, width="stretch",
             caption=_("Attacked digits ({how}). Title: true label; under each digit, each model's answer "
                       "({initials}): green right, red wrong.").format(
                           how=how, initials=", ".join(f"{name[0]} = {name}" for name in names)))
    st.button(_("Next batch"), icon=":material/skip_next:", on_click=_next_batch)


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
        st.error(_("No model could be loaded: see the messages above."))
        return
    if digit is None or label is None:
        return
    if not names:
        st.warning(_("Select at least one model in the sidebar."))
        return
    if scenario.source is Source.TRANSFER and scenario.transfer_from not in available:
        st.error(_("The transfer attack is crafted on the **{model}** model, which is unavailable (see above). "
                   "Choose white-box gradients in the sidebar.").format(model=scenario.transfer_from))
        return
    needed = list(names) + ([scenario.transfer_from] if scenario.source is Source.TRANSFER and
                            scenario.transfer_from not in names else [])
    model_keys = tuple(entries[name].key for name in needed)
    st.subheader(_("2 · The attack: {scenario}").format(scenario=title_of(scenario)))
    strongest = scenario.method is Method.STRONGEST
    budget = scenario.attack().describe() if strongest else ""
    st.caption((_("Computed now on this digit with {budget} per model (untargeted). Label {label}: {source}.")
                if strongest else _("Computed now on this digit. Label {label}: {source}.")).format(
                    budget=budget, label=label, source=label_source))
    if digit.not_a_digit is not None:
        st.warning(_(MEANINGLESS), icon=":material/help:")
    count = attacked_models(scenario, names)
    with strongest_spinner(scenario, ngettext(
            "Running the strongest attack ({budget}) on {count} model: about 1-2 s per model (longer the first "
            "time, while TensorFlow compiles it)…",
            "Running the strongest attack ({budget}) on {count} models: about 1-2 s per model (longer the first "
            "time, while TensorFlow compiles it)…", count).format(budget=budget, count=count)):
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
            line.markdown(_(FLIP_PENDING))  # until the sweep below is done: one line, so nothing under it jumps
            flip_lines[outcome.model] = line
    st.download_button(_("Download this example (.npz)"),
                       functools.partial(export_npz, digit, label, scenario, outcomes),
                       file_name="adversarial-example.npz", mime="application/octet-stream", on_click="ignore",
                       icon=":material/download:")
    downloads.export_buttons(model_keys, digit.image, label, title_of(scenario), outcomes)
    st.subheader(_("3 · Look closer"))
    shown_view = view_of(st.session_state.get(keys.VIEW))
    if shown_view is not None:  # the open tab, in the session's language (a link or the tour give it in English)
        st.session_state[keys.VIEW] = _(shown_view)
    sweep_tab, curves_tab, batch_tab, steps_tab, quiz_tab = st.tabs(
        [_(view) for view in VIEW_ORDER], key=keys.VIEW, on_change="rerun")
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
