"""Command line: train a model by a recipe and write it with its model card.

    python -m advdemo.train --recipe robust --data /path/to/mnist.npz

writes ``pretrained/robust.keras`` and ``pretrained/robust.json`` (both atomically; a cancelled run
writes nothing). Every recipe setting can be overridden; ``--help`` lists them all.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import sys
import time
from pathlib import Path

from advdemo import PRETRAINED_DIR
from advdemo.configs import PRECISIONS, AdvRegConfig, Norm, RegularizerLoss, TrainConfig
from advdemo.configs.recipes import RECIPES
from advdemo.data import describe_source, load_mnist, resolve_mnist_path
from advdemo.models import save_model
from advdemo.models.cards import card_path, command_line, write_json_atomically
from advdemo.training.jobs import (
    Snapshot,
    State,
    TrainingJob,
    TrainingRequest,
    format_duration,
    split_validation,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m advdemo.train",
        description="Train the NSL tutorial's CNN normally or with adversarial regularization, and write "
                    "NAME.keras plus its model card NAME.json. A recipe sets every default; any option "
                    "given here overrides it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="base",
                        help="base: normal training; tutorial: the NSL tutorial's recipe exactly; "
                             "robust: TRADES with PGD neighbours; certified: interval bound propagation "
                             "(see advdemo/configs/recipes.py)")
    parser.add_argument("--out", type=Path, default=None,
                        help="model file to write (.keras); the card goes beside it as .json "
                             "[default: pretrained/RECIPE.keras]")
    parser.add_argument("--data", default=None,
                        help="Keras-format mnist.npz; else $ADVDEMO_MNIST; else Keras downloads MNIST")
    parser.add_argument("--train-examples", type=int, default=None,
                        help="use only the first N training images (quick runs) [default: all]")
    parser.add_argument("--validation-size", type=int, default=None,
                        help="hold out the last N training images and report accuracy on them each epoch")
    group = parser.add_argument_group("optimisation (override the recipe)")
    group.add_argument("--epochs", type=int, help="passes over the training set")
    group.add_argument("--batch-size", type=int, help="examples per step")
    group.add_argument("--learning-rate", type=float, help="Adam's initial learning rate")
    group.add_argument("--lr-schedule", choices=["constant", "cosine"], help="learning-rate schedule")
    group.add_argument("--seed", type=int, help="seed for weights, shuffling and random starts")
    group.add_argument("--precision", choices=list(PRECISIONS),
                       help="compute precision while training; mixed_bfloat16 is about twice as fast on CPUs with "
                            "AMX or AVX512-BF16 and much slower on others; the written model is float32 either way")
    group = parser.add_argument_group("adversarial regularization (override the recipe)")
    group.add_argument("--no-adversarial", action="store_true", help="normal training, whatever the recipe")
    group.add_argument("--loss", choices=[loss.value for loss in RegularizerLoss],
                       help="nsl: CE(x) + multiplier*CE(x_adv); trades: CE(x) + multiplier*KL(p(x)||p(x_adv))")
    group.add_argument("--multiplier", type=float, help="weight of the adversarial term (TRADES' beta)")
    group.add_argument("--adv-grad-norm", choices=[norm.value for norm in Norm], help="norm of the neighbours' ball")
    group.add_argument("--adv-step-size", type=float, help="length of each attack step")
    group.add_argument("--pgd-iterations", type=int, help="attack steps per neighbour (1 = FGSM)")
    group.add_argument("--pgd-epsilon", type=float, help="radius of the ball (default: the step size)")
    group.add_argument("--random-init", action=argparse.BooleanOptionalAction, default=None,
                       help="start each neighbour's attack at a random point of the ball")
    group.add_argument("--no-clip", action="store_true",
                       help="do not clip neighbours to the pixel range [0, 1] (the NSL tutorial sets no clip values)")
    return parser


def configs_from_arguments(args: argparse.Namespace) -> tuple[TrainConfig, AdvRegConfig | None]:
    """The recipe's configs with the command line's overrides applied (ValueError for bad values)."""
    recipe = RECIPES[args.recipe]
    train_overrides = {field: getattr(args, field) for field in
                       ("epochs", "batch_size", "learning_rate", "lr_schedule", "seed", "validation_size", "precision")
                       if getattr(args, field) is not None}
    train_config = dataclasses.replace(recipe.train_config, **train_overrides)
    if args.no_adversarial:
        return train_config, None
    attack_overrides = {field: getattr(args, field) for field in
                        ("adv_grad_norm", "adv_step_size", "pgd_iterations", "pgd_epsilon", "random_init")
                        if getattr(args, field) is not None}
    adv_overrides = {field: getattr(args, field) for field in ("multiplier", "loss")
                     if getattr(args, field) is not None}
    base_adv = recipe.adv_config
    if base_adv is None:
        if not (attack_overrides or adv_overrides):
            return train_config, None
        base_adv = AdvRegConfig()
    if args.no_clip:
        attack_overrides.update(clip_value_min=-math.inf, clip_value_max=math.inf)
    attack = dataclasses.replace(base_adv.attack, **attack_overrides)
    if attack.pgd_iterations > 1 and attack.pgd_epsilon is None:
        raise ValueError("--pgd-iterations > 1 needs --pgd-epsilon (the radius of the ball)")
    return train_config, dataclasses.replace(base_adv, attack=attack, **adv_overrides)


class _Printer:
    """Prints each epoch's figures, and the progress with an ETA at most every 10 seconds."""

    def __init__(self) -> None:
        self._last, self._epoch = 0.0, 0

    def __call__(self, snapshot: Snapshot) -> None:
        if snapshot.state is not State.TRAINING or not snapshot.history:
            return
        now = time.monotonic()
        if snapshot.epoch != self._epoch and snapshot.epoch > 1:
            self._epoch = snapshot.epoch
            _, loss, accuracy = snapshot.history[-1]
            print(f"epoch {snapshot.epoch - 1}/{snapshot.epochs} done: loss {loss:.4f} accuracy {accuracy:.4f}",
                  flush=True)
        if now - self._last >= 10 and snapshot.eta_seconds is not None:
            self._last = now
            print(f"  {snapshot.fraction:.0%} ({snapshot.stage_label}), about "
                  f"{format_duration(snapshot.eta_seconds)} left", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        train_config, adv_config = configs_from_arguments(args)
    except ValueError as error:
        parser.error(str(error))
    out = args.out or PRETRAINED_DIR / f"{args.recipe}.keras"
    if out.suffix != ".keras":
        parser.error(f"--out must end in .keras, got {out}")
    try:
        data = load_mnist(args.data)
        train_split, _ = split_validation(data[0].head(args.train_examples), train_config.validation_size)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    data_path = resolve_mnist_path(args.data)
    request = TrainingRequest(out.stem, args.recipe, RECIPES[args.recipe].description, train_config, adv_config,
                              train_examples=args.train_examples, evaluation_n=0, curve_n=0)
    extras = {
        "command": command_line(),
        "data": {"source": describe_source(data_path)},
        "intended_use": "Teaching: showing how adversarial examples fool a small MNIST classifier and how "
                        "adversarial training changes that. Not a certified or production-grade defence.",
        "limitations": "Robustness is measured empirically: an attack's figure is an upper bound on the true "
                       "robust accuracy. Read the card's strongest-attack figures (APGD + Square, Sparse-RS in L1, "
                       "with their doubling checks), which can land far below PGD's beyond the radius a model was "
                       "trained for. Handwriting unlike MNIST (thin strokes, off-centre digits) lowers accuracy.",
    }

    def save(model, card) -> None:
        save_model(model, out)
        write_json_atomically(card_path(out), card)

    job = TrainingJob(request, load_data=lambda: data, save=save, update_card=lambda card: None,
                      card_extras=extras, on_update=_Printer())
    signal.signal(signal.SIGINT, lambda *_: job.cancel())  # Ctrl-C finishes the batch, then stops cleanly
    print(f"training {out} on {len(train_split)} images: {train_config}; {adv_config}", flush=True)
    final = job.run()
    for epoch, seconds in enumerate((job.card or {}).get("training", {}).get("epoch_seconds", []), start=1):
        print(f"epoch {epoch} took {seconds:.1f} s", flush=True)
    if final.state is State.CANCELLED:
        print(f"cancelled: nothing written ({out} is unchanged)", file=sys.stderr)
        return 130
    if final.state is State.FAILED:
        print(f"error: {final.message}", file=sys.stderr)
        return 1
    print(f"wrote {out} and {card_path(out)} in {job.card['training']['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
