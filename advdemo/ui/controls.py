"""The sidebar: which models, and the attack (norm, eps, FGSM/PGD/strongest, target, gradient source, noise
control); in presentation mode the norm, eps and attack are in a row above the results instead.

Widgets only; the choices become an ``analysis.Scenario``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from advdemo.configs import APP_BUDGET, EPSILON_DEFAULTS, Norm
from advdemo.demo.analysis import MAX_PGD_STEPS, STEP_FRACTIONS, Method, Scenario, Source
from advdemo.models.registry import DEFAULT_MODELS, TRANSFER_SOURCE
from advdemo.ui import keys
from advdemo.ui.lang import N_, _, num

#: Slider resolution of eps in each norm.
EPS_STEPS: dict[Norm, float] = {Norm.LINF: 0.01, Norm.L2: 0.1, Norm.L1: 0.5}
NORM_HELP = N_("L-inf: every pixel changes by at most ε (the tutorial's choice). L2: the Euclidean length of the "
             "change is ε. L1: the sum of all changes is ε, so only a few pixels change, by a lot.")
METHOD_LABELS = {Method.FGSM: N_("FGSM: one step"), Method.PGD: N_("PGD: many steps"),
                 Method.STRONGEST: N_("Strongest (APGD + random search)")}
#: The same, short, for presentation mode's row above the results.
METHOD_SHORT_LABELS = {Method.FGSM: "FGSM", Method.PGD: "PGD", Method.STRONGEST: N_("Strongest")}
#: In the sidebar in presentation mode, where the norm, eps and attack were.
MOVED_CAPTION = N_("Presentation mode: the norm, ε and the attack are above the results.")
METHOD_HELP = N_(
    "**FGSM**: one step of size ε (NSL's `adv_step_size`) along the steepest-ascent direction in the chosen norm "
    "(`adv_grad_norm`): the NSL tutorial's adversarial neighbour; in L1 the best single step (ε spent on the "
    "pixels with the largest gradient). "
    "**PGD**: `pgd_iterations` smaller steps, each projected back into the ε-ball (`pgd_epsilon`), optionally "
    "from a random point of it (`random_init`); much stronger. "
    "**Strongest**: per image, the worst case over APGD (adaptive step size, cross-entropy and targeted DLR "
    "losses) and a gradient-free random search (Square Attack in L-inf and L2, Sparse-RS in L1; it catches "
    "gradient masking); what the model cards' headline figures use, here with a smaller budget.")
#: Under the attack choice in L1: what FGSM means there.
L1_FGSM_CAPTION = N_("FGSM in L1 is the best single step: all of ε goes to the pixels with the largest gradient, "
                   "each pushed as far as [0, 1] allows, so the L1 size is ε unless the image runs out of room.")
STRONGEST_UNTARGETED = N_("The strongest attack is untargeted: any wrong digit counts (its APGD-T runs pick their "
                        "own targets, each image's runner-up classes).")
SOURCE_LABELS = {Source.WHITE_BOX: N_("its own (white-box)"), Source.TRANSFER: N_("another model's (transfer)")}
SOURCE_HELP = N_("White-box attacks each model through its own gradients (the honest test); transfer crafts one "
                 "perturbation on one model for all, as the NSL tutorial does on {source} (weaker).")


@dataclasses.dataclass(frozen=True)
class Controls:
    """Everything the sidebar sets."""

    scenario: Scenario
    models: list[str]
    noise: bool


def _model_selector(available: Sequence[str], summaries: Mapping[str, str]) -> list[str]:
    keys.default(keys.MODELS, [name for name in DEFAULT_MODELS if name in available] or list(available[:1]))
    st.session_state[keys.MODELS] = [name for name in st.session_state[keys.MODELS] if name in available]
    return list(st.multiselect(_("Models to attack"), list(available), key=keys.MODELS,
                               help=" · ".join(f"{name}: {summaries.get(name, '')}" for name in available)))


def _transfer_source(available: Sequence[str]) -> str:
    """The model a transfer attack is crafted on: any loaded model, the base model by default."""
    keys.default(keys.TRANSFER_FROM, TRANSFER_SOURCE)
    if st.session_state[keys.TRANSFER_FROM] not in available and available:
        st.session_state[keys.TRANSFER_FROM] = TRANSFER_SOURCE if TRANSFER_SOURCE in available else available[0]
    return st.selectbox(_("Crafted on"), list(available), key=keys.TRANSFER_FROM,
                        help=_("The model whose gradients craft the one perturbation every model receives."))


def _pgd_settings(epsilon: float) -> tuple[int, float, bool]:
    keys.default(keys.STEPS, 40)
    keys.default(keys.STEP_FRACTION, 0.1)
    keys.default(keys.RANDOM_START, True)
    steps = st.slider(_("PGD steps"), 1, MAX_PGD_STEPS, key=keys.STEPS, help=_("NSL's `pgd_iterations`."))
    fraction = st.select_slider(_("Step size"), STEP_FRACTIONS, key=keys.STEP_FRACTION,
                                format_func=lambda value: f"{num(value)} × ε", help=_("NSL's `adv_step_size`."))
    st.caption(_("Each step moves {size}; after each, the image is projected back into the ε-ball.").format(
        size=num(fraction * epsilon, ".3g")))
    random_start = st.checkbox(_("Random start inside the ε-ball"), key=keys.RANDOM_START,
                               help=_("NSL's `random_init`."))
    return int(steps), float(fraction), bool(random_start)


def scenario_title(scenario: Scenario, epsilon: float | None = None) -> str:
    """The scenario in words (``Scenario.describe``), with a real epsilon sign, its white-box or transfer part in
    the session's language (the attack's own name stays as it is)."""
    text = scenario.describe(epsilon).replace("eps=", "ε = ")
    white_box = ", white-box"
    transfer = f" crafted on {scenario.transfer_from} (transfer)"
    if scenario.source is Source.TRANSFER and text.endswith(transfer):
        return text[:-len(transfer)] + _(" crafted on {model} (transfer)").format(model=scenario.transfer_from)
    if text.endswith(white_box):
        return text[:-len(white_box)] + _(", white-box")
    return text


def strongest_budget_caption(norm: Norm) -> str:
    """One line naming the strongest attack's budget in ``norm`` and its random search."""
    budget = dataclasses.replace(APP_BUDGET, norm=norm)
    return _("Budget per image and model: {budget} (APGD steps; {chains} {search} searches of {queries} queries "
             "side by side); about 2 s per model. The model cards' figures use far more, doubled until more no "
             "longer changes them: beyond a model's training radius this budget misses adversarial images that they "
             "find, so a HELD there is weaker evidence than the card's figure.").format(
        budget=budget.describe(), chains=budget.chains, search=budget.search, queries=num(budget.queries, ","))


def target_choices(label: int | None) -> list[int]:
    """The digits a targeted attack may push towards: all but the digit's own label."""
    return [digit for digit in range(10) if digit != label]


def default_target(label: int | None) -> int:
    """The target offered first: the digit after the label (never the label itself); 3 without a digit."""
    return 3 if label is None else (label + 1) % 10


def _target_settings(method: Method, label: int | None) -> int | None:
    """The targeted toggle and target digit (never the digit's own ``label``); disabled, and the target not
    applied, for the strongest attack."""
    untargeted_only = method is Method.STRONGEST
    keys.default(keys.TARGETED, False)
    targeted = st.toggle(_("Targeted: push towards a chosen digit"), key=keys.TARGETED, disabled=untargeted_only)
    target = None
    if targeted:
        choices = target_choices(label)
        keys.default(keys.TARGET, default_target(label))
        moved = st.session_state[keys.TARGET] if st.session_state[keys.TARGET] not in choices else None
        if moved is not None:
            st.session_state[keys.TARGET] = default_target(label)
        target = int(st.selectbox(_("Target digit"), choices, key=keys.TARGET, disabled=untargeted_only,
                                  help=_("Any digit but this one's own label.")))
        if moved is not None:
            st.caption(_("Target {moved} is this digit's own label: the target is now {target}.").format(
                moved=moved, target=target))
    if untargeted_only:
        st.caption(_(STRONGEST_UNTARGETED) + (_(" Target {target} is not applied; it returns with FGSM or PGD.")
                                              .format(target=target) if target is not None else ""))
        return None
    return target


def _norm_eps_attack(norm_area: DeltaGenerator, eps_area: DeltaGenerator, method_area: DeltaGenerator,
                     short: bool) -> tuple[Norm, float, Method]:
    """The three controls a class watches, each drawn in its area (the sidebar, or presentation mode's row above
    the results, with ``short`` labels). Always the same keys: one widget per setting wherever it is drawn
    (Streamlit identifies these widgets by their key, so moving one keeps its value)."""
    keys.default(keys.NORM, Norm.LINF)
    norm = norm_area.radio(_("Norm") if short else _("Norm of the perturbation"), list(Norm), key=keys.NORM,
                           horizontal=True, format_func=lambda value: value.label, help=_(NORM_HELP))
    eps_default, eps_max = EPSILON_DEFAULTS[norm]
    keys.default(keys.eps_key(norm), eps_default)
    epsilon = eps_area.slider(f"ε ({norm.label})" if short else
                              _("ε: size of the perturbation ({norm})").format(norm=norm.label), 0.0,
                              float(eps_max), step=EPS_STEPS[norm], key=keys.eps_key(norm),
                              help=(_("Default {eps} (the NSL tutorial's step size).") if norm is Norm.LINF
                                    else _("Default {eps}.")).format(eps=num(eps_default)))
    keys.default(keys.METHOD, Method.FGSM)
    method = method_area.radio(_("Attack"), list(Method), key=keys.METHOD, horizontal=True,
                               format_func=lambda value: _((METHOD_SHORT_LABELS if short else METHOD_LABELS)[value]),
                               help=_(METHOD_HELP))
    return norm, float(epsilon), method


def sidebar_controls(available: Sequence[str], summaries: Mapping[str, str], label: int | None = None,
                     present: bool = False) -> Controls:
    """The sidebar's widgets; returns the scenario, the models to show and whether to add the noise control.

    ``available``: the roster's loaded models, in order; ``summaries``: one line on each (the selector's help);
    ``label``: the digit's label (None: no digit), which is never offered as a target. In presentation mode
    (``present``) the norm, eps and attack are drawn in one row where this is called (above the results) instead.
    """
    row = st.columns([5, 3, 4], gap="medium", vertical_alignment="bottom") if present else None
    with st.sidebar:
        st.header(_("The attack"))
        models = _model_selector(available, summaries)
        if row is not None:
            eps_area, norm_area, method_area = row
            st.caption(_(MOVED_CAPTION))
            norm, epsilon, method = _norm_eps_attack(norm_area, eps_area, method_area, short=True)
        else:
            norm, epsilon, method = _norm_eps_attack(st.sidebar, st.sidebar, st.sidebar, short=False)
        if norm is Norm.L1 and method is Method.FGSM:
            st.caption(_(L1_FGSM_CAPTION))
        steps, fraction, random_start = 40, 0.1, True
        if method is Method.PGD:
            steps, fraction, random_start = _pgd_settings(epsilon)
        elif method is Method.STRONGEST:
            st.caption(strongest_budget_caption(norm))
        target = _target_settings(method, label)
        keys.default(keys.SOURCE, Source.WHITE_BOX)
        source = st.radio(_("Gradients from"), list(Source), key=keys.SOURCE,
                          format_func=lambda value: _(SOURCE_LABELS[value]))
        transfer_from = _transfer_source(available) if source is Source.TRANSFER else TRANSFER_SOURCE
        st.caption(_(SOURCE_HELP).format(source=TRANSFER_SOURCE))
        keys.default(keys.NOISE, False)
        noise = st.toggle(_("Compare with random noise of the same size"), key=keys.NOISE,
                          help=_("Adds random noise with the same norm as each perturbation: if the noise does "
                                 "not fool the model, the attack is more than noise."))
    scenario = Scenario(norm=norm, epsilon=float(epsilon), method=method, steps=steps, step_fraction=fraction,
                        random_start=random_start, target=target, source=source, transfer_from=transfer_from)
    return Controls(scenario, models, bool(noise))
