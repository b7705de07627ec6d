"""Command line: measure a model's accuracy, clean and under attack, and write it into its model card.

    python -m advdemo.evaluate --model pretrained/robust.keras --data ../shared/datasets/mnist.npz --write-card

runs the standard suite (clean; the tutorial's transfer attack from ``base``; white-box FGSM, PGD-40 x3 and
the strongest attack (APGD + Square, ``advdemo.strongest``) at L-inf 0.1/0.2/0.3, L2 2 and L1 10; PGD-20 at a
large eps in each norm), the eps sweeps (FGSM, PGD-40 and the strongest attack in every norm), and the
sanity checks, printing each figure as it comes and the progress, with an ETA, of the long ones.
``--update`` keeps the card's figures that were measured exactly as the suite asks, on as many images, and
measures only the others. ``--recheck`` reruns only the sanity checks, on the figures already in the card.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from advdemo import PRETRAINED_DIR
from advdemo.cards import card_path, command_line, machine_description, read_card, write_json_atomically
from advdemo.config import Norm
from advdemo.data import Split, load_mnist
from advdemo.evaluation import (
    STANDARD_SUITE,
    WHITE_BOX,
    AttackSpec,
    evaluate,
    find_entry,
    sanity_checks,
    sweep_suite,
)
from advdemo.models import ModelFileError, load_model
from advdemo.strongest import EVALUATION_BUDGET

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
    parser.add_argument("--batch-size", type=int, default=1000, help="images attacked at once")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    parser.add_argument("--write-card", action="store_true",
                        help="store metrics, sweeps and sanity checks in the model's card (MODEL.json), atomically")
    parser.add_argument("--update", action="store_true",
                        help="keep the card's figures measured exactly as the suite asks (same attack, budget and "
                             "number of images); measure only the missing ones")
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
    checks = sanity_checks(card.get("metrics", []), card.get("sweeps", []))
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


def print_checks(checks: list[dict]) -> None:
    for check in checks:
        print(f"[{'pass' if check['passed'] else 'FAIL'}] {check['check']}: {check['detail']}", flush=True)


class Reporter:
    """Prints each figure as it is measured, and the progress of long measurements with an ETA."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.perf_counter()
        self._spec_started = self.started
        self._last_print = 0.0

    def progress(self, spec: AttackSpec, fraction: float) -> None:
        now = time.perf_counter()
        if fraction <= 0 or now - self._last_print < 10:
            return
        self._last_print = now
        spent = now - self._spec_started
        print(f"  ... {spec.describe()}: {fraction:.0%} in {spent:.0f} s, about {spent / fraction - spent:.0f} s "
              "left for it", flush=True)

    def result(self, spec: AttackSpec, value: float, reused: bool = False) -> None:
        self.done += 1
        now = time.perf_counter()
        origin = "kept from the card" if reused else f"{now - self._spec_started:.0f} s"
        print(f"[{self.done}/{self.total}] {spec.describe():<36} {value:8.2%}   ({origin}; "
              f"{now - self.started:.0f} s in all)", flush=True)
        self._spec_started = now


def measure(model, split: Split, specs: Sequence[AttackSpec], kept: list[dict[str, Any]], reporter: Reporter,
            sources: dict[str, Any], batch_size: int, full_size: int | None = None) -> list[dict[str, Any]]:
    """Entries for ``specs``: those of ``kept`` measured alike on as many images (or on the whole test set of
    ``full_size`` images), the others measured now."""
    entries = []
    for spec in specs:
        entry = find_entry(kept, spec)
        if entry is not None and entry.get("n") in (len(split), full_size):
            reporter.result(spec, entry["accuracy"], reused=True)
            entries.append(entry)
            continue
        entries += evaluate(model, split, [spec], sources=sources, batch_size=batch_size,
                            on_result=reporter.result, on_progress=reporter.progress)
    return entries


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.recheck:
        return recheck(args)
    try:
        model = load_model(args.model)
        base = load_model(args.base)
        _, test = load_mnist(args.data)
        card = read_card(card_path(args.model)) if (args.write_card or args.update) else None
    except (ModelFileError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(args.seed)
    test = test.head(args.n)
    specs = STANDARD_SUITE if args.suite == "standard" else QUICK_SUITE
    try:
        full_points = {(Norm.parse(point.split(":")[0]), float(point.split(":")[1])) for point in args.full_set}
    except (ValueError, IndexError):
        print(f"error: --full-set takes NORM:EPS points such as linf:0.2, got {args.full_set}", file=sys.stderr)
        return 2
    subset = test
    if args.subset_n and args.subset_n < len(test):
        chosen = np.sort(np.random.default_rng(0).permutation(len(test))[:args.subset_n])
        subset = Split(test.images[chosen], test.labels[chosen])
    full_specs = [spec for spec in specs if subset is test or spec.attack in ("none", "fgsm")
                  or (spec.norm, spec.eps) in full_points or spec.source != WHITE_BOX]
    subset_specs = [spec for spec in specs if spec not in full_specs]
    sweep_specs = sweep_suite(args.sweep_strongest) if args.sweep_n else []
    kept_metrics = card.get("metrics", []) if (card and args.update) else []
    kept_sweeps = card.get("sweeps", []) if (card and args.update) else []
    reporter = Reporter(len(specs) + len(sweep_specs))
    print(f"evaluating {args.model} on {len(test)} test images; strongest attack: {EVALUATION_BUDGET.describe()}",
          flush=True)
    metrics = measure(model, test, full_specs, kept_metrics, reporter, {"base": base}, args.batch_size)
    if subset_specs:
        print(f"on a fixed random sample of {len(subset)} test images (seed 0):", flush=True)
        metrics += measure(model, subset, subset_specs, kept_metrics, reporter, {"base": base}, args.batch_size,
                           full_size=len(test))
    sweeps = []
    if sweep_specs:
        print(f"sweeps on {min(args.sweep_n, len(test))} test images", flush=True)
        sweeps = measure(model, test.head(args.sweep_n), sweep_specs, kept_sweeps, reporter, {}, args.batch_size)
    checks = sanity_checks(metrics, sweeps) if args.suite == "standard" else []
    print_checks(checks)
    seconds = time.perf_counter() - reporter.started
    if card is not None and args.write_card:
        card.update(metrics=metrics, sweeps=sweeps, sanity_checks=checks,
                    evaluation={"command": command_line(), "seed": args.seed, "seconds": round(seconds, 1),
                                "strongest_attack": EVALUATION_BUDGET.describe(),
                                "machine": machine_description()})
        write_json_atomically(card_path(args.model), card)
        print(f"wrote the figures into {card_path(args.model)}", flush=True)
    print(f"done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
