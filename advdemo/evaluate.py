"""Command line: measure a model's accuracy, clean and under attack, and write it into its model card.

    python -m advdemo.evaluate --model pretrained/robust.keras --data ../shared/datasets/mnist.npz --write-card

runs the standard suite (clean; the tutorial's transfer attack from ``base``; white-box FGSM and PGD-40
x3 restarts at L-inf 0.1/0.2/0.3; PGD-40 in L2 and L1), the eps sweeps, and the sanity checks.
``--recheck`` reruns only the sanity checks, on the figures already in the card.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras

from advdemo import PRETRAINED_DIR
from advdemo.cards import card_path, command_line, machine_description, read_card, write_json_atomically
from advdemo.data import load_mnist
from advdemo.evaluation import STANDARD_SUITE, AttackSpec, evaluate, sanity_checks, sweep_suite
from advdemo.models import ModelFileError, load_model

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
    parser.add_argument("--sweep-n", type=int, default=2000,
                        help="test images for the accuracy-vs-eps sweeps (0 skips the sweeps)")
    parser.add_argument("--batch-size", type=int, default=1000, help="images attacked at once")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    parser.add_argument("--write-card", action="store_true",
                        help="store metrics, sweeps and sanity checks in the model's card (MODEL.json), atomically")
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
    checks = sanity_checks(card.get("metrics", []))
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.recheck:
        return recheck(args)
    try:
        model = load_model(args.model)
        base = load_model(args.base)
        _, test = load_mnist(args.data)
        card = read_card(card_path(args.model)) if args.write_card else None
    except (ModelFileError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(args.seed)
    test = test.head(args.n)
    specs = STANDARD_SUITE if args.suite == "standard" else QUICK_SUITE
    started = time.perf_counter()

    def report(spec: AttackSpec, value: float) -> None:
        print(f"{spec.describe():<40} {value:8.2%}   ({time.perf_counter() - started:.0f} s)", flush=True)

    print(f"evaluating {args.model} on {len(test)} test images", flush=True)
    metrics = evaluate(model, test, specs, sources={"base": base}, batch_size=args.batch_size, on_result=report)
    sweeps = []
    if args.sweep_n:
        print(f"sweeps on {min(args.sweep_n, len(test))} test images", flush=True)
        sweeps = evaluate(model, test.head(args.sweep_n), sweep_suite(), batch_size=args.batch_size,
                          on_result=report)
    checks = sanity_checks(metrics) if args.suite == "standard" else []
    print_checks(checks)
    seconds = time.perf_counter() - started
    if card is not None:
        card.update(metrics=metrics, sweeps=sweeps, sanity_checks=checks,
                    evaluation={"command": command_line(), "seed": args.seed, "seconds": round(seconds, 1),
                                "machine": machine_description()})
        write_json_atomically(card_path(args.model), card)
        print(f"wrote the figures into {card_path(args.model)}", flush=True)
    print(f"done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
