"""End to end, the attack's controls in the sidebar (the real server in Debian's Chromium; fixtures in
``conftest.py``), on the default gallery digit (number 6, a 4 that the base model gets wrong under a small attack):

* eps and the norm: the attack's heading names the norm and eps, each model's "Size" line follows them (FGSM uses
  all of eps in L-inf, at most eps in L2 and L1, more of it as eps grows), the link keeps them, and each norm keeps
  its own eps;
* PGD, a targeted PGD (every verdict says whether it REACHED or MISSED the target, which the link keeps), then the
  strongest attack (untargeted: the target is set aside, and comes back with PGD);
* transfer: every model receives the one perturbation crafted on the source model, the same as that model's own
  white-box one, and choosing another source changes it.
"""

from __future__ import annotations

import re

import pytest
from page_helpers import (
    attack_heading,
    choose_option,
    choose_radio,
    open_app,
    press_slider,
    query,
    set_toggle,
    settle,
    size_lines,
    sizes,
    slider_value,
    verdict_kinds,
    verdicts_by_model,
    widget,
)

expect = pytest.importorskip("playwright.sync_api").expect

#: Sizes are shown with 3 digits: what rounding may add.
ROUNDING = {"L-inf": 0.0005, "L2": 0.005, "L1": 0.05}
HEADING = "2 · The attack: {}"


def model_sizes(page, norm: str) -> list[float]:
    lines = size_lines(page)
    assert len(lines) == 2, lines  # base and robust
    return [sizes(line)[norm] for line in lines]


def test_moving_eps_and_switching_the_norm_resize_the_attack(app_url, page):
    open_app(page, app_url)
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L-inf ε = 0.2, white-box"))
    assert model_sizes(page, "L-inf") == [pytest.approx(0.2, abs=ROUNDING["L-inf"])] * 2  # FGSM spends all of eps

    press_slider(page, "eps_linf", "ArrowLeft", times=2)  # 0.2 - 2 x 0.01
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L-inf ε = 0.18, white-box"))
    assert model_sizes(page, "L-inf") == [pytest.approx(0.18, abs=ROUNDING["L-inf"])] * 2
    assert query(page)["eps"] == "0.18" and query(page)["norm"] == "linf"

    choose_radio(page, "norm", "L2")
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L2 ε = 2, white-box"))
    expect(widget(page, "eps_l2").get_by_test_id("stWidgetLabel")).to_have_text("ε: size of the perturbation (L2)")
    assert slider_value(page, "eps_l2") == pytest.approx(2.0)
    before = model_sizes(page, "L2")
    assert all(0.5 < size <= 2 + ROUNDING["L2"] for size in before), before  # clipping to [0, 1] may cut some
    assert query(page)["norm"] == "l2" and query(page)["eps"] == "2"

    press_slider(page, "eps_l2", "ArrowRight", times=3)  # 2 + 3 x 0.1
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L2 ε = 2.3, white-box"))
    after = model_sizes(page, "L2")
    assert all(old < new <= 2.3 + ROUNDING["L2"] for old, new in zip(before, after)), (before, after)
    assert query(page)["eps"] == "2.3"

    choose_radio(page, "norm", "L-inf")  # each norm keeps its own eps
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L-inf ε = 0.18, white-box"))
    assert slider_value(page, "eps_linf") == pytest.approx(0.18)

    choose_radio(page, "norm", "L1")
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L1 ε = 10, white-box"))
    expect(page.get_by_test_id("stSidebar").get_by_text("FGSM in L1 is the best single step")).to_be_visible()
    assert all(0 < size <= 10 + ROUNDING["L1"] for size in model_sizes(page, "L1"))
    assert query(page)["norm"] == "l1" and query(page)["eps"] == "10"


def check_untargeted(page) -> dict[str, str]:
    """Every verdict of an untargeted attack on a digit the models read right: FOOLED (red) or HELD (green), saying
    which digit the model now reads. Returns the verdicts."""
    forms = {"fooled": r"✗ FOOLED → says [0-35-9] \(", "held": r"✓ HELD → still 4 \("}  # the label is 4
    verdicts, kinds = verdicts_by_model(page), verdict_kinds(page)
    assert sorted(verdicts) == sorted(kinds) == ["base", "robust"], (verdicts, kinds)
    for name, text in verdicts.items():
        assert kinds[name] in forms and re.match(forms[kinds[name]], text), (name, kinds[name], text)
    return verdicts


def check_targeted(page, target: int, label: int = 4) -> dict[str, str]:
    """Every verdict of a targeted attack says whether it reached the target (in the "fooled" red), or missed it: the
    model held (green), or went wrong elsewhere (orange). Returns the verdicts."""
    elsewhere = "".join(str(digit) for digit in range(10) if digit not in (target, label))
    forms = {"fooled": rf"🎯 REACHED {target} → says {target} \(", "held": rf"✓ MISSED {target} → still {label} \(",
             "missed": rf"MISSED {target} → says [{elsewhere}] \(.*\), wrong but not the target$"}
    verdicts, kinds = verdicts_by_model(page), verdict_kinds(page)
    assert sorted(verdicts) == sorted(kinds) == ["base", "robust"], (verdicts, kinds)
    for name, text in verdicts.items():
        assert re.match(forms[kinds[name]], text), (name, kinds[name], text)
    return verdicts


def test_pgd_then_a_targeted_pgd_then_the_strongest_attack(app_url, page):
    open_app(page, app_url)
    # The test-set tab reads the model cards: no eps sweep of this digit (40 attacks) after each change.
    settle(page, page.get_by_role("tab", name="Test set: accuracy vs ε").click)
    assert query(page)["view"] == "curves"
    choose_radio(page, "method", "PGD: many steps")
    expect(attack_heading(page)).to_have_text(HEADING.format("PGD-40 L-inf ε = 0.2, white-box"))
    expect(widget(page, "pgd_steps")).to_be_visible()
    link = query(page)
    assert (link["attack"], link["steps"], link["step"], link["start"]) == ("pgd", "40", "0.1", "random"), link
    verdicts = check_untargeted(page)
    assert verdicts["base"].startswith("✗ FOOLED"), verdicts  # PGD at 0.2 always fools the undefended model

    set_toggle(page, "targeted", True)
    target = widget(page, "target").get_by_role("combobox")
    expect(target).to_have_value("5")  # the digit after the label, 4
    expect(attack_heading(page)).to_have_text(HEADING.format("PGD-40 L-inf ε = 0.2 targeted at 5, white-box"))
    check_targeted(page, 5)
    assert query(page)["target"] == "5"

    # Target 0: PGD takes the base model to 8 (wrong, but not the target), robust holds (with today's models).
    choose_option(page, "target", "0")
    expect(target).to_have_value("0")
    expect(attack_heading(page)).to_have_text(HEADING.format("PGD-40 L-inf ε = 0.2 targeted at 0, white-box"))
    check_targeted(page, 0)
    assert query(page)["target"] == "0"

    choose_radio(page, "method", "Strongest (APGD + random search)")
    expect(attack_heading(page)).to_have_text(HEADING.format("strongest (APGD + Square) L-inf ε = 0.2, white-box"))
    untargeted = re.compile(r"^Computed now on this digit with APGD.* per model \(untargeted\)\. Label 4")
    expect(page.get_by_text(untargeted)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Target 0 is not applied; it returns with FGSM or PGD.")).to_be_visible()
    expect(sidebar.get_by_text(re.compile(r"^Budget per image and model: "))).to_be_visible()
    expect(widget(page, "targeted").locator("input")).to_be_disabled()
    verdicts = check_untargeted(page)
    assert verdicts["base"].startswith("✗ FOOLED"), verdicts
    link = query(page)
    assert link["attack"] == "strongest" and "target" not in link and "steps" not in link, link

    choose_radio(page, "method", "PGD: many steps")  # the target comes back
    expect(attack_heading(page)).to_have_text(HEADING.format("PGD-40 L-inf ε = 0.2 targeted at 0, white-box"))
    assert query(page)["target"] == "0"


def test_a_transfer_attack_gives_every_model_the_source_models_perturbation(app_url, page):
    open_app(page, app_url)
    white_box = dict(zip(("base", "robust"), size_lines(page), strict=True))
    white_verdicts = verdicts_by_model(page)
    assert white_box["base"] != white_box["robust"], white_box  # each model's own perturbation

    choose_radio(page, "source", "another model's (transfer)")
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L-inf ε = 0.2 crafted on base (transfer)"))
    expect(widget(page, "transfer_from").get_by_role("combobox")).to_have_value("base")
    assert size_lines(page) == [white_box["base"]] * 2  # base's own FGSM perturbation, for every model
    assert verdicts_by_model(page)["base"] == white_verdicts["base"]
    link = query(page)
    assert link["source"] == "transfer" and "from" not in link, link  # base is the default source

    choose_option(page, "transfer_from", "robust")
    expect(attack_heading(page)).to_have_text(HEADING.format("FGSM L-inf ε = 0.2 crafted on robust (transfer)"))
    assert size_lines(page) == [white_box["robust"]] * 2
    assert verdicts_by_model(page)["robust"] == white_verdicts["robust"]
    assert query(page)["from"] == "robust"
