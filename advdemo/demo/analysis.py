"""Everything the app computes, without Streamlit: the scenario, the attack on one digit, a same-size noise
control, a per-image eps sweep and a batch of gallery digits.

FGSM and PGD go through ``advdemo.attacks.gradient.attack``, the strongest attack through
``advdemo.attacks.strongest_attack`` (with ``APP_BUDGET``), and all sizes through
``advdemo.attacks.norms.measure``;
this module only chooses what to attack, with what, and collects predictions.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from advdemo.attacks import pgd_trajectory, run
from advdemo.attacks.norms import measure
from advdemo.certificates import ibp
from advdemo.configs import APP_BUDGET, EPSILON_DEFAULTS, Attack, AttackConfig, Norm, StrongestConfig
from advdemo.evaluation import SWEEP_EPSILONS
from advdemo.models import predict_logits
from advdemo.models.registry import MAX_NAME_LENGTH, MODEL_NAME, TRANSFER_SOURCE

NUM_CLASSES = 10
#: Most PGD steps the app runs (the sidebar slider's maximum).
MAX_PGD_STEPS = 100
#: Step sizes offered for PGD, as fractions of eps.
STEP_FRACTIONS: tuple[float, ...] = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
#: The seed of every random start the app draws (``run(..., seed=ATTACK_SEED)``): the same digit and scenario
#: always give the same picture, and the PGD step-through retraces exactly what section 2 shows.
ATTACK_SEED = 0


class Method(enum.StrEnum):
    """FGSM (one step of length eps, the tutorial's adversarial neighbour), PGD (several projected steps) or the
    strongest attack (per image, the worst case over APGD and Square Attack, ``advdemo.attacks.strongest``)."""

    FGSM = "fgsm"
    PGD = "pgd"
    STRONGEST = "strongest"


class Source(enum.StrEnum):
    """Whose gradients craft the perturbation: each model's own (white-box), or one model's for all (transfer,
    crafted on ``Scenario.transfer_from``, the base model by default as in the NSL tutorial)."""

    WHITE_BOX = "white-box"
    TRANSFER = "transfer"


@dataclasses.dataclass(frozen=True)
class Scenario:
    """The attack the app runs: everything the sidebar sets.

    Attributes:
        norm: the norm of the eps ball.
        epsilon: its radius.
        method: FGSM, PGD or the strongest attack.
        steps, step_fraction, random_start: PGD's settings (step size = step_fraction * epsilon).
        target: ``None`` for untargeted, else the class (0-9) the attack pushes towards. The strongest attack
            is untargeted (its APGD-T runs choose their own targets): it takes no target.
        source: white-box or transfer.
        transfer_from: the model a transfer attack is crafted on (any model of the roster; ``TRANSFER_SOURCE``
            by default).
    """

    norm: Norm = Norm.LINF
    epsilon: float = EPSILON_DEFAULTS[Norm.LINF][0]
    method: Method = Method.FGSM
    steps: int = 40
    step_fraction: float = 0.1
    random_start: bool = True
    target: int | None = None
    source: Source = Source.WHITE_BOX
    transfer_from: str = TRANSFER_SOURCE

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", Norm.parse(self.norm))
        object.__setattr__(self, "method", Method(self.method))
        object.__setattr__(self, "source", Source(self.source))
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not (math.isfinite(self.step_fraction) and self.step_fraction > 0):
            raise ValueError(f"step_fraction must be a positive number, got {self.step_fraction!r}")
        if self.target is not None and not (isinstance(self.target, int) and 0 <= self.target < NUM_CLASSES):
            raise ValueError(f"target must be None or a class 0-9, got {self.target!r}")
        if self.target is not None and self.method is Method.STRONGEST:
            raise ValueError("the strongest attack is untargeted: it takes no target")
        if not (isinstance(self.transfer_from, str) and MODEL_NAME.fullmatch(self.transfer_from)
                and len(self.transfer_from) <= MAX_NAME_LENGTH):
            raise ValueError(f"transfer_from must be a model name, got {self.transfer_from!r}")

    def attack(self, epsilon: float | None = None) -> Attack:
        """The description of this scenario's attack (``advdemo.attacks.run`` runs it), at ``epsilon`` (default:
        the scenario's): FGSM or PGD as an ``AttackConfig``, the strongest attack as ``APP_BUDGET`` in this norm."""
        eps = self.epsilon if epsilon is None else float(epsilon)
        if self.method is Method.STRONGEST:
            return dataclasses.replace(APP_BUDGET, norm=self.norm, epsilon=eps)
        if self.method is Method.FGSM:
            return AttackConfig.fgsm(eps, self.norm, target_class=self.target)
        return AttackConfig.pgd(eps, self.norm, steps=self.steps, step_size=eps * self.step_fraction,
                                random_init=self.random_start, target_class=self.target)

    @property
    def attack_name(self) -> str:
        """``FGSM``, ``PGD-40``, ``strongest (APGD + Square)`` or, in L1, ``strongest (APGD + Sparse-RS)``."""
        if self.method is Method.STRONGEST:
            return f"strongest (APGD + {self.attack().search})"
        return "FGSM" if self.method is Method.FGSM else f"PGD-{self.steps}"

    def describe(self, epsilon: float | None = None) -> str:
        """E.g. ``PGD-40 L2 eps=2, white-box``, ``FGSM L-inf eps=0.2 crafted on base (transfer)`` or
        ``strongest (APGD + Square) L-inf eps=0.2, white-box``."""
        attack = self.attack(epsilon)
        if isinstance(attack, StrongestConfig):
            text = f"{self.attack_name} {self.norm.label} eps={attack.epsilon:g}"
        else:
            text = attack.describe()
        if self.source is Source.TRANSFER:
            return f"{text} crafted on {self.transfer_from} (transfer)"
        return f"{text}, white-box"

    def to_query(self) -> dict[str, str]:
        """The scenario as URL query parameters (``advdemo.ui.url`` reads them back)."""
        query = {"norm": self.norm.value, "eps": f"{self.epsilon:g}", "attack": self.method.value,
                 "source": self.source.value}
        if self.source is Source.TRANSFER and self.transfer_from != TRANSFER_SOURCE:
            query["from"] = self.transfer_from
        if self.method is Method.PGD:
            query.update(steps=str(self.steps), step=f"{self.step_fraction:g}",
                         start="random" if self.random_start else "clean")
        if self.target is not None:
            query["target"] = str(self.target)
        return query


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (n, classes), numerically stable."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def probabilities(model: Any, images: np.ndarray) -> np.ndarray:
    """Class probabilities (n, 10) of images (n, 28, 28) or (n, 28, 28, 1) in [0, 1]."""
    return softmax(predict_logits(model, as_batch(images)))


def as_batch(images: np.ndarray) -> np.ndarray:
    """(28, 28), (n, 28, 28) or (n, 28, 28, 1) -> float32 (n, 28, 28, 1)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 3:
        images = images[..., None]
    return images


def perturbation_norms(delta: np.ndarray) -> dict[Norm, float]:
    """L-inf, L2 and L1 size of one perturbation (28, 28), measured by ``advdemo.attacks.norms.measure``."""
    batch = tf.constant(as_batch(delta))
    return {norm: float(measure(batch, norm).numpy()[0]) for norm in (Norm.LINF, Norm.L2, Norm.L1)}


def seed_for(image: np.ndarray, *salt: object) -> int:
    """A reproducible seed from an image's bytes and any extra values (the same input gives the same noise)."""
    digest = hashlib.sha256(np.ascontiguousarray(image, dtype=np.float32).tobytes())
    digest.update(repr(salt).encode())
    return int.from_bytes(digest.digest()[:8], "little")


def same_size_noise(image: np.ndarray, size: float, norm: Norm, rng: np.random.Generator,
                    iterations: int = 40) -> np.ndarray:
    """``image`` (28, 28) plus random noise whose size in ``norm``, after clipping to [0, 1], is ``size``.

    The noise direction is random signs for L-inf and Gaussian for L2 and L1; its scale is found by bisection
    so that ``measure(clip(image + noise) - image)`` equals ``size`` (or comes as close as clipping allows).
    """
    image = np.asarray(image, dtype=np.float32)
    direction = rng.choice([-1.0, 1.0], size=image.shape) if norm is Norm.LINF else rng.standard_normal(image.shape)
    direction = direction.astype(np.float32)

    def size_at(scale: float) -> float:
        noisy = np.clip(image + scale * direction, 0.0, 1.0)
        return float(measure(tf.constant(as_batch(noisy - image)), norm).numpy()[0])

    if size <= 0:
        return image.copy()
    low, high = 0.0, size / max(float(measure(tf.constant(as_batch(direction)), norm).numpy()[0]), 1e-12)
    for _ in range(30):  # grow until the clipped noise is big enough
        if size_at(high) >= size:
            break
        low, high = high, high * 2
    for _ in range(iterations):
        middle = (low + high) / 2
        if size_at(middle) < size:
            low = middle
        else:
            high = middle
    return np.clip(image + high * direction, 0.0, 1.0).astype(np.float32)


class MissingSourceError(RuntimeError):
    """A transfer attack needs its source model, which is not loaded."""


def craft(models: Mapping[str, Any], names: Sequence[str], images: np.ndarray, labels: np.ndarray,
          scenario: Scenario, epsilon: float | None = None) -> dict[str, np.ndarray]:
    """Adversarial images (n, 28, 28) for each model of ``names``, at ``epsilon`` (default: the scenario's).

    White-box: each model is attacked on its own gradients (the strongest attack: on its own gradients and
    logits). Transfer: the images are crafted once on ``scenario.transfer_from`` and every model receives the
    same ones.

    Raises:
        MissingSourceError: a transfer attack whose source model is not loaded.
    """
    batch = as_batch(images)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    description = scenario.attack(epsilon)

    def crafted_on(model: Any) -> np.ndarray:
        return run(description, model, batch, labels, seed=ATTACK_SEED)[..., 0]

    if scenario.source is Source.TRANSFER:
        if scenario.transfer_from not in models:
            raise MissingSourceError(f"a transfer attack is crafted on the {scenario.transfer_from!r} model, which "
                                     "is not available")
        adversarial = crafted_on(models[scenario.transfer_from])
        return {name: adversarial for name in names}
    return {name: crafted_on(models[name]) for name in names}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One model's answers on one digit: clean, attacked, and (optionally) with same-size random noise.

    Images are float32 (28, 28) in [0, 1]; probabilities float32 (10,).
    """

    model: str
    clean_probs: np.ndarray
    adversarial: np.ndarray
    adversarial_probs: np.ndarray
    norms: dict[Norm, float]
    crafted_on: str
    noisy: np.ndarray | None = None
    noisy_probs: np.ndarray | None = None
    noise_norm: float | None = None

    @property
    def clean_prediction(self) -> int:
        return int(np.argmax(self.clean_probs))

    @property
    def prediction(self) -> int:
        """The class predicted on the adversarial image."""
        return int(np.argmax(self.adversarial_probs))

    @property
    def noise_prediction(self) -> int | None:
        return None if self.noisy_probs is None else int(np.argmax(self.noisy_probs))

    def fooled(self, label: int) -> bool:
        """The adversarial image is misclassified."""
        return self.prediction != label


def analyse(models: Mapping[str, Any], names: Sequence[str], image: np.ndarray, label: int,
            scenario: Scenario, noise: bool = False) -> list[Outcome]:
    """Attack ``image`` (28, 28) with true (or stated) ``label`` for each model of ``names``.

    Raises:
        MissingSourceError: a transfer attack whose source model is not loaded.
    """
    image = np.asarray(image, dtype=np.float32)
    adversarial = craft(models, names, image, np.array([label]), scenario)
    outcomes = []
    for name in names:
        adv = adversarial[name][0]
        delta = adv - image
        norms = perturbation_norms(delta)
        clean_probs, adv_probs = probabilities(models[name], np.stack([image, adv]))
        crafted_on = scenario.transfer_from if scenario.source is Source.TRANSFER else name
        noisy = noisy_probs = noise_norm = None
        if noise:  # the same perturbation (transfer) gets the same noise
            rng = np.random.default_rng(seed_for(image, crafted_on, scenario))
            noisy = same_size_noise(image, norms[scenario.norm], scenario.norm, rng)
            noisy_probs = probabilities(models[name], noisy)[0]
            noise_norm = perturbation_norms(noisy - image)[scenario.norm]
        outcomes.append(Outcome(name, clean_probs, adv, adv_probs, norms, crafted_on, noisy, noisy_probs,
                                noise_norm))
    return outcomes


def distance_to_boundary(deltas: np.ndarray, epsilon: float, norm: Norm) -> np.ndarray:
    """eps - ||delta|| in ``norm`` for each perturbation of ``deltas`` (k, 28, 28): how far each still is from the
    eps-ball's boundary (0: on it), float64 (k,)."""
    sizes = measure(tf.constant(as_batch(deltas)), norm).numpy().astype(np.float64)
    return float(epsilon) - sizes


@dataclasses.dataclass(frozen=True)
class StepThrough:
    """One PGD (or FGSM) run on one digit, step by step, as ``craft`` runs it.

    Attributes:
        model: whose predictions are shown; crafted_on: whose gradients made the steps (the model itself, or
            the transfer source).
        images: float32 (steps + 1, 28, 28): x_0 (the clean image, or the random start) to x_T.
        probs: float32 (steps + 1, 10): ``model``'s class probabilities on each.
        distances: float64 (steps + 1,): eps - ||x_t - x|| in the scenario's norm.
        kept: the step the attack returns (section 2's image): the worst of x_1..x_T for ``crafted_on``.
    """

    model: str
    crafted_on: str
    images: np.ndarray
    probs: np.ndarray
    distances: np.ndarray
    kept: int

    @property
    def steps(self) -> int:
        return len(self.images) - 1

    def prediction(self, step: int) -> int:
        return int(np.argmax(self.probs[step]))

    def confidence(self, step: int) -> float:
        """The probability of the predicted class at ``step``."""
        return float(self.probs[step, self.prediction(step)])


def step_through(models: Mapping[str, Any], name: str, image: np.ndarray, label: int,
                 scenario: Scenario) -> StepThrough:
    """Every step of the scenario's FGSM or PGD on ``image`` (28, 28) for the model ``name``: the attack of
    ``craft`` (crafted on ``name``, or on the transfer source), recorded by ``advdemo.attacks.gradient.pgd_trajectory``
    from the same random start (``ATTACK_SEED``), with ``name``'s predictions at each step.

    Raises:
        ValueError: the strongest attack (an ensemble, with no single path).
        MissingSourceError: a transfer attack whose source model is not loaded.
    """
    config = scenario.attack()
    if not isinstance(config, AttackConfig):
        raise ValueError("the strongest attack is an ensemble of attacks: it has no single path to step through")
    crafted_on = scenario.transfer_from if scenario.source is Source.TRANSFER else name
    if crafted_on not in models:
        raise MissingSourceError(f"the attack is crafted on the {crafted_on!r} model, which is not available")
    image = np.asarray(image, dtype=np.float32)
    trajectory = pgd_trajectory(models[crafted_on], as_batch(image), np.array([label]), config, seed=ATTACK_SEED)
    images = trajectory.iterates[:, 0, :, :, 0]
    return StepThrough(name, crafted_on, images, probabilities(models[name], images),
                       distance_to_boundary(images - image, scenario.epsilon, scenario.norm), int(trajectory.kept[0]))


def clean_prediction(model: Any, image: np.ndarray) -> int:
    """The class ``model`` predicts for ``image`` (28, 28)."""
    return int(np.argmax(probabilities(model, image)[0]))


def sweep_epsilons(norm: Norm, current: float, points: int = 9) -> np.ndarray:
    """The eps grid of a per-image sweep: 0 to the card sweeps' largest eps (or ``current`` if larger),
    ``points`` evenly spaced values, plus ``current``."""
    top = max(SWEEP_EPSILONS[norm][-1], current)
    grid = np.linspace(0.0, top, points)
    return np.unique(np.round(np.append(grid, current), 6))


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A per-image sweep: for each model, the probability of ``label`` and the prediction at each eps."""

    epsilons: np.ndarray
    label: int
    confidence: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]

    def first_fooled(self, name: str) -> float | None:
        """The smallest eps of the grid at which ``name`` no longer predicts ``label`` (None: never)."""
        wrong = np.flatnonzero(self.predictions[name] != self.label)
        return None if wrong.size == 0 else float(self.epsilons[wrong[0]])


def sweep_point(models: Mapping[str, Any], names: Sequence[str], image: np.ndarray, label: int,
                scenario: Scenario) -> dict[str, np.ndarray]:
    """Each model's class probabilities (10,) on ``image`` attacked with ``scenario`` (eps 0: clean)."""
    image = np.asarray(image, dtype=np.float32)
    if scenario.epsilon == 0:
        images = {name: image[None] for name in names}
    else:
        images = craft(models, names, image, np.array([label]), scenario)
    return {name: probabilities(models[name], images[name])[0] for name in names}


def assemble_sweep(epsilons: Sequence[float], label: int, points: Sequence[Mapping[str, np.ndarray]]) -> Sweep:
    """A ``Sweep`` from the probabilities ``sweep_point`` gave at each eps of ``epsilons``."""
    names = list(points[0]) if points else []
    probs = {name: np.stack([point[name] for point in points]) for name in names}
    return Sweep(np.asarray(epsilons, dtype=np.float64), int(label),
                 {name: p[:, label] for name, p in probs.items()},
                 {name: np.argmax(p, axis=1) for name, p in probs.items()})


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """A batch of gallery digits attacked with the scenario: clean images (n, 28, 28), labels (n,),
    adversarial images and predictions per model."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    adversarial: dict[str, np.ndarray]
    clean_predictions: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]

    def score(self, name: str) -> int:
        """How many adversarial digits ``name`` still classifies correctly."""
        return int(np.sum(self.predictions[name] == self.labels))

    def clean_score(self, name: str) -> int:
        return int(np.sum(self.clean_predictions[name] == self.labels))


def batch_view(models: Mapping[str, Any], names: Sequence[str], images: np.ndarray, labels: np.ndarray,
               indices: np.ndarray, scenario: Scenario) -> BatchResult:
    """Attack a batch of digits (n, 28, 28) once per model (transfer: once, on base) and predict."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
    labels = np.asarray(labels, dtype=np.int64)
    adversarial = craft(models, names, images, labels, scenario)
    return BatchResult(images, labels, np.asarray(indices),
                       adversarial,
                       {name: np.argmax(probabilities(models[name], images), axis=1) for name in names},
                       {name: np.argmax(probabilities(models[name], adversarial[name]), axis=1) for name in names})


#: The largest L-inf radius the app's certificate searches (interval bounds; by bisection to within 1/16,384 of it).
CERTIFY_UP_TO = 0.5


def certified_radius(model: Any, image: np.ndarray, label: int) -> float:
    """The largest L-inf eps at which interval bound propagation proves that ``model`` answers ``label`` for every
    image within eps of ``image`` (28, 28); 0 when not even the clean image is answered ``label``."""
    return float(ibp.certified_radius(model, as_batch(image), np.array([label]), high=CERTIFY_UP_TO)[0])


def proof(radius: float, norm: Norm, epsilon: float) -> tuple[bool, str]:
    """(proven, the line the page shows under a model's verdict) for a digit certified up to L-inf ``radius``
    when the attack's ball is ``epsilon`` in ``norm``. A change of L2 or L1 size eps moves no pixel by more than
    eps, so an L-inf certificate of radius r covers those balls too up to eps = r, and no further."""
    if epsilon <= radius:
        ball = "" if norm is Norm.LINF else f" ({norm.label} ε = {epsilon:g} moves no pixel by more than that)"
        return True, (f"🔒 PROVEN: no change up to L-inf ε = {radius:.3g} can change this answer{ball}: no attack "
                      "of this size can ever fool it (interval bounds)")
    where = "" if radius > 0 else ", not even the clean image"
    return False, (f"not proven at {norm.label} ε = {epsilon:g}: interval bounds prove this answer only up to "
                   f"L-inf ε = {radius:.3g}{where}; an attack that fails is no proof")
