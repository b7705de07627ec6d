"""The "How it works" panel: the formulas behind the attacks, the training and the figures, for students.

Nothing in it is typed twice: the strongest attack's budgets come from ``advdemo.configs``, the recipes' knobs
from ``advdemo.configs.recipes``, the eps of the headline figures from ``advdemo.evaluation.suite``, and every
accuracy from the model cards, read when the page runs (looked up with ``find_entry``). A figure missing from a card, or
malformed, drops the sentence that needs it: the panel never prints a stale or made-up number.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import streamlit as st

from advdemo.attacks import norms
from advdemo.configs import APP_BUDGET, EVALUATION_BUDGET, AttackConfig, Norm, recipes
from advdemo.evaluation import (
    CERTIFIED_EPSILONS,
    HEADLINE_EPSILONS,
    UNCONVERGED,
    AttackSpec,
    certified_figure,
    converged,
    find_entry,
    headline_pgd,
    strongest_entry,
)
from advdemo.ui.lang import N_, _, num

#: A model name -> its card (``None`` when it could not be read).
Cards = Mapping[str, Mapping[str, Any] | None]

EXPANDER = N_("How it works: the formulas behind the attacks, the training and the figures")
TABS = (N_("FGSM and PGD"), N_("The strongest attack"), N_("Adversarial training"), N_("White-box vs transfer"),
        N_("Gradient masking"), N_("A proof"))
#: Figures measured on fewer test images than this are marked with a footnote.
FULL_TEST_SET = 10_000
#: A gap (in accuracy) between a gradient attack and the strongest attack large enough to point out.
NOTABLE_GAP = 0.02
#: MNIST's pixels per image.
PIXELS = 28 * 28


@dataclasses.dataclass(frozen=True)
class Figure:
    """One accuracy read from a card."""

    accuracy: float
    n: int
    converged: bool = True

    def __str__(self) -> str:
        """E.g. ``**92.53%**``, with a footnote mark when measured on a sample and a † when it is a strongest
        figure whose doubling check did not pass (more of the attack may lower it)."""
        return (f"**{num(self.accuracy, '.2%')}**" + ("\\*" if self.n < FULL_TEST_SET else "")
                + ("" if self.converged else UNCONVERGED))


def figure(card: Mapping[str, Any] | None, spec: AttackSpec) -> Figure | None:
    """The card's accuracy under ``spec``, or ``None`` when the card lacks it (or it is malformed)."""
    if not isinstance(card, Mapping) or not isinstance(card.get("metrics"), list):
        return None
    if spec == AttackSpec.strongest(spec.eps, spec.norm):  # the cards' budget, or an older one marked †
        entry = strongest_entry(card["metrics"], spec.eps, spec.norm)
    else:
        entry = find_entry(card["metrics"], spec)
    if entry is None:
        return None
    try:
        accuracy, n = float(entry["accuracy"]), int(entry["n"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if not (0.0 <= accuracy <= 1.0 and n > 0):  # NaN fails the range test
        return None
    return Figure(accuracy, n, spec.kind != "strongest" or converged(entry))


def _short(value: float) -> str:
    """``1e-6`` rather than Python's ``1e-06``."""
    return f"{value:g}".replace("e-0", "e-")


def _neighbour(attack: AttackConfig) -> str:
    """How a recipe builds x_adv, in NSL's vocabulary."""
    norm = attack.adv_grad_norm.label
    if attack.is_fgsm:
        return _("one FGSM step, `adv_step_size` = {step:g} in {norm}").format(step=attack.adv_step_size, norm=norm)
    start = _(", random start (`random_init`)") if attack.random_init else ""
    return _("PGD, `pgd_iterations` = {steps} steps of `adv_step_size` = {step:g} in the {norm} ball of "
             "`pgd_epsilon` = {eps:g}{start}").format(steps=attack.pgd_iterations, step=attack.adv_step_size,
                                                      norm=norm, eps=attack.epsilon, start=start)


def _attacks_tab() -> None:
    st.markdown(_("An attack adds a perturbation δ to the image x (pixels in [0, 1]) to make the loss "
                "L = CE(y, f(x + δ)) large, with δ in the **ε-ball** of a norm (NSL's `adv_grad_norm`): L-inf "
                "bounds each pixel's change, L2 the change's Euclidean length, L1 the total change."))
    st.markdown(_("**FGSM**: one step of length ε up the input gradient g = ∇ₓL:"))
    st.latex(r"x_{\mathrm{adv}} = \operatorname{clip}_{[0,1]}\big(x + \varepsilon\, d(\nabla_x L(x, y))\big)")
    st.markdown(_("d is the **steepest-ascent direction**: the step of norm 1 that raises L the most (to first "
                  "order), {formula}:").format(formula=r"$d = \arg\max_{\lVert d \rVert \le 1} \langle d, g \rangle$"))
    st.latex(r"d(g) = \begin{cases} \operatorname{sign}(g) & L_\infty \\ g \,/\, \lVert g \rVert_2 & L_2 \\ "
             r"\operatorname{sign}(g_i)/k \text{ " + _("on the") + r" } k \text{ "
             + _("movable pixels with the largest") + r" } |g_i|,"
             r"\ 0 \text{ " + _("elsewhere") + r"} & L_1 \end{cases}")
    k = math.ceil((1 - norms.L1_QUANTILE) * PIXELS)
    st.markdown(_("In L1 the attacks use **sparse L1 descent**: a pixel is *movable* if it can still go the way "
                  "sign(gᵢ) points inside [0, 1], and k is the top {share} of them (at most {k} of 784). **FGSM in "
                  "L1** is the best single step inside the ball and [0, 1]: ε spent on the pixels with the largest "
                  "|gᵢ|, each pushed as far as it can go:").format(share=num(1 - norms.L1_QUANTILE, ".0%"), k=k))
    st.latex(r"s^\star = \arg\max_{\lVert s \rVert_1 \le \varepsilon,\ x + s \in [0,1]^n} \langle s, g \rangle")
    st.markdown(_("Training neighbours keep **NSL's directions**: in L1 the whole step on the pixel(s) with the "
                  "largest |gᵢ|, wherever they are (once such a pixel is at 0 or 1, clipping cancels the step), in L2 "
                  "g / max(‖g‖₂, {floor}). In L-inf both are sign(g).").format(floor=_short(norms.L2_NORM_FLOOR)))
    pgd = headline_pgd(HEADLINE_EPSILONS[Norm.LINF][0], Norm.LINF)
    st.markdown(_("**PGD**: `pgd_iterations` steps of `adv_step_size` α, each projected (Π) back onto the ball of "
                  "radius `pgd_epsilon` ε, then clipped to [0, 1]:"))
    st.latex(r"\delta_0 = 0 \ \text{" + _("or") + r"}\ \delta_0 \sim \mathcal{U}(B_\varepsilon), \qquad "
             r"\delta_{t+1} = \Pi_{B_\varepsilon}\big(\delta_t + \alpha\, d(\nabla_x L(x + \delta_t, y))\big), \qquad "
             r"B_\varepsilon = \{\delta : \lVert \delta \rVert \le \varepsilon\}")
    st.markdown(_("Π is the nearest point of the ball: L-inf clips each pixel to [−ε, ε], L2 rescales δ by "
                "min(1, ε / ‖δ‖₂), L1 soft-thresholds δ (the exact projection). A **random start** (`random_init`) "
                "draws δ₀ uniformly in the ball; **restarts** run PGD again from new random starts, and an image "
                "counts as fooled if any step of any run fools it. FGSM is PGD with one step of α = ε from δ₀ = 0. "
                  "The cards' {name}: {budget} (α = ε/10).").format(name=pgd.name, budget=pgd.budget()))


def _strongest_tab() -> None:
    linf = APP_BUDGET, EVALUATION_BUDGET
    l1 = tuple(dataclasses.replace(budget, norm=Norm.L1) for budget in linf)
    st.markdown(_("FGSM and PGD can miss adversarial images that exist, so the figure to trust is the **strongest "
                "attack**: per image, the worst case over an ensemble of different attacks (as AutoAttack reports). "
                "**APGD-CE** is PGD with momentum and a step size that halves where progress stalls, on the "
                "cross-entropy; **APGD-T** ascends the targeted DLR loss towards the runner-up classes; a "
                "**random search** on the margin $z_y - \\max_{i \\ne y} z_i$ needs no gradient at all: Square "
                "Attack in L-inf and L2, Sparse-RS in L1 (it sets about ε pixels to 0 or 1). A model that hides its "
                "gradients cannot hide from the search. An image holds only if every member fails:"))
    st.latex(r"\text{" + _("holds") + r"}(x) \iff f(x') = y \ \text{ " + _("for every") + r" } x' \in "
             r"\{x_{\text{APGD-CE}},\ x_{\text{APGD-T}},\ x_{\text{search}}\}")
    st.markdown(_("Budgets: the cards' \"strongest\" figures start from {evaluation} ({evaluation_l1} in L1), "
                  "AutoAttack's standard budget, and double every member's budget on the images left standing until "
                  "a doubling no longer lowers the figure by half a point: a budget is only enough when more of it "
                  "changes nothing. On one digit the app runs {app} ({app_l1} in L1; {chains} random searches side "
                  "by side), which agrees with the cards' converged attack on most digits "
                  "(`benchmarks/app_agreement.py` measures how often).").format(
        evaluation=linf[1].describe(), evaluation_l1=l1[1].describe(), app=linf[0].describe(),
        app_l1=l1[0].describe(), chains=linf[0].chains))


def _training_tab() -> None:
    tutorial, robust = recipes.RECIPES["tutorial"].adv_config, recipes.RECIPES["robust"].adv_config
    st.markdown(_("**Adversarial regularization** (NSL's `AdversarialRegularization`): each training batch builds "
                  "x_adv on the current weights (no gradient flows through its construction) and adds its loss:"))
    st.latex(r"\mathcal{L}_{\text{NSL}} = \mathrm{CE}\big(y, f(x)\big) + \text{multiplier} \cdot "
             r"\mathrm{CE}\big(y, f(x_{\mathrm{adv}})\big)")
    if tutorial is not None:
        st.markdown(_("The NSL tutorial (the **tutorial** model): `multiplier` = {multiplier:g}, x_adv = "
                      "{neighbour}.").format(multiplier=tutorial.multiplier, neighbour=_neighbour(tutorial.attack)))
    st.markdown(_("**TRADES** (Zhang et al. 2019) keeps the clean cross-entropy and penalises how far the "
                  "prediction moves inside the ball; x_adv is the point that moves it most (found by PGD on the KL):"))
    st.latex(r"\mathcal{L}_{\text{TRADES}} = \mathrm{CE}\big(y, f(x)\big) + \beta \cdot "
             r"\mathrm{KL}\big(p(x) \,\Vert\, p(x_{\mathrm{adv}})\big), \qquad "
             r"x_{\mathrm{adv}} \approx \arg\max_{\lVert x' - x \rVert \le \varepsilon} "
             r"\mathrm{KL}\big(p(x) \,\Vert\, p(x')\big)")
    if robust is not None:
        st.markdown(_("The **robust** model: β (the `multiplier`) = {multiplier:g}, x_adv = {neighbour}.").format(
            multiplier=robust.multiplier, neighbour=_neighbour(robust.attack)))
    st.markdown(_("The multiplier trades clean accuracy for robustness; 0 is normal training (the **base** model)."))


def _transfer_tab(cards: Cards) -> list[Figure]:
    st.markdown(_("**White-box**: the attack is computed on the gradients of the model under test, the honest test "
                "(an attacker who has the model). **Transfer**: the perturbation is crafted on another model (the "
                "sidebar's *Crafted on*, base by default) and fed to this one, as the NSL tutorial evaluates. "
                "Adversarial images often transfer, but less well, so a transfer figure overstates robustness. A "
                "transfer attack that beats the white-box one means the model's own gradients mislead attackers: "
                "see gradient masking."))
    tutorial = recipes.RECIPES["tutorial"].adv_config
    if tutorial is None:
        return []
    eps = tutorial.attack.adv_step_size
    card = cards.get("tutorial")
    pgd = headline_pgd(eps, Norm.LINF)
    transfer, white, stronger = (figure(card, AttackSpec.fgsm(eps, source="base")), figure(card, AttackSpec.fgsm(eps)),
                                 figure(card, pgd))
    if transfer is None or white is None or stronger is None:
        return []
    if transfer.accuracy < white.accuracy:
        verdict = _("The transfer attack beats the white-box FGSM here: a sign of gradient masking.")
    elif stronger.accuracy < transfer.accuracy:
        verdict = _("The white-box attacks find more: the tutorial's own figure overstates the model's robustness.")
    else:
        verdict = ""
    st.markdown(_("The **tutorial** model at L-inf {eps}: FGSM crafted on base (the NSL tutorial's evaluation) "
                  "{transfer}, white-box FGSM {white}, white-box {pgd} {stronger}.").format(
        eps=num(eps), transfer=transfer, white=white, pgd=pgd.name, stronger=stronger) + (f" {verdict}" if verdict
                                                                                        else ""))
    return [transfer, white, stronger]


def _gap(weaker: Figure, strongest_figure: Figure, found: str, agree: str) -> str:
    """``found`` when the strongest attack leaves notably fewer images standing, else ``agree``."""
    return found if weaker.accuracy - strongest_figure.accuracy >= NOTABLE_GAP else agree


def _masking_tab(cards: Cards) -> list[Figure]:
    """Gradient masking, its signs, and the cards' figures that show them (the masked model's, and the robust
    model's in L1); returns the figures quoted. Long because it is mostly the text of the tab."""
    st.markdown(_("**Gradient masking**: a model whose input gradients are useless near the data (zero, saturated or "
                "noisy) stops gradient attacks without being robust: the adversarial images are still there, the "
                "gradients just do not lead to them. Signs (Athalye et al. 2018):\n"
                "- one FGSM step leaves far more accuracy than PGD's many small steps;\n"
                "- a transfer attack beats the white-box one;\n"
                "- a gradient-free attack (Square Attack, Sparse-RS) finds what gradient attacks cannot;\n"
                "- accuracy does not fall to about 0 at a huge ε.\n\n"
                "The cards check these (failed checks are shown under *Test set: accuracy vs ε*). Read the lowest "
                "figure, the strongest attack's."))
    lines, shown = [], []
    tutorial, robust = recipes.RECIPES["tutorial"].adv_config, recipes.RECIPES["robust"].adv_config
    if tutorial is not None:
        eps = tutorial.attack.adv_step_size
        pgd = headline_pgd(eps, Norm.LINF)
        card = cards.get("tutorial")
        values = figure(card, AttackSpec.fgsm(eps)), figure(card, pgd), figure(card, AttackSpec.strongest(eps))
        if None not in values:
            fgsm, stepped, best = values
            lines.append(_("**tutorial**, L-inf {eps}: FGSM {fgsm}, {pgd} {stepped}, strongest {best}.").format(
                eps=num(eps), fgsm=fgsm, pgd=pgd.name, stepped=stepped, best=best) + " " + _gap(
                fgsm, best, _("It resists one FGSM step far better than the stronger attacks: one FGSM figure does "
                              "not show robustness."), _("The attacks agree.")))
            shown += values
    robust_card = cards.get("robust")
    eps = max(HEADLINE_EPSILONS[Norm.LINF])
    pgd = headline_pgd(eps, Norm.LINF)
    values = figure(robust_card, pgd), figure(robust_card, AttackSpec.strongest(eps))
    if None not in values:
        stepped, best = values
        radius = robust.attack.epsilon if robust is not None else None
        beyond = (_(" (trained at {radius}: beyond its training radius)").format(radius=num(radius))
                  if radius is not None and eps > radius else "")
        lines.append(_("**robust**, L-inf {eps}{beyond}: {pgd} {stepped}, strongest {best}.").format(
            eps=num(eps), beyond=beyond, pgd=pgd.name, stepped=stepped, best=best) + " " + _gap(
            stepped, best, _("The strongest attack, whose Square Attack needs no gradient, finds adversarial images "
                             "that PGD's gradients miss: partial gradient masking."),
            _("PGD had converged: no sign of masking here.")))
        shown += values
    eps = HEADLINE_EPSILONS[Norm.L1][0]
    pgd = headline_pgd(eps, Norm.L1)
    gradients_only = dataclasses.replace(EVALUATION_BUDGET, norm=Norm.L1, sparse_rs_queries=0)
    values = figure(robust_card, pgd), figure(robust_card, AttackSpec.strongest(eps, Norm.L1))
    if None not in values:
        stepped, best = values
        apgd = figure(robust_card, AttackSpec.strongest(eps, Norm.L1, gradients_only))
        alone = _(", {budget} alone {figure}").format(budget=gradients_only.describe(), figure=apgd) \
            if apgd is not None else ""
        lines.append(_("**robust**, L1 {eps}: {pgd} {stepped}{alone}, strongest (with Sparse-RS) {best}.").format(
            eps=num(eps), pgd=pgd.name, stepped=stepped, alone=alone, best=best) + " "
                     + _gap(stepped, best, _("Trained against L-inf attacks only, its L1 gradients lead nowhere; "
                                             "Sparse-RS, which never looks at them, breaks it."),
                            _("PGD and the strongest attack agree.")))
        shown += values + ((apgd,) if apgd is not None else ())
    if lines:
        st.markdown(_("**In the cards** (test accuracy):") + "\n" + "\n".join(f"- {line}" for line in lines))
    return shown


def _proofs_tab(cards: Cards) -> None:
    """Interval bound propagation in a few lines, and the cards' certified figures beside their strongest ones."""
    st.markdown(_(
        "An attack that fails proves nothing: a stronger one may succeed. A **certificate** proves that *no* "
        "change inside the ball alters the answer. **Interval bound propagation** (Gowal et al. 2018) pushes the "
        "whole L-inf ball through the network as a box: each pixel in $[\\max(x-\\varepsilon, 0), "
        "\\min(x+\\varepsilon, 1)]$; a layer $z = Wh + b$ maps the box of centre $\\mu$ and radius $r$ to "
        "centre $W\\mu + b$ and radius $|W|\\,r$; ReLU and max pooling map its corners. If, over the last box, the "
        "lower bound of $z_y - z_j$ is above 0 for every other class $j$, the digit is **proven** at "
        "$\\varepsilon$: the page says 🔒 PROVEN. So for every model, certified $\\le$ true robust accuracy "
        "$\\le$ strongest attack. The boxes grow layer by layer, so the proof is only useful for a model trained "
        "to keep them small (IBP training minimises the cross-entropy of the worst-case logits the box allows); "
        "for the others it proves almost nothing, which is a fact about those models, not a flaw of the proof."))
    lines = []
    for name, card in cards.items():
        parts = []
        for eps in CERTIFIED_EPSILONS:
            certified, strongest = certified_figure(card, eps), strongest_entry((card or {}).get("metrics", []), eps)
            if certified is not None and strongest is not None:
                parts.append(_("L-inf {eps}: certified {certified}, strongest attack {strongest}").format(
                    eps=num(eps), certified=num(certified["accuracy"], ".1%"),
                    strongest=num(strongest["accuracy"], ".1%")))
        if parts:
            lines.append(f"**{name}**: " + "; ".join(parts))
    if lines:
        st.markdown(_("**In the cards** (test accuracy; the truth lies between the two):") + "\n"
                    + "\n".join(f"- {line}" for line in lines))


def _bundled_cards() -> dict[str, Mapping[str, Any] | None]:
    """The bundled models' cards, read through the app's cache (re-read when a card file changes)."""
    from advdemo.ui import resources

    return {info.name: resources.card(info)[0] for info in resources.roster().models if info.bundled}


def explanations(cards: Cards | None = None) -> None:
    """The "How it works" expander: FGSM and the steepest-ascent direction in each norm, PGD and its projection,
    the strongest attack, NSL's and TRADES' losses, white-box versus transfer, and gradient masking with the
    figures of ``cards`` (model name -> card; default: the bundled models' cards, read now)."""
    cards = _bundled_cards() if cards is None else cards
    with st.expander(_(EXPANDER), icon=":material/functions:"):
        attacks, strongest_attack, training, transfer, masking, proofs = st.tabs([_(tab) for tab in TABS])
        with attacks:
            _attacks_tab()
        with strongest_attack:
            _strongest_tab()
        with training:
            _training_tab()
        shown = []
        with transfer:
            shown += _transfer_tab(cards)
        with masking:
            shown += _masking_tab(cards)
        with proofs:
            _proofs_tab(cards)
        samples = sorted({item.n for item in shown if item.n < FULL_TEST_SET})
        if samples:
            st.caption(_("Figures from the model cards (`pretrained/NAME.json`), read now. \\* On a fixed random "
                         "sample of {samples} of the {total} test images.").format(
                samples=_(" or ").join(num(n, ",") for n in samples), total=num(FULL_TEST_SET, ",")))
        elif shown:
            st.caption(_("Figures from the model cards (`pretrained/NAME.json`), read now, on all {total} test "
                         "images.").format(total=num(FULL_TEST_SET, ",")))
        if any(not item.converged for item in shown):
            st.caption(UNCONVERGED + " " + _("The strongest attack's budget was not shown to be enough for this figure "
                                             "(its doubling check failed or was not run): a stronger attack may lower "
                                             "it."))
