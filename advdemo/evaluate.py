"""Command line: measure a model's accuracy, clean and under attack, and write it into its model card.

    python -m advdemo.evaluate --model pretrained/robust.keras --data /path/to/mnist.npz --write-card

runs the standard suite (clean; the tutorial's transfer attack from ``base``; white-box FGSM, PGD-40 x3 and
the strongest attack (APGD + Square, ``advdemo.attacks.strongest``) at L-inf 0.1/0.2/0.3, L2 2 and L1 10; PGD-20 at a
large eps in each norm), the eps sweeps (FGSM, PGD-40 and the strongest attack in every norm), and the
sanity checks, printing each figure as it comes and the progress, with an ETA, of the long ones.
``--update`` keeps the card's figures that were measured exactly as the suite asks, on as many images, and
measures only the others. ``--recheck`` reruns only the sanity checks, on the figures already in the card.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from advdemo import PRETRAINED_DIR
from advdemo.configs import EVALUATION_BUDGET, Norm
from advdemo.data import Split, load_mnist
from advdemo.evaluation import (
    CERTIFIED_EPSILONS,
    MAX_DOUBLINGS,
    STANDARD_SUITE,
    WHITE_BOX,
    AttackSpec,
    certify,
    evaluate,
    find_entry,
    sanity_checks,
    sweep_suite,
)
from advdemo.models import ModelFileError, load_model
from advdemo.models.cards import card_path, command_line, machine_description, read_card, write_json_atomically

QUICK_SUITE = (AttackSpec.clean(), AttackSpec.fgsm(0.2, source="base"), AttackSpec.fgsm(0.2),
               AttackSpec.pgd(0.2, steps=10, restarts=1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m advdemo.evaluate",
        description="Measure a model's test accuracy clean and under white-box and transfer attacks, run the "
                    "gradient-masking sanity checks, and (with --write-card) store the figures in its model card.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="the .keras model to evaluate")
    parser.add_argument("--base", type=Path, default=PRETRAINED_DIR / "base.keras",
                        help="the model the transfer attack (the tutorial's evaluation) is computed on")
    parser.add_argument("--data", default=None,
                        help="Keras-format mnist.npz; else $ADVDEMO_MNIST; else Keras downloads MNIST")
    parser.add_argument("--n", type=int, default=None, help="evaluate on the first N test images [default: all]")
    parser.add_argument("--suite", choices=["standard", "quick"], default="standard",
                        help="standard: the model-card suite and sanity checks; quick: clean, FGSM, PGD-10 only")
    parser.add_argument("--sweep-n", type=int, default=500,
                        help="test images for the accuracy-vs-eps sweeps (0 skips the sweeps)")
    parser.add_argument("--sweep-strongest", action="store_true",
                        help="also sweep the strongest attack (slow: the cards' sweeps are FGSM and PGD)")
    parser.add_argument("--subset-n", type=int, default=None,
                        help="measure the headline figures on a fixed random sample of this many test images "
                             "(seed 0), except the points named by --full-set [default: every image]")
    parser.add_argument("--full-set", nargs="*", default=[], metavar="NORM:EPS",
                        help="headline points measured on every test image despite --subset-n, e.g. linf:0.2")
    parser.add_argument("--max-doublings", type=int, default=MAX_DOUBLINGS,
                        help="doublings of the strongest attack's budget tried before a figure is reported as not "
                             "converged (0: no doubling check)")
    parser.add_argument("--only", nargs="*", default=None, metavar="NORM:EPS",
                        help="measure only the strongest figures at these points (e.g. linf:0.3 l2:2) and keep every "
                             "other figure of the card; the card is re-read just before it is written, so runs on "
                             "different points can share a card")
    parser.add_argument("--verdicts", type=Path, default=None,
                        help="write each strongest figure's per-image verdicts to this .npz")
    parser.add_argument("--batch-size", type=int, default=1000, help="images attacked at once")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    parser.add_argument("--write-card", action="store_true",
                        help="store metrics, sweeps and sanity checks in the model's card (MODEL.json), atomically")
    parser.add_argument("--update", action="store_true",
                        help="keep the card's figures measured exactly as the suite asks (same attack, budget and "
                             "number of images); measure only the missing ones")
    parser.add_argument("--certify", action="store_true",
                        help="attack nothing: measure the certified figures (interval bound propagation at L-inf "
                             f"{', '.join(f'{eps:g}' for eps in CERTIFIED_EPSILONS)}, every test image, seconds) "
                             "and, with --write-card, store them and the sanity checks in the model's card")
    parser.add_argument("--recheck", action="store_true",
                        help="attack nothing: rerun the sanity checks on the metrics already in the model's card "
                             "(with --write-card, store the new results there)")
    return parser


def recheck(args: argparse.Namespace) -> int:
    """``--recheck``: the sanity checks recomputed from the card's stored metrics; no model, data or attack."""
    try:
        card = read_card(card_path(args.model))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    checks = sanity_checks(card.get("metrics", []), card.get("sweeps", []), certified=card.get("certified", []))
    if not checks:
        print(f"error: {card_path(args.model)} holds no metrics to check: run the standard suite first",
              file=sys.stderr)
        return 2
    print_checks(checks)
    if args.write_card:
        card["sanity_checks"] = checks
        card.setdefault("evaluation", {})["sanity_checks_command"] = command_line()
        write_json_atomically(card_path(args.model), card)
        print(f"wrote the checks into {card_path(args.model)}", flush=True)
    return 0


def certify_card(args: argparse.Namespace) -> int:
    """``--certify``: the certified figures (IBP) on the test set; with ``--write-card`` they go into the card with
    the sanity checks recomputed (the bracket "certified <= strongest" among them)."""
    try:
        model = load_model(args.model)
        _, test = load_mnist(args.data)
        card = read_card(card_path(args.model)) if args.write_card else None
    except (ModelFileError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    certified = certify(model, test.head(args.n), batch_size=args.batch_size)
    for figure in certified:
        print(f"certified (IBP) L-inf {figure['eps']:g}: {figure['accuracy']:.2%} of {figure['n']} test images",
              flush=True)
    if card is not None:
        checks = sanity_checks(card.get("metrics", []), card.get("sweeps", []), certified=certified)
        print_checks(checks)
        card.update(certified=certified, sanity_checks=checks)
        card.setdefault("evaluation", {})["certified"] = {
            "command": command_line(), "seconds": round(time.perf_counter() - started, 1),
            "machine": machine_description()}
        write_json_atomically(card_path(args.model), card)
        print(f"wrote the certified figures into {card_path(args.model)}", flush=True)
    return 0


def print_checks(checks: list[dict]) -> None:
    for check in checks:
        print(f"[{'pass' if check['passed'] else 'FAIL'}] {check['check']}: {check['detail']}", flush=True)


class Reporter:
    """Prints each figure as it is measured, and the progress of long measurements with an ETA."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.perf_counter()
        self._spec_started = self._stage_started = self.started
        self._stage = ""
        self._last_print = 0.0

    def progress(self, spec: AttackSpec, fraction: float, stage: str = "") -> None:
        """A line every 10 s at most: the stage's share done and, from its rate so far, its time left."""
        now = time.perf_counter()
        if stage != self._stage:  # the strongest attack's doublings: each stage gets its own clock
            self._stage, self._stage_started = stage, now
        if fraction <= 0 or now - self._last_print < 10:
            return
        self._last_print = now
        spent = now - self._stage_started
        label = f"{spec.describe()}{f' ({stage})' if stage else ''}"
        print(f"  ... {label}: {fraction:.0%} in {spent:.0f} s, about {spent / fraction - spent:.0f} s "
              "left for it", flush=True)

    def result(self, spec: AttackSpec, value: float, reused: bool = False) -> None:
        self.done += 1
        now = time.perf_counter()
        origin = "kept from the card" if reused else f"{now - self._spec_started:.0f} s"
        print(f"[{self.done}/{self.total}] {spec.describe():<36} {value:8.2%}   ({origin}; "
              f"{now - self.started:.0f} s in all)", flush=True)
        self._spec_started = self._stage_started = now
        self._stage = ""

    @staticmethod
    def doubling(entry: dict[str, Any]) -> None:
        """The doubling check of a strongest figure, under it."""
        record = entry.get("doubling_check")
        if record is not None:
            runs = " -> ".join(f"{run['budget']}: {run['accuracy']:.2%}" for run in record["runs"])
            verdict = "converged" if record["passed"] else "NOT converged"
            print(f"      doubling check on {record['n']} images: {runs} ({verdict})", flush=True)


class Verdicts:
    """Per-image verdicts of the strongest figures, written to ``--verdicts`` (an .npz) after each figure: for each
    figure ``held/<figure>`` (bool: the model still answers correctly) and ``images/<figure>`` (the test-set indices
    of those images). ``benchmarks/app_agreement.py`` compares the app's attack with them."""

    def __init__(self, path: Path) -> None:
        self.path, self.arrays = path, {}

    def recorder(self, indices: np.ndarray | None, n: int) -> Callable[[AttackSpec, np.ndarray], None]:
        def record(spec: AttackSpec, held: np.ndarray) -> None:
            if spec.kind == "strongest":
                self.arrays[f"held/{spec.describe()}"] = held
                self.arrays[f"images/{spec.describe()}"] = np.arange(n) if indices is None else indices
                np.savez_compressed(self.path, **self.arrays)
        return record


def measure(model, split: Split, specs: Sequence[AttackSpec], kept: list[dict[str, Any]], reporter: Reporter,
            sources: dict[str, Any], batch_size: int, full_size: int | None = None, check: np.ndarray | None = None,
            max_doublings: int = MAX_DOUBLINGS, verdicts: Verdicts | None = None,
            indices: np.ndarray | None = None,
            on_entry: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Entries for ``specs``: those of ``kept`` measured alike on as many images (or on the whole test set of
    ``full_size`` images), with a passed doubling check if they are strongest figures; the others measured now
    (strongest figures doubled on the images ``check`` of ``split``, default all)."""
    entries = []
    for spec in specs:
        entry = find_entry(kept, spec)
        converged = spec.kind != "strongest" or (entry or {}).get("doubling_check", {}).get("passed", False)
        if entry is not None and entry.get("n") in (len(split), full_size) and converged:
            reporter.result(spec, entry["accuracy"], reused=True)
            entries.append(entry)
            continue
        entries += evaluate(model, split, [spec], sources=sources, batch_size=batch_size, on_result=reporter.result,
                            on_progress=reporter.progress, check=check, max_doublings=max_doublings,
                            on_verdicts=None if verdicts is None else verdicts.recorder(indices, len(split)))
        reporter.doubling(entries[-1])
        if on_entry is not None:
            on_entry(entries[-1])
    return entries


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run measures: ``full`` on every test image, ``on_subset`` on the fixed random sample ``subset`` (its
    test-set indices ``chosen``; None: no sample), the ``sweeps``, and for a partial run the points ``only``."""

    full: list[AttackSpec]
    on_subset: list[AttackSpec]
    sweeps: list[AttackSpec]
    subset: Split
    chosen: np.ndarray | None
    only: set[tuple[Norm, float]] | None


def plan(args: argparse.Namespace, test: Split, card: dict[str, Any] | None) -> Plan:
    """The figures the options ask for (``ValueError`` with the message for the user when they are malformed)."""
    specs = STANDARD_SUITE if args.suite == "standard" else QUICK_SUITE
    try:
        full_points = parse_points(args.full_set)
        only = None if args.only is None else parse_points(args.only)
    except (ValueError, IndexError):
        raise ValueError(f"--full-set and --only take NORM:EPS points such as linf:0.2, got "
                         f"{args.full_set + (args.only or [])}") from None
    if only is not None:
        if not (card is not None and args.write_card):
            raise ValueError("--only updates a card: give --write-card")
        specs = [spec for spec in specs if spec.kind == "strongest" and (spec.norm, spec.eps) in only]
    subset, chosen = test, None
    if args.subset_n and args.subset_n < len(test):
        chosen = np.sort(np.random.default_rng(0).permutation(len(test))[:args.subset_n])
        subset = Split(test.images[chosen], test.labels[chosen])
    full = [spec for spec in specs if subset is test or spec.kind in ("none", "fgsm")
            or (spec.norm, spec.eps) in full_points or spec.source != WHITE_BOX]
    sweeps = sweep_suite(args.sweep_strongest) if args.sweep_n and only is None else []
    return Plan(full, [spec for spec in specs if spec not in full], sweeps, subset, chosen, only)


def run_plan(args: argparse.Namespace, todo: Plan, model, base, test: Split,
             card: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Reporter]:
    """(metrics, sweeps, the reporter that timed them): each new metric written into the card as soon as it is
    measured (``--write-card``), so that a run stopped later loses only the figure it was on."""
    kept_metrics = card.get("metrics", []) if (card and args.update) else []
    kept_sweeps = card.get("sweeps", []) if (card and args.update) else []
    reporter = Reporter(len(todo.full) + len(todo.on_subset) + len(todo.sweeps))
    print(f"evaluating {args.model} on {len(test)} test images; strongest attack: {EVALUATION_BUDGET.describe()}",
          flush=True)
    if todo.chosen is not None:
        print(f"the doubling checks of figures on all {len(test)} images run on the fixed random sample of "
              f"{len(todo.chosen)}", flush=True)
    verdicts = Verdicts(args.verdicts) if args.verdicts else None

    def keep(entry: dict[str, Any]) -> None:
        if card is not None and args.write_card:  # re-read: runs on other points of the same card keep theirs
            current = read_card(card_path(args.model))
            current["metrics"] = merge_entries(current.get("metrics", []), [entry])
            write_json_atomically(card_path(args.model), current)

    metrics = measure(model, test, todo.full, kept_metrics, reporter, {"base": base}, args.batch_size,
                      check=todo.chosen, max_doublings=args.max_doublings, verdicts=verdicts, on_entry=keep)
    if todo.on_subset:
        print(f"on a fixed random sample of {len(todo.subset)} test images (seed 0):", flush=True)
        metrics += measure(model, todo.subset, todo.on_subset, kept_metrics, reporter, {"base": base},
                           args.batch_size, full_size=len(test), max_doublings=args.max_doublings, verdicts=verdicts,
                           indices=todo.chosen, on_entry=keep)
    sweeps = []
    if todo.sweeps:
        print(f"sweeps on {min(args.sweep_n, len(test))} test images", flush=True)
        sweeps = measure(model, test.head(args.sweep_n), todo.sweeps, kept_sweeps, reporter, {}, args.batch_size,
                         max_doublings=args.max_doublings)
    return metrics, sweeps, reporter


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.recheck:
        return recheck(args)
    if args.certify:
        return certify_card(args)
    try:
        model = load_model(args.model)
        base = load_model(args.base)
        _, test = load_mnist(args.data)
        card = read_card(card_path(args.model)) if (args.write_card or args.update) else None
        test = test.head(args.n)
        todo = plan(args, test, card)
    except (ModelFileError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(args.seed)
    metrics, sweeps, reporter = run_plan(args, todo, model, base, test, card)
    seconds = time.perf_counter() - reporter.started
    evaluation = {"command": command_line(), "seed": args.seed, "seconds": round(seconds, 1),
                  "strongest_attack": EVALUATION_BUDGET.describe(),
                  "strongest_sparse_rs_queries": EVALUATION_BUDGET.sparse_rs_queries,
                  "max_doublings": args.max_doublings, "machine": machine_description()}
    certified = card.get("certified", []) if card is not None else []
    if todo.only is not None:  # a partial run: the card as it is now, with these figures replaced
        card = read_card(card_path(args.model))
        metrics = merge_entries(card.get("metrics", []), metrics)
        sweeps, certified = card.get("sweeps", []), card.get("certified", [])
        evaluation = {**card.get("evaluation", {}), "partial_runs": [
            *card.get("evaluation", {}).get("partial_runs", []),
            {key: evaluation[key] for key in ("command", "seconds", "max_doublings", "machine")}]}
    elif args.suite == "standard":
        certified = certify(model, test, batch_size=args.batch_size)
    checks = sanity_checks(metrics, sweeps, certified=certified) if args.suite == "standard" else []
    print_checks(checks)
    if card is not None and args.write_card:
        card.update(metrics=metrics, sweeps=sweeps, certified=certified, sanity_checks=checks, evaluation=evaluation)
        write_json_atomically(card_path(args.model), card)
        print(f"wrote the figures into {card_path(args.model)}", flush=True)
    print(f"done in {seconds:.0f} s", flush=True)
    return 0


def parse_points(points: Sequence[str]) -> set[tuple[Norm, float]]:
    """``["linf:0.2", "l2:2"]`` -> ``{(Norm.LINF, 0.2), (Norm.L2, 2.0)}`` (ValueError or IndexError if malformed)."""
    return {(Norm.parse(point.split(":")[0]), float(point.split(":")[1])) for point in points}


def merge_entries(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with every entry measured like one of ``new`` (the same attack, norm, eps and source) replaced by it,
    whatever its budget; the new entries that replace nothing at the end."""
    def point(entry: dict[str, Any]) -> tuple:
        return tuple(entry.get(key) for key in ("attack", "norm", "eps", "source", "steps", "restarts")
                     ) if entry.get("attack") != "strongest" else ("strongest", entry["norm"], entry["eps"],
                                                                   entry.get("source"))
    replacing = {point(entry): entry for entry in new}
    merged = [replacing.pop(point(entry), entry) for entry in old]
    return merged + list(replacing.values())


if __name__ == "__main__":
    sys.exit(main())
