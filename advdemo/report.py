"""Command line: the bundled models' card figures as a Markdown table, optionally written into the README.

    python -m advdemo.report                 # print the table
    python -m advdemo.report --readme README.md   # replace the table between the README's markers
    python -m advdemo.report --budgets docs/robustness.md   # and the budget study between its markers

Every number comes from ``pretrained/NAME.json``, which ``python -m advdemo.evaluate --write-card`` wrote.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from advdemo import PRETRAINED_DIR
from advdemo.configs import EVALUATION_BUDGET, Norm
from advdemo.evaluation import (
    CERTIFIED_EPSILONS,
    DOUBLING_TOLERANCE,
    HEADLINE_EPSILONS,
    IBP,
    UNCONVERGED,
    AttackSpec,
    certified_figure,
    converged,
    find_entry,
    headline_pgd,
    strongest_entry,
)
from advdemo.models.bundled import BUNDLED_NAMES
from advdemo.models.cards import read_card

START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"

@dataclasses.dataclass(frozen=True)
class Certified:
    """A column of certified figures: IBP at L-inf ``eps``."""

    eps: float

    def describe(self) -> str:
        return f"certified ({IBP}) L-inf {self.eps:g}"


def _point_columns(norm: Norm, eps: float) -> tuple[AttackSpec | Certified, ...]:
    """FGSM, PGD and the strongest attack at (norm, eps), then the certified figure where there is one: the
    bracket certified <= robust accuracy <= strongest side by side."""
    attacks = (AttackSpec.fgsm(eps, norm), headline_pgd(eps, norm), AttackSpec.strongest(eps, norm))
    return attacks + ((Certified(eps),) if norm is Norm.LINF and eps in CERTIFIED_EPSILONS else ())


#: The columns of the table, in order.
COLUMNS: tuple[AttackSpec | Certified, ...] = (
    AttackSpec.clean(),
    AttackSpec.fgsm(0.2, source="base"),
    *(column for norm, eps in ((Norm.LINF, 0.1), (Norm.LINF, 0.2), (Norm.LINF, 0.3), (Norm.L2, 2.0), (Norm.L1, 10.0))
      for column in _point_columns(norm, eps)),
)


def _cell(card: dict[str, Any], spec: AttackSpec | Certified, full: int | None) -> str:
    """The accuracy in %, with a * when it was measured on fewer images than the full test set and a † when it
    is a strongest figure without a passed doubling check."""
    metrics = card.get("metrics", [])
    if isinstance(spec, Certified):
        entry = certified_figure(card, spec.eps)
    elif spec.kind == "strongest":
        entry = strongest_entry(metrics, spec.eps, spec.norm)
    else:
        entry = find_entry(metrics, spec)
    if entry is None:
        return "n/a"
    return (f"{100 * entry['accuracy']:.2f}" + ("*" if full and entry.get("n") != full else "")
            + ("" if converged(entry) else UNCONVERGED))


def metrics_table(directory: Path = PRETRAINED_DIR, models: tuple[str, ...] = BUNDLED_NAMES) -> str:
    """Markdown: one row per model (by default the registry's bundled models, in display order), one column
    per attack of ``COLUMNS`` (accuracy in %), then the sanity checks and the training time of each model."""
    cards = {name: read_card(directory / f"{name}.json") for name in models}
    n = {entry.get("n") for card in cards.values() for entry in card.get("metrics", [])} - {None}
    full = max(n) if n else None
    smaller = sorted(n - {full})
    header = "| model | " + " | ".join(spec.describe() for spec in COLUMNS) + " |"
    lines = [f"Test accuracy (%) on the {full or '?'} MNIST test images"
             + (f"; * on {', '.join(str(v) for v in smaller)} of them (a fixed random sample, seed 0, or the first "
                "ones: each card's command says which)" if smaller else "")
             + ". PGD-40 x3 = 40 steps of eps/10 from a random start, 3 restarts, worst case per example (one "
             "restart in L2 and L1); strongest = per example the worst case over "
             f"{EVALUATION_BUDGET.describe()} queries (in L1 the random search is Sparse-RS with "
             f"{EVALUATION_BUDGET.sparse_rs_queries} queries instead of Square), then the same with every budget "
             f"doubled on the images left standing, until a doubling lowers the figure by less than "
             f"{DOUBLING_TOLERANCE:g} point; {UNCONVERGED} = that check failed or was not run (the figure may still "
             "fall: each card says which). \"from base\" is the tutorial's transfer attack, every other column is "
             f"white-box. certified ({IBP}) = the share that interval bound propagation proves robust (no "
             "perturbation in the ball changes the answer): a lower bound, where the strongest attack is an upper "
             "one; it is about 0 for models not trained for it.", "",
             header, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, card in cards.items():
        lines.append(f"| {name} | " + " | ".join(_cell(card, spec, full) for spec in COLUMNS) + " |")
    lines += ["", "| model | sanity checks passed | failed checks | training time | epochs |", "|---|---|---|---|---|"]
    for name, card in cards.items():
        checks = card.get("sanity_checks", [])
        failed = "; ".join(check["check"] for check in checks if not check["passed"]) or "none"
        training = card.get("training", {})
        lines.append(f"| {name} | {sum(check['passed'] for check in checks)}/{len(checks)} | {failed} | "
                     f"{training.get('seconds', 0) / 60:.1f} min | {len(training.get('epoch_seconds', []))} |")
    return "\n".join(lines)


BUDGETS_START, BUDGETS_END = "<!-- budgets:start -->", "<!-- budgets:end -->"


def budget_table(directory: Path = PRETRAINED_DIR, models: tuple[str, ...] = BUNDLED_NAMES) -> str:
    """Markdown: for every strongest figure of every bundled card at the headline eps, the accuracy after each
    run of its doubling check (the cards' budget, then doubled, ...), how far the last doubling moved it and
    whether that was under the tolerance: the budget study that each card's figure rests on."""
    lines = [f"Accuracy (%) under the strongest attack after each run of its doubling check: first the cards' "
             f"budget ({EVALUATION_BUDGET.describe()}; Sparse-RS {EVALUATION_BUDGET.sparse_rs_queries} in L1), "
             "then every member's budget doubled on the images still standing, until a doubling lowers the figure "
             f"by less than {DOUBLING_TOLERANCE:g} point. Each card records the runs and the command.", "",
             "| model | figure | images | cards' budget | x2 | x4 | last doubling moved it | converged |",
             "|---|---|---|---|---|---|---|---|"]
    for name in models:
        card = read_card(directory / f"{name}.json")
        for norm, epsilons in HEADLINE_EPSILONS.items():
            for eps in epsilons:
                entry = strongest_entry(card.get("metrics", []), eps, norm)
                if entry is None:
                    continue
                record = entry.get("doubling_check")
                figure = f"{norm.label} {eps:g}"
                if record is None:
                    lines.append(f"| {name} | {figure} | {entry['n']} | {100 * entry['accuracy']:.2f} "
                                 f"({entry.get('budget', 'another budget')}) | not run | | | no |")
                    continue
                runs = [f"{100 * run['accuracy']:.2f}" for run in record["runs"]] + ["", ""]
                moved = "" if record["moved_points"] is None else f"{record['moved_points']:.2f} points"
                lines.append(f"| {name} | {figure} | {record['n']} | {runs[0]} | {runs[1] or '-'} | {runs[2] or '-'} | "
                             f"{moved} | {'yes' if record['passed'] else '**no**'} |")
    return "\n".join(lines)


def replace_between_markers(text: str, table: str, start: str = START, end: str = END) -> str:
    """``text`` with everything between ``start`` and ``end`` replaced by ``table`` (ValueError without markers)."""
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {start} ... {end} markers found")
    return pattern.sub(lambda _: f"{start}\n{table}\n{end}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advdemo.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=PRETRAINED_DIR, help="folder of the model cards")
    parser.add_argument("--readme", type=Path, help="write the table between the markers of this Markdown file")
    parser.add_argument("--budgets", type=Path,
                        help="write the budget study (each strongest figure's doubling check) between the "
                             f"{BUDGETS_START} and {BUDGETS_END} markers of this Markdown file")
    args = parser.parse_args(argv)
    try:
        table = metrics_table(args.dir)
        if args.readme:
            args.readme.write_text(replace_between_markers(args.readme.read_text(), table))
            print(f"updated {args.readme}")
        if args.budgets:
            args.budgets.write_text(replace_between_markers(args.budgets.read_text(), budget_table(args.dir),
                                                            BUDGETS_START, BUDGETS_END))
            print(f"updated {args.budgets}")
        if not (args.readme or args.budgets):
            print(table)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
