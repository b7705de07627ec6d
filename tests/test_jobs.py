"""advdemo.training.jobs: a training job trains, saves once, measures, and reports progress with an ETA; a cancel while
training writes nothing, a cancel while measuring keeps the model; one job at a time per server."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from advdemo.attacks import member_costs
from advdemo.configs import AdvRegConfig, AttackConfig, Norm, TrainConfig
from advdemo.evaluation import AttackSpec
from advdemo.models import predictions
from advdemo.training import jobs
from advdemo.training.jobs import (
    CURVE_EPSILONS,
    EVALUATION_SUITE,
    Busy,
    EvaluationWork,
    JobManager,
    State,
    TrainingJob,
    TrainingRequest,
    busy_message,
    eta,
    format_duration,
    split_validation,
)


class Recorder:
    """Stands in for the registry: remembers what was saved and each rewrite of the card."""

    def __init__(self):
        self.saved, self.cards = [], []

    def save(self, model, card):
        self.saved.append((model, dict(card)))

    def update_card(self, card):
        self.cards.append({key: list(value) if isinstance(value, list) else value for key, value in card.items()})


def request(epochs=2, evaluation_n=16, curve_n=8, adv=None, **train):
    return TrainingRequest("tiny", "custom", "a test", TrainConfig(epochs=epochs, batch_size=32, **train), adv,
                           evaluation_n=evaluation_n, curve_n=curve_n)


def test_a_job_trains_saves_once_then_measures_and_rewrites_the_card(tiny_splits):
    recorder, updates = Recorder(), []
    job = TrainingJob(request(), lambda: tiny_splits, recorder.save, recorder.update_card, owner="s1",
                      on_update=updates.append)
    final = job.run()
    assert final.state is State.DONE and final.finished_at is not None, final.message
    assert len(recorder.saved) == 1
    model, card = recorder.saved[0]
    assert card["metrics"] == [] and card["train_config"]["epochs"] == 2 and card["data"]["train_examples"] == 256
    assert len(card["training"]["epoch_seconds"]) == 2
    # one rewrite per figure, each holding one more figure than the last
    total = len(EVALUATION_SUITE) + 2 * len(CURVE_EPSILONS)
    assert [len(c["metrics"]) + len(c["sweeps"]) for c in recorder.cards] == list(range(1, total + 1))
    last = recorder.cards[-1]
    assert [entry["attack"] for entry in last["metrics"]] == ["none", "fgsm", "pgd", "strongest"]
    assert all(entry["n"] == 16 for entry in last["metrics"]) and all(entry["n"] == 8 for entry in last["sweeps"])
    assert last["metrics"][0]["accuracy"] > 0.5  # the bars are easy: it learned something
    assert [name for name, _ in final.figures][:2] == ["clean", "FGSM L-inf 0.2"]
    # progress: every batch reported, fractions rising to 1 within training, an ETA once under way
    training = [u for u in updates if u.state is State.TRAINING and u.batches]
    assert [u.fraction for u in training] == sorted(u.fraction for u in training) and training[-1].fraction == 1.0
    assert {(u.epoch, u.batch) for u in training} == {(e, b) for e in (1, 2) for b in range(1, 9)}  # 256 / 32
    assert training[-1].eta_seconds is not None and training[-1].eta_seconds == pytest.approx(0.0, abs=1e-6)
    assert final.history and final.history[-1][0] == pytest.approx(2.0)
    assert any(u.state is State.EVALUATING for u in updates)


def test_cancel_while_training_writes_nothing(tiny_splits):
    recorder = Recorder()
    job = None

    def cancel_after_three_batches(snapshot):
        if snapshot.state is State.TRAINING and snapshot.batch == 3:
            job.cancel()

    job = TrainingJob(request(epochs=3), lambda: tiny_splits, recorder.save, recorder.update_card,
                      on_update=cancel_after_three_batches)
    final = job.run()
    assert final.state is State.CANCELLED and "nothing was written" in final.message
    assert recorder.saved == [] and recorder.cards == []
    assert final.epoch == 1 and final.batch == 3  # stopped after the batch it was cancelled in


def test_cancel_while_measuring_keeps_the_model_and_the_figures_so_far(tiny_splits):
    recorder = Recorder()
    job = None

    def cancel_after_two_figures(snapshot):
        if len(snapshot.figures) == 2:
            job.cancel()

    job = TrainingJob(request(epochs=1), lambda: tiny_splits, recorder.save, recorder.update_card,
                      on_update=cancel_after_two_figures)
    final = job.run()
    assert final.state is State.CANCELLED and "kept" in final.message
    assert len(recorder.saved) == 1 and len(recorder.cards[-1]["metrics"]) == 2


def test_a_failure_is_reported_in_one_line_never_raised(tiny_splits):
    def no_data():
        raise FileNotFoundError("MNIST is not on this machine")

    recorder = Recorder()
    final = TrainingJob(request(), no_data, recorder.save, recorder.update_card).run()
    assert final.state is State.FAILED and final.message == "MNIST is not on this machine"
    assert recorder.saved == []


def test_a_bug_is_reported_with_its_class_name():
    def broken_data():
        raise KeyError("x_train")

    final = TrainingJob(request(), broken_data, Recorder().save, Recorder().update_card).run()
    assert final.state is State.FAILED and final.message == "KeyError: 'x_train'"


def test_validation_is_held_out_as_the_config_says(tiny_splits):
    train, _ = tiny_splits
    kept, held = split_validation(train, 56)
    assert (len(kept), len(held)) == (200, 56)
    assert (held.images == train.images[-56:]).all()
    assert split_validation(train, 0) == (train, None)
    with pytest.raises(ValueError, match="leaves no training images"):
        split_validation(train, 256)
    recorder = Recorder()
    TrainingJob(request(epochs=1, evaluation_n=0, curve_n=0, validation_size=56), lambda: tiny_splits,
                recorder.save, recorder.update_card).run()
    card = recorder.saved[0][1]
    assert card["data"] == {"train_examples": 200, "validation_examples": 56}
    assert "val_accuracy" in card["training"]["history"]


def test_adversarial_request_trains_with_its_regulariser(tiny_splits):
    adv = AdvRegConfig(multiplier=0.2, attack=AttackConfig.fgsm(0.2, Norm.LINF))
    recorder = Recorder()
    final = TrainingJob(request(epochs=1, evaluation_n=0, curve_n=0, adv=adv), lambda: tiny_splits, recorder.save,
                        recorder.update_card).run()
    assert final.state is State.DONE and "trained and saved" in final.message
    assert recorder.saved[0][1]["adv_config"]["multiplier"] == 0.2
    assert recorder.saved[0][1]["training"]["history"]["adversarial_loss"][0] > 0  # the adversarial term ran


def test_every_epoch_is_measured_for_the_live_view(tiny_splits):
    """After each epoch: the running loss, and on the last test images the accuracy clean, under the training's
    own attack (None for normal training) and under a short PGD, each the real accuracy of the model as it was."""
    adv = AdvRegConfig(multiplier=0.2, attack=AttackConfig.fgsm(0.3, Norm.LINF))
    for adv_config, epochs in ((adv, 3), (None, 2)):
        job = TrainingJob(request(epochs=epochs, evaluation_n=0, curve_n=0, adv=adv_config), lambda: tiny_splits,
                          Recorder().save, Recorder().update_card)
        final = job.run()
        points = final.epoch_points
        assert [point.epoch for point in points] == list(range(1, epochs + 1)), final.message
        assert all(np.isfinite(point.loss) and 0 <= point.train_accuracy <= 1 for point in points)
        assert all(0 <= point.clean <= 1 and 0 <= point.pgd <= 1 for point in points)
        assert all((point.own_attack is None) == (adv_config is None) for point in points)


def test_the_last_epoch_point_is_the_saved_models_accuracy(tiny_splits):
    recorder = Recorder()
    final = TrainingJob(request(epochs=2, evaluation_n=0, curve_n=0), lambda: tiny_splits, recorder.save,
                        recorder.update_card).run()
    model = recorder.saved[0][0]
    test = tiny_splits[1].tail(jobs.MONITOR_N)
    assert final.epoch_points[-1].clean == pytest.approx(float(np.mean(predictions(model, test.images) ==
                                                                       test.labels)))


#: One whole evaluation of a quick-preset model as ``benchmarks/quick_presets.py`` timed it on 2 cores of an AMD
#: EPYC (seconds per figure, in the job's order, and the accuracy each figure came out at): the truth the ETA is
#: held to. The strongest attack costs more than all the curve's figures together, FGSM next to nothing.
MEASURED_SECONDS = (0.3, 2, 134, 171, 1, 33, 1, 24, 2, 27, 0.4, 12, 0.4, 7, 0.4, 7)
MEASURED_ACCURACY = (0.98, 0.37, 0.09, 0.08, 0.93, 0.60, 0.80, 0.33, 0.62, 0.15, 0.37, 0.09, 0.2, 0.03, 0.1, 0.01)


def _eta_errors(monkeypatch, tiny_splits, slower: float) -> list[float]:
    """Runs a job's evaluation against a fake clock on which each figure takes ``slower`` x its measured time,
    reporting progress four times; returns |ETA - time really left| / the stage's length from 20% of it on."""
    now = [0.0]
    index = [0]
    plan_length = len(EVALUATION_SUITE) + 2 * len(CURVE_EPSILONS)
    assert len(MEASURED_SECONDS) == plan_length

    def fake_images(model, split, spec, batch_size=1000, on_progress=None):
        seconds = slower * MEASURED_SECONDS[index[0]]
        if spec.kind != "strongest":
            for quarter in range(1, 5):
                now[0] += seconds / 4
                on_progress(spec, quarter / 4, "")
            return split.images
        # As ``attacks.converge`` reports it: APGD-CE on every image, then the other members, each counted at its
        # cost on every image although it runs on the few images still standing (9% here), so that the reported
        # fraction runs ahead of the time.
        costs = [cost for _, cost in member_costs(spec.attack)]
        standing = MEASURED_ACCURACY[2]
        first_share = costs[0] / (costs[0] + standing * sum(costs[1:]))
        for quarter in range(1, 5):
            now[0] += seconds * first_share / 4
            on_progress(spec, quarter / 4 * costs[0] / sum(costs), "")
        for quarter in range(1, 5):
            now[0] += seconds * (1 - first_share) / 4
            on_progress(spec, (costs[0] + quarter / 4 * sum(costs[1:])) / sum(costs), "")
        return split.images

    def fake_accuracy(model, images, labels):
        value = MEASURED_ACCURACY[index[0]]
        index[0] += 1
        return value

    monkeypatch.setattr(jobs, "adversarial_images", fake_images)
    monkeypatch.setattr(jobs, "accuracy", fake_accuracy)
    seen = []
    job = TrainingJob(request(epochs=1, evaluation_n=1000, curve_n=300), lambda: tiny_splits, Recorder().save,
                      Recorder().update_card, on_update=lambda update: seen.append((now[0], update)),
                      clock=lambda: now[0])
    job.card = {"metrics": [], "sweeps": []}
    job._evaluate(model=None, test=tiny_splits[1])
    total = slower * sum(MEASURED_SECONDS)
    return [abs(update.eta_seconds - (total - at)) / total for at, update in seen
            if update.state is State.EVALUATING and update.eta_seconds is not None and at >= 0.2 * total]


@pytest.mark.parametrize("slower", [1.0, 3.0])
def test_the_measurements_eta_is_within_a_quarter_of_the_truth_from_a_fifth_of_the_way(monkeypatch, tiny_splits,
                                                                                         slower):
    errors = _eta_errors(monkeypatch, tiny_splits, slower)
    assert len(errors) > 20 and max(errors) <= 0.25, max(errors)


def test_counting_figures_instead_of_their_cost_would_miss_the_eta_by_far(monkeypatch, tiny_splits):
    """The test above can fail: with every figure weighted alike (the cost model broken), the ETA is far off."""
    monkeypatch.setattr(AttackSpec, "passes", lambda self, standing=1.0: 1.0)
    assert max(_eta_errors(monkeypatch, tiny_splits, 1.0)) > 0.25


def test_the_strongest_attacks_cost_follows_the_images_still_standing():
    strongest = EVALUATION_SUITE[-1]
    plan = [("metrics", spec, 1000) for spec in EVALUATION_SUITE]
    work = EvaluationWork(plan)
    before = work.fraction(3, 0.0)
    work.measured(2, 0.05)  # PGD left 5% standing: the random search will run on few images
    assert work.fraction(3, 0.0) > before
    assert strongest.passes(0.05) < strongest.passes(1.0)
    members = [cost for _, cost in member_costs(strongest.attack)]
    assert strongest.passes(0.0) == pytest.approx(members[0] + 1)  # only APGD-CE runs on every image
    assert strongest.passes(1.0) == pytest.approx(sum(members) + 1)


def test_one_job_at_a_time_per_server(tiny_splits):
    manager, release = JobManager(), threading.Event()

    def slow_data():
        release.wait(30)
        return tiny_splits

    first = TrainingJob(request(epochs=1, evaluation_n=0, curve_n=0), slow_data, Recorder().save,
                        Recorder().update_card)
    manager.start(first)
    second = TrainingJob(request(epochs=1, evaluation_n=0, curve_n=0), lambda: tiny_splits, Recorder().save,
                         Recorder().update_card)
    with pytest.raises(Busy, match='Another session is training "tiny"'):
        manager.start(second)
    assert manager.current() is first
    release.set()
    assert first.join(60).state is State.DONE
    manager.start(second)  # the first has finished: the next one may start
    assert second.join(60).state is State.DONE and manager.current() is second


def test_eta_and_durations_by_hand():
    assert eta(30.0, 0.25) == pytest.approx(90.0)
    assert eta(5.0, 0.005) is None  # too early to say
    assert eta(10.0, 1.0) == 0.0
    assert [format_duration(s) for s in (0, 44.6, 60, 151, 3900)] == ["0 s", "45 s", "1 min", "3 min", "1 h 05 min"]


def test_busy_message_names_the_model_and_the_time_left(tiny_splits):
    job = TrainingJob(request(), lambda: tiny_splits, Recorder().save, Recorder().update_card)
    snapshot = job.snapshot()
    import dataclasses

    message = busy_message(dataclasses.replace(snapshot, eta_seconds=95.0))
    assert message.startswith('Another session is training "tiny" (since ') and "about 2 min left" in message
