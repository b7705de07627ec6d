"""The "How it works" panel (``advdemo.ui.explain``), rendered headless with AppTest.

The panel alone runs in ``AppTest.from_function`` on synthetic cards whose figures are known (plus decoy entries
that a wrong look-up would print); the bundled cards are checked against an independent look-up of their JSON;
one test runs the whole app to see that the panel is on the page.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from typing import Any

import pytest
from apptest_support import APP, TIMEOUT
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.configs import EVALUATION_BUDGET, QUICK_BUDGET, AttackConfig, Norm, StrongestConfig, recipes
from advdemo.evaluation import AttackSpec
from advdemo.ui import explain, keys
from advdemo.ui.results import VIEW_CURVES

#: Generous: the first run imports TensorFlow on a busy machine.
L1_ONLY_GRADIENTS = dataclasses.replace(EVALUATION_BUDGET, norm=Norm.L1, sparse_rs_queries=0)


def entry(spec: AttackSpec, accuracy: float, n: int = 10_000, converged: bool = True) -> dict[str, Any]:
    """A card entry, as ``python -m advdemo.evaluate --write-card`` writes it (a strongest figure with a passed
    doubling check unless ``converged`` is false)."""
    found = spec.as_entry(n, accuracy)
    if spec.kind == "strongest" and converged:
        found["doubling_check"] = {"passed": True, "moved_points": 0.2, "tolerance_points": 0.5, "n": n,
                                   "enough": spec.budget(), "runs": []}
    return found


def synthetic_cards() -> dict[str, dict[str, Any]]:
    """Cards with figures found nowhere else, and decoys: entries a wrong look-up would pick instead."""
    tutorial = [
        entry(AttackSpec.clean(), 0.9911),
        entry(AttackSpec.fgsm(0.2, source="base"), 0.9345),
        entry(AttackSpec.fgsm(0.2), 0.8123),
        entry(AttackSpec.pgd(0.2, restarts=1), 0.4999),  # decoy: one restart
        entry(AttackSpec.pgd(0.2), 0.4567),
        entry(AttackSpec.strongest(0.2), 0.3912, n=1000),
        entry(AttackSpec.fgsm(0.3), 0.7777),  # decoy: another eps
    ]
    old_l1_pgd = {key: value for key, value in entry(AttackSpec.pgd(10.0, Norm.L1, restarts=1), 0.9555).items()
                  if key != "direction"}  # decoy: measured with NSL's weaker L1 direction
    robust = [
        entry(AttackSpec.clean(), 0.9857),
        entry(AttackSpec.strongest(0.2), 0.9111, n=1000),  # decoy: another eps
        entry(AttackSpec.pgd(0.3), 0.8765),
        entry(AttackSpec.strongest(0.3), 0.6543, n=1000),
        old_l1_pgd,
        entry(AttackSpec.pgd(10.0, Norm.L1, restarts=1), 0.9012, n=1000),
        entry(AttackSpec.strongest(10.0, Norm.L1, L1_ONLY_GRADIENTS), 0.8310, n=1000),
        entry(AttackSpec.strongest(10.0, Norm.L1), 0.1234, n=1000),
    ]
    return {"base": {"metrics": [entry(AttackSpec.clean(), 0.9934)]}, "tutorial": {"metrics": tutorial},
            "robust": {"metrics": robust}}


def percent(accuracy: float) -> str:
    return f"{100 * accuracy:.2f}%"


def panel(cards):
    from advdemo.ui import explain

    explain.explanations(cards)


def render(cards) -> AppTest:
    at = AppTest.from_function(panel, args=(cards,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def tab_text(at: AppTest, label: str) -> str:
    """Everything the tab ``label`` of the panel says (markdown and formulas)."""
    (tab,) = [tab for tab in at.tabs if tab.label == label]
    return "\n".join([item.value for item in tab.markdown] + [item.value for item in tab.latex])


def panel_text(at: AppTest) -> str:
    return "\n".join(tab_text(at, label) for label in explain.TABS) + "\n".join(c.value for c in at.caption)


def masking_lines(at: AppTest) -> list[str]:
    """The bullets under "In the cards", one per sentence with figures."""
    text = tab_text(at, "Gradient masking")
    return [line for line in text.splitlines() if line.startswith("- **")]


def test_the_panel_shows_the_key_formulas_in_five_tabs():
    at = render(synthetic_cards())
    assert [expander.label for expander in at.expander] == [explain.EXPANDER]
    assert [tab.label for tab in at.tabs] == list(explain.TABS)
    formulas = [latex.value.strip("$\n") for latex in at.latex]  # st.latex wraps its body in $$ lines
    fgsm = next(f for f in formulas if f.startswith(r"x_{\mathrm{adv}}"))
    assert r"\operatorname{clip}_{[0,1]}" in fgsm and r"\varepsilon\, d(\nabla_x L(x, y))" in fgsm
    direction = next(f for f in formulas if f.startswith("d(g)"))
    for case in (r"\operatorname{sign}(g) & L_\infty", r"g \,/\, \lVert g \rVert_2 & L_2",
                 r"\operatorname{sign}(g_i)/k \text{ on the } k \text{ movable pixels"):
        assert case in direction
    assert any(r"\lVert s \rVert_1 \le \varepsilon,\ x + s \in [0,1]^n" in f for f in formulas)  # FGSM in L1
    assert any(r"\Pi_{B_\varepsilon}" in f and r"\nabla_x L(x + \delta_t, y)" in f for f in formulas)  # PGD
    assert any(r"\text{multiplier} \cdot \mathrm{CE}\big(y, f(x_{\mathrm{adv}})\big)" in f for f in formulas)
    assert any(r"\beta \cdot \mathrm{KL}\big(p(x) \,\Vert\, p(x_{\mathrm{adv}})\big)" in f for f in formulas)
    assert "APGD-CE" in tab_text(at, "The strongest attack") and "Sparse-RS" in tab_text(at, "The strongest attack")


def test_the_figures_are_the_cards_own_and_in_their_sentences():
    cards = synthetic_cards()
    at = render(cards)
    lines = masking_lines(at)
    assert len(lines) == 3
    assert lines[0].startswith(f"- **tutorial**, L-inf 0.2: FGSM **{percent(0.8123)}**, PGD-40 x3 "
                               f"**{percent(0.4567)}**, strongest **{percent(0.3912)}**\\*. ")
    assert lines[1].startswith(f"- **robust**, L-inf 0.3 (trained at 0.25: beyond its training radius): PGD-40 x3 "
                               f"**{percent(0.8765)}**, strongest **{percent(0.6543)}**\\*. ")
    assert lines[2].startswith(f"- **robust**, L1 10: PGD-40 **{percent(0.9012)}**\\*, APGD-CE 100 + APGD-T 9x100 "
                               f"alone **{percent(0.8310)}**\\*, strongest (with Sparse-RS) **{percent(0.1234)}**\\*. ")
    # the gaps are large, so each line says what they mean
    assert "one FGSM figure does not show robustness" in lines[0]
    assert "partial gradient masking" in lines[1] and "Sparse-RS, which never looks at them" in lines[2]
    transfer = tab_text(at, "White-box vs transfer")
    assert (f"FGSM crafted on base (the NSL tutorial's evaluation) **{percent(0.9345)}**, white-box FGSM "
            f"**{percent(0.8123)}**, white-box PGD-40 x3 **{percent(0.4567)}**") in transfer
    assert "overstates the model's robustness" in transfer
    text = panel_text(at)
    for decoy in (0.4999, 0.7777, 0.9111, 0.9555):
        assert percent(decoy) not in text
    assert "On a fixed random sample of 1,000 of the 10,000 test images" in text


def test_close_figures_are_not_called_masking_and_a_transfer_win_is():
    cards = synthetic_cards()
    for item in cards["robust"]["metrics"]:
        if item["attack"] == "strongest" and item["eps"] == 0.3:
            item["accuracy"] = 0.8700  # within 2 points of PGD's 87.65%
    for item in cards["tutorial"]["metrics"]:
        if item["attack"] == "fgsm" and item["source"] == "base":
            item["accuracy"] = 0.8000  # below white-box FGSM's 81.23%
    at = render(cards)
    robust_linf = masking_lines(at)[1]
    assert percent(0.87) in robust_linf and "no sign of masking" in robust_linf and "partial" not in robust_linf
    assert "The transfer attack beats the white-box FGSM here" in tab_text(at, "White-box vs transfer")


@pytest.mark.parametrize("breakage", ["drop the L1 strongest figure", "malformed tutorial figure", "no tutorial card",
                                      "no cards at all"])
def test_a_missing_figure_drops_its_sentence(breakage):
    cards = synthetic_cards()
    if breakage == "drop the L1 strongest figure":
        wanted = AttackSpec.strongest(10.0, Norm.L1).key()
        cards["robust"]["metrics"] = [item for item in cards["robust"]["metrics"]
                                      if any(item.get(key) != value for key, value in wanted.items())]
    elif breakage == "malformed tutorial figure":
        for item in cards["tutorial"]["metrics"]:
            if item["attack"] == "strongest":
                item["accuracy"] = math.nan
    elif breakage == "no tutorial card":
        cards["tutorial"] = None
    else:
        cards = {}
    at = render(cards)
    lines = masking_lines(at)
    text = panel_text(at)
    starts = [line.split(":", 1)[0] for line in lines]
    if breakage == "drop the L1 strongest figure":
        assert starts == ["- **tutorial**, L-inf 0.2", "- **robust**, L-inf 0.3 (trained at 0.25"]
        assert percent(0.9012) not in text and percent(0.8310) not in text  # the rest of the sentence goes too
    elif breakage == "malformed tutorial figure":
        assert starts == ["- **robust**, L-inf 0.3 (trained at 0.25", "- **robust**, L1 10"]
        assert "nan" not in text.lower() and percent(0.8123) in tab_text(at, "White-box vs transfer")
    elif breakage == "no tutorial card":
        assert starts == ["- **robust**, L-inf 0.3 (trained at 0.25", "- **robust**, L1 10"]
        assert percent(0.9345) not in text and percent(0.8123) not in text
    else:
        assert lines == [] and "In the cards" not in text and "**%" not in text and "%**" not in text
        assert not [caption for caption in at.caption if "model cards" in caption.value]
    assert len(at.latex) >= 6  # the formulas never depend on the cards


def test_budgets_and_recipes_are_read_from_the_code(monkeypatch):
    monkeypatch.setattr(explain, "APP_BUDGET", StrongestConfig(
        apgd_steps=77, target_classes=4, square_queries=123, sparse_rs_queries=456))
    monkeypatch.setattr(explain, "EVALUATION_BUDGET", StrongestConfig(
        apgd_steps=88, target_classes=5, square_queries=234, sparse_rs_queries=567))
    changed = dict(recipes.RECIPES)
    robust, tutorial = changed["robust"], changed["tutorial"]
    changed["robust"] = dataclasses.replace(robust, adv_config=dataclasses.replace(
        robust.adv_config, multiplier=7.5, attack=AttackConfig.pgd(0.35, steps=13, step_size=0.05)))
    changed["tutorial"] = dataclasses.replace(tutorial, adv_config=dataclasses.replace(
        tutorial.adv_config, multiplier=0.3, attack=AttackConfig.fgsm(0.15)))
    monkeypatch.setattr(recipes, "RECIPES", changed)
    at = render(synthetic_cards())
    budgets = tab_text(at, "The strongest attack")
    assert ("the app runs APGD-CE 77 + APGD-T 4x77 + Square 123 (APGD-CE 77 + APGD-T 4x77 + Sparse-RS 456 in L1"
            in budgets)
    assert ("figures start from APGD-CE 88 + APGD-T 5x88 + Square 234 (APGD-CE 88 + APGD-T 5x88 + Sparse-RS 567 in "
            "L1)" in budgets)
    training = tab_text(at, "Adversarial training")
    assert "`multiplier` = 0.3, x_adv = one FGSM step, `adv_step_size` = 0.15 in L-inf" in training
    assert ("β (the `multiplier`) = 7.5, x_adv = PGD, `pgd_iterations` = 13 steps of `adv_step_size` = 0.05 in the "
            "L-inf ball of `pgd_epsilon` = 0.35, random start") in training
    # the tutorial's eps is now 0.15, which the cards never measured: its sentences go, nothing else is made up
    assert not [line for line in masking_lines(at) if "tutorial" in line]
    assert "(trained at 0.35" not in tab_text(at, "Gradient masking")  # 0.3 is inside the new radius


def cards_figure(card: dict[str, Any], **fields: Any) -> float | None:
    """An independent look-up: the accuracy of the card entry with exactly these fields."""
    for item in card.get("metrics", []):
        if all(item.get(key) == value for key, value in fields.items()):
            return item["accuracy"]
    return None


def strongest_figure(card: dict[str, Any], eps: float, norm: Norm) -> float | None:
    """An independent look-up of the strongest figure the page shows: at the cards' budget if the card has it,
    else at the largest sample among those measured with a random search at another budget."""
    budget = dataclasses.replace(EVALUATION_BUDGET, norm=norm)
    exact = cards_figure(card, attack="strongest", norm=norm.value, eps=eps, steps=budget.apgd_steps,
                         targets=budget.target_classes, queries=budget.queries, source="white-box")
    if exact is not None:
        return exact
    others = sorted((item["n"], item["accuracy"]) for item in card.get("metrics", [])
                    if item["attack"] == "strongest" and item["norm"] == norm.value and item["eps"] == eps
                    and item["source"] == "white-box" and item.get("queries", 0) > 0)
    return others[-1][1] if others else None


@pytest.mark.skipif(not all((PRETRAINED_DIR / f"{name}.json").is_file() for name in ("tutorial", "robust")),
                    reason="needs the bundled cards")
def test_the_figures_match_the_bundled_cards():
    cards = {name: json.loads((PRETRAINED_DIR / f"{name}.json").read_text()) for name in ("tutorial", "robust")}
    at = render(copy.deepcopy(cards))
    lines = masking_lines(at)
    tutorial, robust = cards["tutorial"], cards["robust"]
    expected = {
        "- **tutorial**, L-inf 0.2": [
            cards_figure(tutorial, attack="fgsm", norm="linf", eps=0.2, source="white-box"),
            cards_figure(tutorial, attack="pgd", norm="linf", eps=0.2, steps=40, restarts=3, source="white-box"),
            strongest_figure(tutorial, 0.2, Norm.LINF)],
        "- **robust**, L-inf 0.3": [
            cards_figure(robust, attack="pgd", norm="linf", eps=0.3, steps=40, restarts=3, source="white-box"),
            strongest_figure(robust, 0.3, Norm.LINF)],
        "- **robust**, L1 10": [
            cards_figure(robust, attack="pgd", norm="l1", eps=10.0, steps=40, restarts=1, direction="strong"),
            strongest_figure(robust, 10.0, Norm.L1)],
    }
    for start, figures in expected.items():
        found = [line for line in lines if line.startswith(start)]
        if None in figures:
            assert found == [], f"{start}: a figure is missing from the card, yet the sentence is there"
            continue
        (line,) = found
        positions = [line.index(f"**{percent(value)}**") for value in figures]
        assert positions == sorted(positions), line  # in the sentence's order: FGSM, PGD, strongest
    transfer = [cards_figure(tutorial, attack="fgsm", norm="linf", eps=0.2, source=source)
                for source in ("base", "white-box")]
    if None not in transfer:
        text = tab_text(at, "White-box vs transfer")
        assert f"evaluation) **{percent(transfer[0])}**" in text
        assert f"white-box FGSM **{percent(transfer[1])}**" in text


@pytest.mark.skipif(not (PRETRAINED_DIR / "base.keras").is_file(), reason="needs the bundled models")
def test_the_app_shows_the_panel_under_the_intro():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    (expander,) = [expander for expander in at.expander if expander.label == explain.EXPANDER]
    assert [tab.label for tab in expander.tabs] == list(explain.TABS)
    assert any(r"\operatorname{sign}(g)" in latex.value for latex in expander.latex)
    # the page reads the bundled cards: the tutorial model's white-box FGSM figure, when its card has one
    card = json.loads((PRETRAINED_DIR / "tutorial.json").read_text())
    fgsm = cards_figure(card, attack="fgsm", norm="linf", eps=0.2, source="white-box")
    if fgsm is not None:
        assert f"white-box FGSM **{percent(fgsm)}**" in tab_text(at, "White-box vs transfer")
    # under the intro: before the first section of the page
    page = list(at.main.children.values())
    panel_at = next(i for i, node in enumerate(page) if getattr(node, "label", None) == explain.EXPANDER)
    assert panel_at < next(i for i, node in enumerate(page) if says(node, "1 · Choose a digit"))


def says(node: Any, text: str) -> bool:
    """Whether ``node`` or anything inside it shows exactly ``text``."""
    return getattr(node, "value", None) == text or any(says(child, text)
                                                       for child in getattr(node, "children", {}).values())


def test_a_strongest_figure_without_a_passed_doubling_check_is_marked_and_explained():
    """An old card's figure (another budget, no doubling check) is still shown, marked †, with the caption that
    says a stronger attack may lower it; the converged figure of the same card is not marked."""
    cards = synthetic_cards()
    old_budget = dict(entry(AttackSpec.strongest(0.3, budget=QUICK_BUDGET), 0.7210, n=10_000,
                            converged=False))
    cards["robust"]["metrics"] = [item for item in cards["robust"]["metrics"]
                                  if not (item["attack"] == "strongest" and item["eps"] == 0.3)] + [old_budget]
    at = render(cards)
    robust_line = next(line for line in masking_lines(at) if "L-inf 0.3" in line)
    assert f"strongest **{percent(0.7210)}**†" in robust_line
    tutorial_line = next(line for line in masking_lines(at) if line.startswith("- **tutorial**"))
    assert f"**{percent(0.3912)}**\\*. " in tutorial_line  # converged: no mark
    assert any("doubling check failed or was not run" in caption.value for caption in at.caption)
    assert not any("doubling check" in caption.value for caption in render(synthetic_cards()).caption)


def test_the_proof_tab_sets_each_certified_figure_beside_the_strongest_attack():
    """The certified figure at each eps is quoted with the strongest figure at the same eps, from the card."""
    cards = synthetic_cards()
    cards["robust"]["certified"] = [{"certificate": "IBP", "norm": "linf", "eps": 0.3, "n": 10_000, "accuracy": 0.0321},
                                    {"certificate": "IBP", "norm": "linf", "eps": 0.2, "n": 10_000, "accuracy": 0.0456}]
    text = tab_text(render(cards), "A proof")
    assert "**robust**: L-inf 0.2: certified 4.6%, strongest attack 91.1%; L-inf 0.3: certified 3.2%, strongest " \
           "attack 65.4%" in text
    assert "**tutorial**" not in text  # no certified figures in its card: nothing to set side by side
