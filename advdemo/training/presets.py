"""The sidebar's training presets, and the custom settings turned into a ``TrainingRequest``.

Each preset is a recipe plus a training-set size; the quick ones were chosen by measurement. How long each takes
to train and to measure comes from ``benchmarks/quick_presets.py --write`` (``pretrained/preset-times.json``,
with the CPU it ran on), not from a constant here. Training computes in bfloat16 where the CPU does so natively
(``best_precision``), else in float32; the card records which. Custom training takes NSL's vocabulary:
``multiplier``, ``adv_step_size``, ``adv_grad_norm``, ``pgd_iterations``, ``pgd_epsilon``, ``random_init``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

from advdemo import PRETRAINED_DIR
from advdemo.configs import AdvRegConfig, AttackConfig, Direction, Norm, RegularizerLoss, TrainConfig
from advdemo.configs.recipes import RECIPES
from advdemo.models.cards import cpu_flags
from advdemo.training.jobs import TrainingRequest, format_duration


class Kind(enum.StrEnum):
    """How a custom model is trained."""

    NORMAL = "normal"
    NSL = "nsl"
    TRADES = "trades"


KIND_LABELS = {Kind.NORMAL: "normal training", Kind.NSL: "NSL adversarial regularization",
               Kind.TRADES: "TRADES"}


@dataclasses.dataclass(frozen=True)
class PresetTimes:
    """How long a preset took where it was measured: its training and its measurement (seconds; ``None``: not
    timed), on which CPU, under which conditions (e.g. the load average: a busy machine is slower), and where the
    figures come from."""

    train_seconds: float | None
    measure_seconds: float | None
    cpu: str
    source: str
    conditions: str = ""

    @property
    def machine(self) -> str:
        """The CPU and the conditions, e.g. ``AMD EPYC, 2 cores (load average 6.1 at the start...)``."""
        return f"{self.cpu} ({self.conditions})" if self.conditions else self.cpu

    def describe(self) -> str:
        """E.g. ``training about 1 min, measuring about 4 min``."""
        parts = [f"{what} about {format_duration(seconds)}" for what, seconds in
                 (("training", self.train_seconds), ("measuring", self.measure_seconds)) if seconds is not None]
        return ", ".join(parts) if parts else "not timed"


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named way to train from the sidebar; how long it takes is measured, not written here
    (``preset_times``)."""

    key: str
    label: str
    description: str
    train_config: TrainConfig
    adv_config: AdvRegConfig | None
    train_examples: int | None

    def request(self, name: str, evaluation_n: int = 1000, precision: str | None = None) -> TrainingRequest:
        """The request to train this preset as ``name``, in ``precision`` (default: ``best_precision()``)."""
        train_config = dataclasses.replace(self.train_config, precision=precision or best_precision())
        return TrainingRequest(name, self.key, self.description, train_config, self.adv_config,
                               train_examples=self.train_examples, evaluation_n=evaluation_n)


#: Where ``benchmarks/quick_presets.py --write`` stores the presets' measured times.
PRESET_TIMES_PATH = PRETRAINED_DIR / "preset-times.json"


def read_preset_times(path: Path = PRESET_TIMES_PATH) -> dict[str, Any]:
    """The benchmark's file as it is ({} when it is missing; a file that is not a JSON object is an error)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def preset_times(key: str, path: Path = PRESET_TIMES_PATH, cards: Path = PRETRAINED_DIR) -> PresetTimes:
    """How long preset ``key`` takes: from the benchmark's file, else the training time recorded in the card of
    the bundled model its recipe trained (no measurement time then), else not timed."""
    try:
        measured = read_preset_times(path).get(key)
    except (OSError, ValueError):
        measured = None
    if isinstance(measured, dict):
        return PresetTimes(measured.get("train_seconds"), measured.get("measure_seconds"),
                           str(measured.get("cpu", "unknown CPU")), "benchmarks/quick_presets.py",
                           str(measured.get("conditions", "")))
    try:
        card = json.loads((cards / f"{key}.json").read_text())
        seconds = float(card["training"]["seconds"])
        cpu = card.get("machine", {}).get("cpu") or f"{card.get('machine', {}).get('cpus', '?')} CPUs"
        return PresetTimes(seconds, None, str(cpu), f"pretrained/{key}.json")
    except (OSError, ValueError, KeyError, TypeError):
        return PresetTimes(None, None, "", "")


def best_precision(flags: frozenset[str] | None = None) -> str:
    """``mixed_bfloat16`` where the CPU computes bfloat16 natively (AMX or AVX512-BF16: about twice as fast),
    else ``float32`` (emulated bfloat16 is slower than float32)."""
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if flags & {"amx_bf16", "avx512_bf16"} else "float32"


QUICK_ROBUST_ATTACK = AttackConfig.pgd(0.25, Norm.LINF, steps=5, step_size=0.08, direction=Direction.NSL)

PRESETS: dict[str, Preset] = {preset.key: preset for preset in (
    Preset("quick", "Quick: normal training",
           "Normal training on the first 20,000 training images, 2 epochs, batch 64, adam 2e-3 with cosine decay.",
           TrainConfig(epochs=2, batch_size=64, learning_rate=2e-3, lr_schedule="cosine"), None, 20_000),
    Preset("quick-robust", "Quick: robust (adversarial training)",
           "NSL adversarial regularization with PGD neighbours: CE(x) + 1.0 * CE(x_adv), x_adv = PGD-5 (step 0.08, "
           "random start) in the L-inf ball of 0.25; the first 20,000 training images, 3 epochs, batch 128, adam "
           "2e-3 with cosine decay.",
           TrainConfig(epochs=3, batch_size=128, learning_rate=2e-3, lr_schedule="cosine"),
           AdvRegConfig(multiplier=1.0, attack=QUICK_ROBUST_ATTACK, loss=RegularizerLoss.NSL), 20_000),
    Preset("tutorial", "Tutorial (the NSL tutorial's recipe)", RECIPES["tutorial"].description,
           RECIPES["tutorial"].train_config, RECIPES["tutorial"].adv_config, None),
    Preset("robust", "Robust (the bundled robust recipe)", RECIPES["robust"].description,
           RECIPES["robust"].train_config, RECIPES["robust"].adv_config, None),
)}
CUSTOM = "custom"

#: One line of help per custom setting, in NSL's vocabulary.
CUSTOM_HELP = {
    "kind": "Normal: CE(x) only. NSL adversarial regularization: CE(x) + multiplier * CE(x_adv). "
            "TRADES: CE(x) + multiplier * KL(p(x) || p(x_adv)).",
    "epochs": "Passes over the training images.",
    "batch_size": "Examples per training step (the tutorial uses 32).",
    "learning_rate": "Adam's learning rate (the tutorial uses 0.001).",
    "train_examples": "Train on the first N training images (fewer: faster, less accurate).",
    "multiplier": "`multiplier`: the weight of the adversarial term (TRADES calls it beta; the tutorial uses 0.2).",
    "adv_grad_norm": "`adv_grad_norm`: the norm of the neighbours' perturbation.",
    "adv_step_size": "`adv_step_size`: the length of each attack step (FGSM: the whole perturbation).",
    "pgd_iterations": "`pgd_iterations`: attack steps per neighbour; 1 is FGSM, the tutorial's choice.",
    "pgd_epsilon": "`pgd_epsilon`: the radius of the ball PGD's steps are projected into (PGD only).",
    "random_init": "`random_init`: start each neighbour's attack at a random point of the ball (TRADES needs it).",
    "seed": "Seeds the weights, the shuffling and the random starts: the same seed gives the same model.",
}


def custom_request(name: str, kind: Kind | str = Kind.NSL, epochs: int = 5, batch_size: int = 32,
                   learning_rate: float = 1e-3, train_examples: int | None = None, multiplier: float = 0.2,
                   adv_grad_norm: Norm | str = Norm.LINF, adv_step_size: float = 0.2, pgd_iterations: int = 1,
                   pgd_epsilon: float | None = None, random_init: bool = False, seed: int = 0,
                   evaluation_n: int = 1000) -> TrainingRequest:
    """The request for hand-set values (ValueError, with a plain message, for a bad combination)."""
    kind = Kind(kind)
    train_config = TrainConfig(epochs=int(epochs), batch_size=int(batch_size), learning_rate=float(learning_rate),
                               seed=int(seed), precision=best_precision())
    adv_config = None
    description = KIND_LABELS[kind]
    if kind is not Kind.NORMAL:
        if pgd_iterations > 1 and pgd_epsilon is None:
            raise ValueError("PGD (pgd_iterations > 1) needs pgd_epsilon, the radius of its ball")
        attack = AttackConfig(adv_grad_norm=Norm.parse(adv_grad_norm), adv_step_size=float(adv_step_size),
                              pgd_iterations=int(pgd_iterations),
                              pgd_epsilon=None if pgd_iterations == 1 else float(pgd_epsilon),
                              random_init=bool(random_init), direction=Direction.NSL)
        adv_config = AdvRegConfig(multiplier=float(multiplier), attack=attack,
                                  loss=RegularizerLoss.TRADES if kind is Kind.TRADES else RegularizerLoss.NSL)
        description = f"{KIND_LABELS[kind]}: multiplier {multiplier:g}, neighbours {attack.describe()}"
    return TrainingRequest(name, CUSTOM, description, train_config, adv_config, train_examples=train_examples,
                           evaluation_n=evaluation_n)
