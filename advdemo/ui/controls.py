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

#: Slider resolution of eps in each norm.
EPS_STEPS: dict[Norm, float] = {Norm.LINF: 0.01, Norm.L2: 0.1, Norm.L1: 0.5}
NORM_HELP = ("L-inf: every pixel changes by at most ε (the tutorial's choice). L2: the Euclidean length of the "
             "change is ε. L1: the sum of all changes is ε, so only a few pixels change, by a lot.")
METHOD_LABELS = {Method.FGSM: "FGSM: one step", Method.PGD: "PGD: many steps",
                 Method.STRONGEST: "Strongest (APGD + random search)"}
#: The same, short, for presentation mode's row above the results.
METHOD_SHORT_LABELS = {Method.FGSM: "FGSM", Method.PGD: "PGD", Method.STRONGEST: "Strongest"}
#: In the sidebar in presentation mode, where the norm, eps and attack were.
MOVED_CAPTION = "Presentation mode: the norm, ε and the attack are above the results."
METHOD_HELP = (
    "**FGSM**: one step of size ε (NSL's `adv_step_size`) along the steepest-ascent direction in the chosen norm "
    "(`adv_grad_norm`): the NSL tutorial's adversarial neighbour; in L1 the best single step (ε spent on the "
    "pixels with the largest gradient). "
    "**PGD**: `pgd_iterations` smaller steps, each projected back into the ε-ball (`pgd_epsilon`), optionally "
    "from a random point of it (`random_init`); much stronger. "
    "**Strongest**: per image, the worst case over APGD (adaptive step size, cross-entropy and targeted DLR "
    "losses) and a gradient-free random search (Square Attack in L-inf and L2, Sparse-RS in L1; it catches "
    "gradient masking); what the model cards' headline figures use, here with a smaller budget.")
#: Under the attack choice in L1: what FGSM means there.
L1_FGSM_CAPTION = ("FGSM in L1 is the best single step: all of ε goes to the pixels with the largest gradient, "
                   "each pushed as far as [0, 1] allows, so the L1 size is ε unless the image runs out of room.")
STRONGEST_UNTARGETED = ("The strongest attack is untargeted: any wrong digit counts (its APGD-T runs pick their "
                        "own targets, each image's runner-up classes).")
SOURCE_LABELS = {Source.WHITE_BOX: "its own (white-box)", Source.TRANSFER: "another model's (transfer)"}
SOURCE_HELP = (f"White-box attacks each model through its own gradients (the honest test); transfer crafts one "
               f"perturbation on one model for all, as the NSL tutorial does on {TRANSFER_SOURCE} (weaker).")


@dataclasses.dataclass(frozen=True)
class Controls:
    """Everything the sidebar sets."""

    scenario: Scenario
    models: list[str]
    noise: bool


def _model_selector(available: Sequence[str], summaries: Mapping[str, str]) -> list[str]:
    keys.default(keys.MODELS, [name for name in DEFAULT_MODELS if name in available] or list(available[:1]))
    st.session_state[keys.MODELS] = [name for name in st.session_state[keys.MODELS] if name in available]
    return list(st.multiselect("Models to attack", list(available), key=keys.MODELS,
                               help=" · ".join(f"{name}: {summaries.get(name, '')}" for name in available)))


def _transfer_source(available: Sequence[str]) -> str:
    """The model a transfer attack is crafted on: any loaded model, the base model by default."""
    keys.default(keys.TRANSFER_FROM, TRANSFER_SOURCE)
    if st.session_state[keys.TRANSFER_FROM] not in available and available:
        st.session_state[keys.TRANSFER_FROM] = TRANSFER_SOURCE if TRANSFER_SOURCE in available else available[0]
    return st.selectbox("Crafted on", list(available), key=keys.TRANSFER_FROM,
                        help="The model whose gradients craft the one perturbation every model receives.")


def _pgd_settings(epsilon: float) -> tuple[int, float, bool]:
    keys.default(keys.STEPS, 40)
    keys.default(keys.STEP_FRACTION, 0.1)
    keys.default(keys.RANDOM_START, True)
    steps = st.slider("PGD steps", 1, MAX_PGD_STEPS, key=keys.STEPS, help="NSL's `pgd_iterations`.")
    fraction = st.select_slider("Step size", STEP_FRACTIONS, key=keys.STEP_FRACTION,
                                format_func=lambda value: f"{value:g} × ε", help="NSL's `adv_step_size`.")
    st.caption(f"Each step moves {fraction * epsilon:.3g}; after each, the image is projected back into the ε-ball.")
    random_start = st.checkbox("Random start inside the ε-ball", key=keys.RANDOM_START,
                               help="NSL's `random_init`.")
    return int(steps), float(fraction), bool(random_start)


def strongest_budget_caption(norm: Norm) -> str:
    """One line naming the strongest attack's budget in ``norm`` and its random search."""
    budget = dataclasses.replace(APP_BUDGET, norm=norm)
    return (f"Budget per image and model: {budget.describe()} (APGD steps; {budget.chains} {budget.search} searches "
            f"of {budget.queries:,} queries side by side); about 2 s per model. The model cards' figures use "
            "far more, doubled until more no longer changes them: beyond a model's training radius this budget "
            "misses adversarial images that they find, so a HELD there is weaker evidence than the card's figure.")


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
    targeted = st.toggle("Targeted: push towards a chosen digit", key=keys.TARGETED, disabled=untargeted_only)
    target = None
    if targeted:
        choices = target_choices(label)
        keys.default(keys.TARGET, default_target(label))
        moved = st.session_state[keys.TARGET] if st.session_state[keys.TARGET] not in choices else None
        if moved is not None:
            st.session_state[keys.TARGET] = default_target(label)
        target = int(st.selectbox("Target digit", choices, key=keys.TARGET, disabled=untargeted_only,
                                  help="Any digit but this one's own label."))
        if moved is not None:
            st.caption(f"Target {moved} is this digit's own label: the target is now {target}.")
    if untargeted_only:
        st.caption(STRONGEST_UNTARGETED + (f" Target {target} is not applied; it returns with FGSM or PGD."
                                           if target is not None else ""))
        return None
    return target


def _norm_eps_attack(norm_area: DeltaGenerator, eps_area: DeltaGenerator, method_area: DeltaGenerator,
                     short: bool) -> tuple[Norm, float, Method]:
    """The three controls a class watches, each drawn in its area (the sidebar, or presentation mode's row above
    the results, with ``short`` labels). Always the same keys: one widget per setting wherever it is drawn
    (Streamlit identifies these widgets by their key, so moving one keeps its value)."""
    keys.default(keys.NORM, Norm.LINF)
    norm = norm_area.radio("Norm" if short else "Norm of the perturbation", list(Norm), key=keys.NORM,
                           horizontal=True, format_func=lambda value: value.label, help=NORM_HELP)
    eps_default, eps_max = EPSILON_DEFAULTS[norm]
    keys.default(keys.eps_key(norm), eps_default)
    epsilon = eps_area.slider(f"ε ({norm.label})" if short else f"ε: size of the perturbation ({norm.label})", 0.0,
                              float(eps_max), step=EPS_STEPS[norm], key=keys.eps_key(norm),
                              help=f"Default {eps_default:g}" + (" (the NSL tutorial's step size)."
                                                                if norm is Norm.LINF else "."))
    keys.default(keys.METHOD, Method.FGSM)
    method = method_area.radio("Attack", list(Method), key=keys.METHOD, horizontal=True,
                               format_func=(METHOD_SHORT_LABELS if short else METHOD_LABELS).get, help=METHOD_HELP)
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
        st.header("The attack")
        models = _model_selector(available, summaries)
        if row is not None:
            eps_area, norm_area, method_area = row
            st.caption(MOVED_CAPTION)
            norm, epsilon, method = _norm_eps_attack(norm_area, eps_area, method_area, short=True)
        else:
            norm, epsilon, method = _norm_eps_attack(st.sidebar, st.sidebar, st.sidebar, short=False)
        if norm is Norm.L1 and method is Method.FGSM:
            st.caption(L1_FGSM_CAPTION)
        steps, fraction, random_start = 40, 0.1, True
        if method is Method.PGD:
            steps, fraction, random_start = _pgd_settings(epsilon)
        elif method is Method.STRONGEST:
            st.caption(strongest_budget_caption(norm))
        target = _target_settings(method, label)
        keys.default(keys.SOURCE, Source.WHITE_BOX)
        source = st.radio("Gradients from", list(Source), key=keys.SOURCE, format_func=SOURCE_LABELS.get)
        transfer_from = _transfer_source(available) if source is Source.TRANSFER else TRANSFER_SOURCE
        st.caption(SOURCE_HELP)
        keys.default(keys.NOISE, False)
        noise = st.toggle("Compare with random noise of the same size", key=keys.NOISE,
                          help="Adds random noise with the same norm as each perturbation: if the noise does "
                               "not fool the model, the attack is more than noise.")
    scenario = Scenario(norm=norm, epsilon=float(epsilon), method=method, steps=steps, step_fraction=fraction,
                        random_start=random_start, target=target, source=source, transfer_from=transfer_from)
    return Controls(scenario, models, bool(noise))
