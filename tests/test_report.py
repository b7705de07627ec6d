"""advdemo.report: the README's table and the budget study, generated from model cards (synthetic ones here)."""

from __future__ import annotations

import json

import pytest

from advdemo import report
from advdemo.configs import QUICK_BUDGET, Norm
from advdemo.evaluation import AttackSpec


def doubling(accuracies: list[float], passed: bool, n: int = 500) -> dict:
    moved = round(100 * (accuracies[-2] - accuracies[-1]), 2) if len(accuracies) > 1 else None
    return {"passed": passed, "moved_points": moved, "tolerance_points": 0.5, "n": n, "enough": "budget",
            "runs": [{"budget": f"run {i}", "accuracy": value} for i, value in enumerate(accuracies)]}


@pytest.fixture
def cards(tmp_path):
    converged = dict(AttackSpec.strongest(0.3).as_entry(500, 0.431), doubling_check=doubling([0.47, 0.44, 0.431], True))
    moving = dict(AttackSpec.strongest(2.0, Norm.L2).as_entry(500, 0.12), doubling_check=doubling([0.2, 0.12], False))
    old = AttackSpec.strongest(0.2, budget=QUICK_BUDGET).as_entry(10_000, 0.9539)
    clean = AttackSpec.clean().as_entry(10_000, 0.9857)
    (tmp_path / "robust.json").write_text(json.dumps({"metrics": [clean, converged, moving, old]}))
    (tmp_path / "base.json").write_text(json.dumps({"metrics": [clean]}))
    return tmp_path


def test_the_budget_study_lists_each_runs_figure_and_says_which_converged(cards):
    rows = {line.split(" | ")[1]: line for line in report.budget_table(cards, ("base", "robust")).splitlines()
            if line.startswith("| robust")}
    assert rows["L-inf 0.3"] == "| robust | L-inf 0.3 | 500 | 47.00 | 44.00 | 43.10 | 0.90 points | yes |"
    assert rows["L2 2"] == "| robust | L2 2 | 500 | 20.00 | 12.00 | - | 8.00 points | **no** |"
    assert rows["L-inf 0.2"].startswith(
        "| robust | L-inf 0.2 | 10000 | 95.39 (APGD-CE 100 + APGD-T 1x100 + Square 300)")
    assert rows["L-inf 0.2"].endswith("| not run | | | no |")
    assert set(rows) == {"L-inf 0.3", "L2 2", "L-inf 0.2"}  # the base card has no strongest figure


def test_the_readme_table_marks_samples_and_unconverged_figures(cards):
    table = report.metrics_table(cards, ("base", "robust"))
    robust = next(line for line in table.splitlines() if line.startswith("| robust"))
    cells = robust.split(" | ")
    header = next(line for line in table.splitlines() if line.startswith("| model | clean")).split(" | ")
    assert cells[header.index("strongest L-inf 0.3")] == "43.10*"
    assert cells[header.index("strongest L2 2")] == "12.00*†"
    assert cells[header.index("strongest L-inf 0.2")] == "95.39†"
    assert "† = that check failed or was not run" in table


def test_tables_replace_only_what_lies_between_their_markers(cards, tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{report.BUDGETS_START}\nold\n{report.BUDGETS_END}\noutro\n")
    assert report.main(["--dir", str(cards), "--budgets", str(page)]) == 2  # the bundled names: no such cards
    text = report.replace_between_markers(page.read_text(), "NEW", report.BUDGETS_START, report.BUDGETS_END)
    assert text == f"intro\n{report.BUDGETS_START}\nNEW\n{report.BUDGETS_END}\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        report.replace_between_markers("no markers here", "NEW")
