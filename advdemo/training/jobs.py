"""A training job: train, save, evaluate, with live progress, an ETA and a cancel that stops within a batch.

One implementation for the command line (``python -m advdemo.train`` runs a job in its own thread of
control and prints its progress) and the app (the sidebar runs a ``ProcessJob``: the same job in a child
process at a lower CPU priority, and reads its ``snapshot()`` every second). A job goes through

    TRAINING -> (SAVING) -> EVALUATING -> DONE          or CANCELLED / FAILED at any point

* training reports every batch (``Snapshot.fraction``, the running loss and accuracy, an ETA);
* a cancel during training saves nothing (the model is never half-written: ``save`` is only called after the
  last epoch, and it writes atomically); a cancel during the evaluation keeps the model and the figures
  measured so far;
* the evaluation (``EVALUATION_SUITE`` on ``evaluation_n`` test images, then the L-inf curve the app plots)
  rewrites the card after each figure, so the model can be attacked in the app while it runs.

``JobManager`` lets one job run at a time in the whole deployment (every app process sharing ``ADVDEMO_HOME``, through
the lock file of ``advdemo.training.lock``): a second ``start`` is refused with ``Busy``, whose message says which
model is training, since when and until about when.

Why a process for the app: TensorFlow runs every op of a process on one shared pool of threads, so a training
in a thread of the server competes on equal terms with every session's attacks (a class of 30 saw its
interactions slow several times while one training ran, ``benchmarks/load_test.py``). In a child process at
``CHILD_NICENESS`` the kernel gives the sessions' short attacks the CPU first and the training what is left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import logging
import multiprocessing
import os
import pickle
import queue
import sys
import tempfile
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras

from advdemo.attacks import member_costs, run
from advdemo.configs import QUICK_BUDGET, AdvRegConfig, AttackConfig, Direction, Norm, StrongestConfig, TrainConfig
from advdemo.data import Split, load_mnist
from advdemo.evaluation import AttackSpec, accuracy, adversarial_images, headline_pgd
from advdemo.models import registry
from advdemo.models.cards import machine_description, write_json_atomically
from advdemo.training import child
from advdemo.training.adversarial import TrainingProgress, train_model
from advdemo.training.lock import Held, Holder, TrainingLock

#: What a finished model is measured with before it joins the roster: clean, FGSM, PGD-40 x3 and the
#: strongest attack at L-inf 0.2 (the tutorial's eps), on ``TrainingRequest.evaluation_n`` test images.
EVALUATION_SUITE: tuple[AttackSpec, ...] = (AttackSpec.clean(), AttackSpec.fgsm(0.2), headline_pgd(0.2, Norm.LINF),
                                            AttackSpec.strongest(0.2, budget=QUICK_BUDGET))
#: The accuracy-vs-eps curve of a new model's card (the app's test-set tab plots it): FGSM and PGD-40 in L-inf.
CURVE_EPSILONS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
#: At most this many points of the loss/accuracy history are kept for the live chart.
HISTORY_POINTS = 400
#: How much lower a ``ProcessJob``'s CPU priority is than the server's (``os.nice``; 19 is the lowest).
CHILD_NICENESS = 10
LOG = logging.getLogger(__name__)
#: Test images measured after every epoch for the live view (the last ones of the test set).
MONITOR_N = 200
#: The white-box attack of the live view: PGD with this many steps at the training's eps (L-inf 0.2 for a
#: normally trained model), a fifth of it per step, from a random start.
MONITOR_PGD_STEPS = 10
#: The live view's eps for a model trained without an attack (the tutorial's).
MONITOR_DEFAULT_EPS = 0.2


class State(enum.Enum):
    TRAINING = "training"
    EVALUATING = "evaluating"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (State.DONE, State.CANCELLED, State.FAILED)


@dataclasses.dataclass(frozen=True)
class TrainingRequest:
    """What to train and under which name.

    Attributes:
        name: the model's name (where it is saved is the ``save`` callback's business).
        recipe: the preset or recipe it came from (``custom`` for hand-set values), for the card.
        description: one line on the recipe, for the card.
        train_config, adv_config: the configs (``adv_config=None``: normal training).
        train_examples: the first N training images (``None``: all).
        evaluation_n: test images of the evaluation (0 skips it); curve_n: of the curve (0 skips it).
        monitor_n: test images measured after every epoch for the live view (the last ones of the test set, apart
            from the evaluation's first ones; 0 skips it).
    """

    name: str
    recipe: str
    description: str
    train_config: TrainConfig
    adv_config: AdvRegConfig | None
    train_examples: int | None = None
    evaluation_n: int = 1000
    curve_n: int = 300
    monitor_n: int = MONITOR_N

    def __post_init__(self) -> None:
        if self.train_examples is not None and self.train_examples < 1:
            raise ValueError(f"train_examples must be >= 1 or None, got {self.train_examples!r}")
        if self.evaluation_n < 0 or self.curve_n < 0 or self.monitor_n < 0:
            raise ValueError("evaluation_n, curve_n and monitor_n must be >= 0")


@dataclasses.dataclass(frozen=True)
class EpochPoint:
    """What the live view plots after each epoch, on ``TrainingRequest.monitor_n`` test images.

    ``loss`` and ``train_accuracy`` are the epoch's running figures on the training batches; ``clean`` the
    accuracy on the test images; ``own_attack`` under the training's own attack (``None`` for normal training);
    ``pgd`` under a short white-box PGD (``MONITOR_PGD_STEPS``) at the training's eps, which shows whether the
    robustness is real: FGSM training can hold its own attack and fall to PGD.
    """

    epoch: int
    loss: float
    train_accuracy: float
    clean: float
    own_attack: float | None
    pgd: float


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A job's state at one moment, safe to read from another thread.

    ``fraction`` is of the current stage (training or evaluation); ``eta_seconds`` of the current stage too
    (``None`` until it can be estimated); ``history`` holds (epoch as a real number, loss, accuracy) points;
    ``epoch_points`` one ``EpochPoint`` per finished epoch, on ``monitor_images`` test images; ``figures`` the
    evaluation's results so far as (description, accuracy). The model is saved (ready to attack) from
    ``EVALUATING`` on.
    """

    name: str
    owner: str
    state: State
    started: float
    fraction: float = 0.0
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    eta_seconds: float | None = None
    history: tuple[tuple[float, float, float], ...] = ()
    epoch_points: tuple[EpochPoint, ...] = ()
    monitor_images: int = 0
    figures: tuple[tuple[str, float], ...] = ()
    message: str = ""
    finished_at: float | None = None

    @property
    def stage_label(self) -> str:
        if self.state is State.TRAINING:
            return f"epoch {self.epoch}/{self.epochs}, batch {self.batch}/{self.batches}"
        return self.state.value


def split_validation(train: Split, size: int) -> tuple[Split, Split | None]:
    """The last ``size`` images held out for validation (``None`` for 0); ValueError if none would be left."""
    if size == 0:
        return train, None
    if size >= len(train):
        raise ValueError(f"a validation set of {size} leaves no training images (there are {len(train)})")
    return Split(train.images[:-size], train.labels[:-size]), Split(train.images[-size:], train.labels[-size:])


def failure_message(error: Exception) -> str:
    """One line for the page: our own messages about files and values (``OSError``, ``ValueError``) as they are,
    anything else (a bug) with its class name, for the log's traceback."""
    if isinstance(error, (OSError, ValueError)) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}"


class _Cancelled(Exception):
    """Raised inside the evaluation's progress callback to stop it."""


def eta(elapsed: float, fraction: float) -> float | None:
    """Seconds left when ``fraction`` of the work took ``elapsed`` seconds (``None`` before 1% is done)."""
    if fraction < 0.01:
        return None
    return max(0.0, elapsed / fraction - elapsed)


#: Images attacked at once in a new model's evaluation: small enough that every figure reports progress a few times.
EVALUATION_BATCH = 250


class EvaluationWork:
    """How far a model's evaluation is, by the model evaluations each figure costs (``AttackSpec.passes`` times
    its images), not by counting figures: the strongest attack costs hundreds of times what FGSM does.

    The strongest attack's random search runs only on the images still standing, so its cost is revised as
    figures arrive: the share standing is taken as the lowest accuracy measured so far at its norm and eps.
    """

    def __init__(self, plan: list[tuple[str, AttackSpec, int]]):
        self._plan = plan
        self._standing: dict[tuple[Norm, float], float] = {}

    def _cost(self, spec: AttackSpec, n: int) -> float:
        return n * spec.passes(self._standing.get((spec.norm, spec.eps), 1.0))

    def measured(self, index: int, value: float) -> None:
        """Figure ``index`` came out at accuracy ``value``."""
        spec = self._plan[index][1]
        if spec.attack is not None:
            point = (spec.norm, spec.eps)
            self._standing[point] = min(value, self._standing.get(point, 1.0))

    def _done(self, spec: AttackSpec, n: int, fraction: float) -> float:
        """The work done when ``spec`` reports ``fraction``. The strongest attack reports its members weighted by
        their cost on every image (``attacks.converge``); all but the first run only on the images still
        standing, so the part of ``fraction`` beyond the first member's share counts for that share of images."""
        if not isinstance(spec.attack, StrongestConfig):
            return fraction * self._cost(spec, n)
        costs = [cost for _, cost in member_costs(spec.attack)]
        reported = fraction * sum(costs)
        standing = self._standing.get((spec.norm, spec.eps), 1.0)
        return n * (min(reported, costs[0]) + max(0.0, reported - costs[0]) * standing + fraction)

    def fraction(self, index: int, fraction: float) -> float:
        """The share of the whole evaluation done when figure ``index`` is ``fraction`` done."""
        costs = [self._cost(spec, n) for _, spec, n in self._plan]
        _, spec, n = self._plan[index]
        done = sum(costs[:index]) + self._done(spec, n, fraction)
        return min(1.0, done / sum(costs))


#: Writes the model and its card (atomically) and returns where; called once, after training completes.
Save = Callable[[keras.Model, dict[str, Any]], Any]
#: Rewrites the card (atomically) as figures arrive.
UpdateCard = Callable[[dict[str, Any]], None]


class TrainingJob:
    """Trains ``request`` on ``train``, hands the model to ``save``, then evaluates it on ``test``.

    ``run()`` does it all in the calling thread; ``start()`` in a daemon thread. ``snapshot()`` and
    ``cancel()`` may be called from any thread at any time.
    """

    def __init__(self, request: TrainingRequest, load_data: Callable[[], tuple[Split, Split]], save: Save,
                 update_card: UpdateCard, owner: str = "", card_extras: dict[str, Any] | None = None,
                 on_update: Callable[[Snapshot], None] | None = None, clock: Callable[[], float] = time.time):
        self.request, self.owner = request, owner
        self._clock = clock
        self._load_data, self._save, self._update_card = load_data, save, update_card
        self._card_extras = dict(card_extras or {})
        self._on_update = on_update
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stage_started = clock()
        self._snapshot = Snapshot(request.name, owner, State.TRAINING, started=clock(),
                                  epochs=request.train_config.epochs)
        self.card: dict[str, Any] | None = None

    # --- the outside view ---------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def cancel(self) -> None:
        self._cancel.set()

    def start(self) -> TrainingJob:
        self._thread = threading.Thread(target=self.run, name=f"train-{self.request.name}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> Snapshot:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot()

    # --- the work -----------------------------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._snapshot = dataclasses.replace(self._snapshot, **changes)
            snapshot = self._snapshot
        if self._on_update is not None:
            self._on_update(snapshot)

    def _finish(self, state: State, message: str) -> Snapshot:
        self._update(state=state, message=message, eta_seconds=0.0 if state is State.DONE else None,
                     finished_at=self._clock())
        return self.snapshot()

    def _on_progress(self, progress: TrainingProgress) -> None:
        history = self._snapshot.history
        point = (progress.epoch - 1 + progress.batch / progress.batches, progress.logs.get("loss", float("nan")),
                 progress.logs.get("accuracy", float("nan")))
        every = max(1, progress.epochs * progress.batches // HISTORY_POINTS)
        if progress.batch % every == 0 or progress.batch == progress.batches:
            history = history + (point,)
        self._update(fraction=progress.fraction, epoch=progress.epoch, epochs=progress.epochs, batch=progress.batch,
                     batches=progress.batches, history=history,
                     eta_seconds=eta(self._clock() - self._stage_started, progress.fraction))

    def _measure_epoch(self, monitor: Split, epoch: int, model: keras.Model, logs: dict[str, float]) -> None:
        """The live view's point for ``epoch``: clean, under the training's own attack and under a short PGD."""
        adv_config = self.request.adv_config
        own = None if adv_config is None else adv_config.attack
        if own is not None and own.direction is not Direction.STRONG and not own.is_fgsm:
            own = dataclasses.replace(own, direction=Direction.STRONG)
        eps = own.epsilon if own is not None else MONITOR_DEFAULT_EPS
        norm = own.adv_grad_norm if own is not None else Norm.LINF
        pgd = AttackConfig.pgd(eps, norm, steps=MONITOR_PGD_STEPS, step_size=eps / 5)
        measured = {name: accuracy(model, monitor.images if attack is None else
                                   run(attack, model, monitor.images, monitor.labels, seed=epoch), monitor.labels)
                    for name, attack in (("clean", None), ("own", own), ("pgd", pgd))
                    if name != "own" or attack is not None}
        point = EpochPoint(epoch, logs.get("loss", float("nan")), logs.get("accuracy", float("nan")),
                           measured["clean"], measured.get("own"), measured["pgd"])
        self._update(epoch_points=self._snapshot.epoch_points + (point,))

    def run(self) -> Snapshot:
        """Trains, saves, evaluates; returns the final snapshot. Never raises: a failure is ``FAILED`` with a
        message (the traceback goes to the server's log, not to the page)."""
        request = self.request
        try:
            self._update(message="loading the training data")
            train, test = self._load_data()
            train, validation = split_validation(train.head(request.train_examples),
                                                 request.train_config.validation_size)
            if self._cancel.is_set():
                return self._finish(State.CANCELLED, "cancelled before training started: nothing was written")
            self._stage_started = self._clock()
            self._update(message=f"training on {len(train):,} images")
            monitor = test.tail(request.monitor_n) if request.monitor_n else None
            self._update(monitor_images=0 if monitor is None else len(monitor))
            result = train_model(train, request.train_config, request.adv_config, validation=validation,
                                 on_progress=self._on_progress, should_stop=self._cancel.is_set,
                                 on_epoch=None if monitor is None else functools.partial(self._measure_epoch, monitor))
            if not result.completed:
                return self._finish(State.CANCELLED, "cancelled: nothing was written")
            self.card = self._card(result, len(train))
            self._save(result.model, self.card)
            return self._evaluate(result.model, test)
        except _Cancelled:
            return self._finish(State.CANCELLED, "evaluation cancelled: the model and the figures measured so far "
                                                 "are kept")
        except Exception as error:  # reported on the page in one line; the traceback goes to the log
            traceback.print_exc()
            return self._finish(State.FAILED, failure_message(error))

    def _card(self, result, train_examples: int) -> dict[str, Any]:
        request = self.request
        return {
            "name": request.name,
            "recipe": request.recipe,
            "description": request.description,
            **self._card_extras,
            "seed": request.train_config.seed,
            "train_config": dataclasses.asdict(request.train_config),
            "adv_config": None if request.adv_config is None else dataclasses.asdict(request.adv_config),
            "data": {**self._card_extras.get("data", {}), "train_examples": train_examples,
                     "validation_examples": request.train_config.validation_size},
            "training": {"seconds": round(result.seconds, 1),
                         "epoch_seconds": [round(seconds, 2) for seconds in result.epoch_seconds],
                         "history": {key: [round(value, 5) for value in values]
                                     for key, values in result.history.items()}},
            "machine": machine_description(),
            "contract": "keras.saving.load_model(path) -> input (None, 28, 28, 1) float32 in [0, 1], "
                        "output (None, 10) logits",
            "metrics": [],
            "sweeps": [],
            "sanity_checks": [],
        }

    def _evaluate(self, model: keras.Model, test: Split) -> Snapshot:
        request, card = self.request, self.card
        specs = list(EVALUATION_SUITE) if request.evaluation_n else []
        curve = [spec for eps in CURVE_EPSILONS for spec in (AttackSpec.fgsm(eps), AttackSpec.pgd(eps, restarts=1))]
        curve = curve if request.curve_n else []
        plan = [(key, spec, n) for key, spec_list, n in (("metrics", specs, request.evaluation_n),
                                                         ("sweeps", curve, request.curve_n)) for spec in spec_list]
        if not plan:
            return self._finish(State.DONE, "trained and saved (no evaluation asked for)")
        self._stage_started = self._clock()
        self._update(state=State.EVALUATING, fraction=0.0, eta_seconds=None,
                     message=f"measuring it on {request.evaluation_n:,} test images")
        work = EvaluationWork(plan)

        def progress(spec: AttackSpec, fraction: float, stage: str = "") -> None:
            if self._cancel.is_set():
                raise _Cancelled
            overall = work.fraction(index, fraction)
            self._update(fraction=overall, eta_seconds=eta(self._clock() - self._stage_started, overall),
                         message=f"measuring {spec.describe()}")

        for index, (key, spec, n) in enumerate(plan):
            split = test.head(n)
            progress(spec, 0.0)
            images = adversarial_images(model, split, spec, batch_size=EVALUATION_BATCH, on_progress=progress)
            value = accuracy(model, images, split.labels)
            card[key] = card[key] + [spec.as_entry(len(split), value)]
            self._update_card(card)
            work.measured(index, value)
            self._update(figures=self._snapshot.figures + ((spec.describe(), value),),
                         fraction=work.fraction(index, 1.0))
        return self._finish(State.DONE, "trained, saved and measured")


def user_model_job(request: TrainingRequest, owner: str = "", card_extras: dict[str, Any] | None = None,
                   on_update: Callable[[Snapshot], None] | None = None) -> TrainingJob:
    """A job on MNIST (``advdemo.data.load_mnist``: ``ADVDEMO_MNIST``, else Keras' download) whose model and card
    go to the user folder (``registry.save_user_model``, both files or neither) under ``request.name``."""
    saved: dict[str, registry.ModelInfo] = {}

    def save(model: keras.Model, card: dict[str, Any]) -> None:
        saved["info"] = registry.save_user_model(model, card, request.name)

    def update_card(card: dict[str, Any]) -> None:
        write_json_atomically(saved["info"].card_path, card)

    return TrainingJob(request, load_data=load_mnist, save=save, update_card=update_card, owner=owner,
                       card_extras=card_extras, on_update=on_update)


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_main_script() -> Iterator[None]:
    """While a child is spawned, ``__main__`` is a bare module. A spawned child re-runs its parent's ``__main__``
    file (``multiprocessing``'s spawn start method, "safe importing of main module"), and while Streamlit runs a
    page that file is the page script: the child would run the whole app without a server. The child needs
    nothing from it (its entry point is ``advdemo.training.child.run``)."""
    with _MAIN_LOCK:
        page = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = page


#: Builds the job a ``ProcessJob`` runs, in the child: ``build(on_update=...)``. Must pickle (a module-level
#: function, or a ``functools.partial`` of one), e.g. ``partial(user_model_job, request, owner=...)``.
BuildJob = Callable[..., TrainingJob]


class ProcessJob:
    """The job ``build`` makes, run in a child process (``spawn``: a fresh interpreter, no threads inherited from
    the server) ``CHILD_NICENESS`` below the server's priority. The same outside view as ``TrainingJob``:
    ``request``, ``owner``, ``snapshot()``, ``cancel()``, ``start()``, ``join()``.

    The child sends snapshots over a queue; a thread of this process keeps the latest. If the child dies
    without a final snapshot (killed, out of memory), the job ends ``FAILED`` with its exit code; a cancel
    reaches the child's job through an event, so it stops within a batch and writes nothing, as in a thread.
    """

    def __init__(self, request: TrainingRequest, build: BuildJob, owner: str = "",
                 niceness: int = CHILD_NICENESS) -> None:
        self.request, self.owner = request, owner
        #: The child's output (TensorFlow's start-up lines, a traceback): kept when the job fails, else deleted.
        self.log_path = Path(tempfile.gettempdir()) / f"advdemo-train-{request.name}-{os.getpid()}-{id(self)}.log"
        self._build, self._niceness = build, niceness
        context = multiprocessing.get_context("spawn")
        self._context = context
        self._updates = context.Queue()
        # A lock-free shared flag, polled by the child: a multiprocessing.Event's set() waits for every process
        # that ever waited on it to wake, so it hangs for good once a child has exited inside wait().
        self._cancel = context.RawValue("b", 0)
        self._lock = threading.Lock()
        self._snapshot = Snapshot(request.name, owner, State.TRAINING, started=time.time(),
                                  epochs=request.train_config.epochs, message="starting the training process")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pump_thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` before ``start``)."""
        return None if self._process is None else self._process.pid

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def cancel(self) -> None:
        self._cancel.value = 1

    def start(self) -> ProcessJob:
        # The builder travels pickled, so the child unpickles it (and imports TensorFlow) after lowering its
        # priority: see advdemo/training/child.py.
        priority = min(19, os.getpriority(os.PRIO_PROCESS, 0) + self._niceness)
        self._process = self._context.Process(
            target=child.run, args=(priority, pickle.dumps(self._build), self._updates, self._cancel,
                                    str(self.log_path)),
            name=f"train-{self.request.name}", daemon=True)
        with _without_main_script():
            self._process.start()
        os.setpriority(os.PRIO_PROCESS, self._process.pid, priority)  # from its first moments: Python's start-up
        self._pump_thread = threading.Thread(target=self._pump, name=f"pump-{self.request.name}", daemon=True)
        self._pump_thread.start()
        return self

    def join(self, timeout: float | None = None) -> Snapshot:
        if self._pump_thread is not None:
            self._pump_thread.join(timeout)
        return self.snapshot()

    def _set(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def _ended(self, snapshot: Snapshot) -> None:
        """The last word on the job: a failure logged once, with the model's name and the child's log; otherwise
        the child's log deleted."""
        self._set(snapshot)
        if snapshot.state is State.FAILED:
            LOG.error('training "%s" failed: %s (the training process\'s output: %s)', self.request.name,
                      snapshot.message, self.log_path)
        else:
            self.log_path.unlink(missing_ok=True)

    def _pump(self) -> None:
        """Keeps the child's latest snapshot until a final one arrives, or the child is gone without one."""
        process = self._process
        while True:
            try:
                snapshot = self._updates.get(timeout=0.5)
            except queue.Empty:
                if process.is_alive():
                    continue
                try:  # anything it sent just before it ended
                    snapshot = self._updates.get(timeout=1.0)
                except queue.Empty:
                    process.join()
                    self._ended(dataclasses.replace(
                        self.snapshot(), state=State.FAILED, eta_seconds=None, finished_at=time.time(),
                        message=f"the training process stopped unexpectedly (exit code {process.exitcode}); "
                                "the server's log names the file with its output. Nothing half-written was kept."))
                    return
            if snapshot.state.finished:
                process.join(30)
                self._ended(snapshot)
                return
            self._set(snapshot)


#: What ``JobManager`` runs: a job in a thread (``TrainingJob``) or in a child process (``ProcessJob``).
Job = TrainingJob | ProcessJob


class Busy(RuntimeError):
    """A job is already running in this deployment (this server, or another replica sharing its ``ADVDEMO_HOME``)."""


#: How long another replica's finished job stays on the page (seconds): a replica started the next day does not show
#: yesterday's training.
REMOTE_SHOWN_AFTER_END = 3600.0
#: How often the job's owner copies its snapshot into the shared lock file and looks for a cancel request (seconds).
LOCK_REFRESH = 1.0


def _snapshot_content(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as JSON values, for the lock file (``_content_snapshot`` reads it back)."""
    content = dataclasses.asdict(snapshot)
    content["state"] = snapshot.state.value
    return content


def _content_snapshot(content: dict[str, Any]) -> Snapshot | None:
    try:
        fields = dict(content["snapshot"])
        fields["state"] = State(fields["state"])
        fields["history"] = tuple(tuple(point) for point in fields.get("history", ()))
        fields["epoch_points"] = tuple(EpochPoint(**point) for point in fields.get("epoch_points", ()))
        fields["figures"] = tuple(tuple(figure) for figure in fields.get("figures", ()))
        return Snapshot(**fields)
    except (KeyError, TypeError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class _RemoteConfig:
    epochs: int


@dataclasses.dataclass(frozen=True)
class _RemoteRequest:
    """What the page reads of a job's request, for a job of another replica."""

    name: str
    train_config: _RemoteConfig
    evaluation_n: int


class RemoteJob:
    """A job that another replica (another process sharing ``ADVDEMO_HOME``) runs, as its lock file describes it:
    the same outside view as a local job (``request``, ``owner``, ``snapshot()``, ``cancel()``, ``join()``).

    A lock whose holder is gone (the kernel released its flock) describes a job that will never finish: its
    snapshot is ``FAILED``. ``cancel()`` leaves a request that the owner's replica polls."""

    def __init__(self, store: TrainingLock, content: dict[str, Any], held: bool) -> None:
        self._store, self.token = store, content.get("token", "")
        self.refresh(content, held)
        snapshot = self.snapshot()
        self.owner = snapshot.owner
        self.request = _RemoteRequest(snapshot.name, _RemoteConfig(snapshot.epochs),
                                      int(content.get("evaluation_n", 0)))

    def refresh(self, content: dict[str, Any], held: bool) -> None:
        self._content, self._held = content, held

    def snapshot(self) -> Snapshot:
        content = self._content
        snapshot = _content_snapshot(content) or Snapshot(str(content.get("name", "?")), "", State.TRAINING,
                                                           started=float(content.get("since", time.time())))
        updated = float(content.get("updated", time.time()))
        if snapshot.state.finished:
            return snapshot
        if not self._held:
            where = f"{content.get('host', '?')}, process {content.get('pid', '?')}"
            return dataclasses.replace(
                snapshot, state=State.FAILED, eta_seconds=None, finished_at=updated,
                message=f"the app process that ran it ({where}) stopped; nothing half-written was kept")
        if snapshot.eta_seconds is not None:  # as of the last refresh of the lock file
            left = max(0.0, snapshot.eta_seconds - (time.time() - updated))
            snapshot = dataclasses.replace(snapshot, eta_seconds=left)
        return snapshot

    def cancel(self) -> None:
        self._store.request_cancel(self.token)

    def start(self) -> RemoteJob:
        raise RuntimeError("a job of another replica cannot be started here")

    def join(self, timeout: float | None = None) -> Snapshot:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.snapshot().state.finished and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.5)
            self.refresh(*self._store.status())
        return self.snapshot()


class JobManager:
    """One training at a time for the whole deployment: ``start`` refuses a second with ``Busy``, whether the running
    job is this process's or another replica's.

    The deployment is every process sharing the store ``home`` (default: ``ADVDEMO_HOME``, read at each call, as
    ``registry.user_dir()`` does): ``start`` takes its training lock (``advdemo.training.lock``) and a thread of this
    process keeps the lock file's content (the job's snapshot) current until the job ends, then lets it go. The lock
    dies with this process, so a replica that is killed does not block training. ``current()`` is this process's
    job, or the newer job another replica runs or ran (a ``RemoteJob``, read from the lock file)."""

    def __init__(self, home: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._token: str | None = None
        self._holder: Holder | None = None
        self._home = home
        self._remote: RemoteJob | None = None

    def store(self) -> TrainingLock:
        """The deployment's training lock."""
        return TrainingLock(self._home if self._home is not None else registry.user_dir().parent)

    def current(self) -> Job | RemoteJob | None:
        """The running job, or the last one (finished) until another starts, in any replica."""
        with self._lock:
            local, token = self._job, self._token
        try:
            content, held = self.store().status()
        except OSError:  # the store cannot be read: this process's view only
            return local
        if not content or content.get("token") in (None, token):
            return local
        remote = self._remote_job(content, held)
        ended = remote.snapshot().finished_at
        if ended is not None and time.time() - ended > REMOTE_SHOWN_AFTER_END:
            return local
        if local is not None and (not local.snapshot().state.finished
                                  or local.snapshot().started >= remote.snapshot().started):
            return local
        return remote

    def _remote_job(self, content: dict[str, Any], held: bool) -> RemoteJob:
        """The same object for the same job (the page keys its reruns on it), refreshed."""
        with self._lock:
            if self._remote is None or self._remote.token != content.get("token"):
                self._remote = RemoteJob(self.store(), content, held)
            else:
                self._remote.refresh(content, held)
            return self._remote

    def start(self, job: Job) -> Job:
        with self._lock:
            if self._job is not None and not self._job.snapshot().state.finished:
                raise Busy(busy_message(self._job.snapshot()))
            if self._holder is not None:  # the last job has ended: its lock goes now, not at the keeper's next turn
                self._holder.release(snapshot=_snapshot_content(self._job.snapshot()))
            store = self.store()
            snapshot = job.snapshot()
            try:
                holder = store.acquire({"name": job.request.name, "owner": job.owner, "since": snapshot.started,
                                        "evaluation_n": job.request.evaluation_n,
                                        "snapshot": _snapshot_content(snapshot)})
            except Held as held:
                other = RemoteJob(store, held.info, True).snapshot()
                raise Busy(busy_message(other)) from None
            self._job, self._token, self._holder = job, holder.token, holder
        try:
            started = job.start()
        except BaseException:
            holder.release(snapshot=_snapshot_content(dataclasses.replace(
                job.snapshot(), state=State.FAILED, message="it could not start")))
            raise
        threading.Thread(target=self._keep, args=(job, holder), name=f"lock-{job.request.name}", daemon=True).start()
        return started

    @staticmethod
    def _keep(job: Job, holder: Holder) -> None:
        """Copies the job's snapshot into the lock file until it ends, cancels it on request, then releases."""
        try:
            while True:
                snapshot = job.snapshot()
                if snapshot.state.finished:
                    break
                if holder.cancel_requested():
                    job.cancel()
                holder.update(snapshot=_snapshot_content(snapshot))
                time.sleep(LOCK_REFRESH)
        except Exception:  # a store that cannot be written: the job goes on, the lock goes at its end
            LOG.exception("the training lock file could not be updated")
            while not job.snapshot().state.finished:
                time.sleep(LOCK_REFRESH)
        finally:
            holder.release(snapshot=_snapshot_content(job.snapshot()))


def busy_message(snapshot: Snapshot) -> str:
    """E.g. ``Another session is training "quick-robust" (since 14:02, about 1 min left); one training runs at a
    time: try again when it finishes.``"""
    since = time.strftime("%H:%M", time.localtime(snapshot.started))
    left = "" if snapshot.eta_seconds is None else f", about {format_duration(snapshot.eta_seconds)} left"
    return (f'Another session is training "{snapshot.name}" (since {since}{left}); one training runs at a time '
            "on this server: try again when it finishes.")


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
