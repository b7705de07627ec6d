"""The Streamlit app, run headless with streamlit.testing.v1.AppTest against the models in
``advdemo.PRETRAINED_DIR`` (the bundled ones; ``ADVDEMO_PRETRAINED`` points elsewhere during development).

Assertions are on what the page displays: headings, verdicts, sizes, messages.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil

import numpy as np
import pytest
from apptest_support import (
    APP,
    REQUIRED,
    TIMEOUT,
    heading,
    needs_models,
    rerun,
    sizes,
    start,
    texts,
    verdict_kinds,
    verdicts,
)
from PIL import Image
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.configs import APP_BUDGET, AttackConfig, Norm
from advdemo.data import load_gallery
from advdemo.demo import analysis, link
from advdemo.demo.analysis import Method, Outcome, Scenario, Source, perturbation_norms, same_size_noise
from advdemo.models import registry
from advdemo.ui import keys, runtime, url
from advdemo.ui.inputs import EMPTY_CANVAS_PROMPT, default_gallery_index, handle_upload
from advdemo.ui.results import VIEW_BATCH, VIEW_CURVES, VIEW_SWEEP, verdict

pytestmark = pytest.mark.skipif(
    not all((PRETRAINED_DIR / name).is_file() for name in REQUIRED),
    reason=f"{PRETRAINED_DIR} lacks the bundled models ({', '.join(REQUIRED)}): train them, or point "
           "ADVDEMO_PRETRAINED at a folder that has them")


def default_digit() -> tuple[int, int]:
    """(gallery index, label) of the digit the app opens with: the gallery's first hard one, which the base
    model gets wrong under FGSM L-inf 0.2 and the robust model withstands."""
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    index = default_gallery_index(gallery)
    return index, int(gallery.labels[index])


def model_headings(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("### :")]


def drawing_of_a_one() -> np.ndarray:
    """An RGBA canvas (280x280, black) with a white vertical stroke, as the canvas component returns it."""
    pixels = np.zeros((280, 280, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[40:240, 128:152, :3] = 255
    return pixels


@pytest.fixture(scope="module")
def default_app() -> AppTest:
    return start()


def test_default_page_shows_both_default_models(default_app):
    at = default_app
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2, white-box"
    assert [h.split("[")[1].rstrip("]") for h in model_headings(at)] == ["base", "robust"]
    index, label = default_digit()
    assert f"**True label: {label}** · gallery digit {index} " in texts(at)
    base, robust = verdicts(at)
    fooled = re.fullmatch(r"✗ FOOLED → says (\d) \(\d+%\)", base)
    assert fooled and int(fooled[1]) != label, base
    assert re.fullmatch(rf"✓ HELD → still {label} \(\d+%\)", robust), robust
    assert verdict_kinds(at) == ["fooled", "held"]
    assert [s["linf"] for s in sizes(at)] == [0.2, 0.2]
    assert not at.error


def probabilities(top: int, p: float) -> np.ndarray:
    """float32 (10,): ``p`` on class ``top``, the rest spread evenly."""
    probs = np.full(10, (1.0 - p) / 9, np.float32)
    probs[top] = p
    return probs


def outcome(clean: int, adversarial: int, p: float) -> Outcome:
    """An Outcome predicting ``clean`` on the clean image and ``adversarial`` (with probability ``p``) after."""
    image = np.zeros((28, 28), np.float32)
    return Outcome("base", probabilities(clean, 0.9), image, probabilities(adversarial, p),
                   {norm: 0.0 for norm in Norm}, "base")


@pytest.mark.parametrize("clean, adversarial, target, expected", [
    (7, 4, None, ("wrong", "ALREADY WRONG before the attack (says 7)")),  # wrong before, right after: still wrong
    (7, 5, 5, ("wrong", "ALREADY WRONG before the attack (says 7)")),
    (4, 9, None, ("fooled", "✗ FOOLED → says 9 (83%)")),
    (4, 4, None, ("held", "✓ HELD → still 4 (83%)")),
    (4, 4, 5, ("held", "✓ MISSED 5 → still 4 (83%)")),
    (4, 5, 5, ("fooled", "🎯 REACHED 5 → says 5 (83%)")),
    (4, 8, 5, ("missed", "MISSED 5 → says 8 (83%), wrong but not the target")),
], ids=["already-wrong", "already-wrong-targeted", "fooled", "held", "held-targeted", "target-hit", "target-missed"])
def test_verdict_of_each_case(clean, adversarial, target, expected):
    """True label 4; the probability shown is the adversarial prediction's."""
    assert verdict(outcome(clean, adversarial, 0.83), 4, target) == expected


def test_reruns_run_no_full_garbage_collection(monkeypatch):
    """Streamlit's after-run full collection (it would walk the ~450,000 objects TensorFlow and the models leave
    alive, about 0.5 s per slider move) is off: Streamlit, reading the project's configuration, says so, and its
    script runner still gates that collection on this option (AppTest's runner never collects, so this is
    checked at the source)."""
    import inspect

    from streamlit import config
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.chdir(APP.parent)
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("runner.postScriptGC") is False
    finally:
        config.get_config_options(force_reparse=True)
    assert 'config.get_option("runner.postScriptGC")' in inspect.getsource(script_runner.ScriptRunner)


def test_reruns_keep_tensorflows_compiled_kernels(monkeypatch):
    """Streamlit's after-run ``keras.backend.clear_session()`` would empty TensorFlow's kernel caches, so every
    slider move would rebuild the models' kernels; the app skips that one call and nothing else."""
    import keras
    from tensorflow.python.eager import context

    cleared: list[bool] = []
    clear = context.Context.clear_kernel_cache
    monkeypatch.setattr(context.Context, "clear_kernel_cache", lambda self: (cleared.append(True), clear(self))[1])
    at = start()
    at.slider(key=keys.eps_key(Norm.LINF)).set_value(0.25)
    rerun(at)
    assert not at.exception and [s["linf"] for s in sizes(at)] == [0.25, 0.25]
    assert cleared == []  # neither run cleared the caches
    keras.backend.clear_session(free_memory=False)  # any other caller still gets the real clear_session
    assert cleared == [True]


def test_the_private_streamlit_cleanup_the_app_changes_is_still_there(monkeypatch):
    """The kernel-cache change relies on a private Streamlit function: this Streamlit must still have it, calling
    ``clear_session``; a Streamlit without it is detected (and the page then keeps Streamlit's behaviour)."""
    from streamlit.runtime.scriptrunner import script_runner

    assert runtime.cleanup_still_clears_keras()
    monkeypatch.setattr(script_runner, runtime.STREAMLIT_CLEANUP, lambda: None)
    assert not runtime.cleanup_still_clears_keras()
    monkeypatch.delattr(script_runner, runtime.STREAMLIT_CLEANUP)
    assert not runtime.cleanup_still_clears_keras()


def test_norm_change_changes_the_attack(default_app):
    at = start()
    before = sizes(at)
    at.radio(key=keys.NORM).set_value(Norm.L2)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L2 ε = 2, white-box"
    after = sizes(at)
    assert len(after) == 2 and after != before
    assert all(0 < s["l2"] <= 2.0 + 1e-2 for s in after)  # at most eps (clipping to [0, 1] may cut it)


def test_epsilon_change_changes_the_size():
    at = start()
    at.slider(key=keys.eps_key(Norm.LINF)).set_value(0.05)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.05, white-box"
    assert [s["linf"] for s in sizes(at)] == [0.05, 0.05]


def test_pgd_changes_the_attack(default_app):
    at = start()
    at.radio(key=keys.METHOD).set_value(Method.PGD)
    rerun(at)
    assert heading(at) == "2 · The attack: PGD-40 L-inf ε = 0.2, white-box"
    assert at.slider(key=keys.STEPS).value == 40
    after = sizes(at)
    assert all(s["linf"] <= 0.2 + 1e-3 for s in after)
    assert after != sizes(default_app)


def test_targeted_attack(default_app):
    at = start()
    at.toggle(key=keys.TARGETED).set_value(True)
    rerun(at)
    at.selectbox(key=keys.TARGET).set_value(5)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 targeted at 5, white-box"
    assert sizes(at) != sizes(default_app)
    _, label = default_digit()
    base, robust = verdicts(at)
    moved = re.fullmatch(r"(?:🎯 REACHED 5 → says 5|MISSED 5 → says (\d)) \(\d+%\).*", base)  # base falls for it
    assert moved and moved[1] != str(label), base
    assert re.fullmatch(rf"✓ MISSED 5 → still {label} \(\d+%\)", robust), robust


def captions(at: AppTest) -> str:
    """Every caption of the page, the sidebar's included."""
    return "\n".join(c.value for c in at.caption)


def test_strongest_attack_fools_base_and_robust_holds(default_app):
    """The strongest attack (APGD + Square, the app's budget) at L-inf 0.2 on the default digit: base falls, the
    TRADES model holds. The perturbation is the ensemble's, inside the 0.2 ball, not FGSM's; PGD's settings give
    way to a caption naming the budget."""
    at = start()
    at.radio(key=keys.METHOD).set_value(Method.STRONGEST)
    rerun(at)
    assert heading(at) == "2 · The attack: strongest (APGD + Square) L-inf ε = 0.2, white-box"
    _, label = default_digit()
    base, robust = verdicts(at)
    fooled = re.fullmatch(r"✗ FOOLED → says (\d) \(\d+%\)", base)
    assert fooled and int(fooled[1]) != label, base
    assert re.fullmatch(rf"✓ HELD → still {label} \(\d+%\)", robust), robust
    shown = sizes(at)
    assert len(shown) == 2 and all(0 < s["linf"] <= 0.2 + 1e-3 for s in shown)
    assert shown != sizes(default_app)  # not FGSM's perturbation
    app = dataclasses.replace(APP_BUDGET, norm=Norm.LINF)
    budget = (f"APGD-CE {app.apgd_steps} + APGD-T {app.target_classes}x{app.apgd_steps} + "
              f"Square {app.chains}x{app.queries}")
    assert app.describe() == budget
    assert (f"Budget per image and model: {budget} (APGD steps; {app.chains} Square searches of {app.queries:,} "
            "queries side by side)") in captions(at)
    assert f"Computed now on this digit with {budget} per model (untargeted)." in captions(at)
    assert not [s for s in at.slider if s.key == keys.STEPS]  # no PGD settings
    assert not at.error


def test_strongest_attack_is_untargeted_and_says_so():
    """A target chosen for FGSM is not applied to the strongest attack: the toggle is disabled, a caption says
    the target is not used, the heading and verdict name no target; back on FGSM, the target applies again."""
    at = start(**{keys.MODELS: ["base"]})
    at.toggle(key=keys.TARGETED).set_value(True)
    rerun(at)
    at.selectbox(key=keys.TARGET).set_value(5)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 targeted at 5, white-box"
    at.radio(key=keys.METHOD).set_value(Method.STRONGEST)
    rerun(at)
    assert heading(at) == "2 · The attack: strongest (APGD + Square) L-inf ε = 0.2, white-box"
    assert at.toggle(key=keys.TARGETED).disabled
    assert "The strongest attack is untargeted" in captions(at)
    assert "Target 5 is not applied; it returns with FGSM or PGD." in captions(at)
    [base] = verdicts(at)
    assert "target" not in base and base.startswith("✗ FOOLED"), base
    assert "target" not in at.query_params
    at.radio(key=keys.METHOD).set_value(Method.FGSM)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 targeted at 5, white-box"
    assert at.query_params["target"] == "5"


def test_l1_fgsm_is_the_best_single_step():
    """In L1, FGSM spends the whole ε = 10 on the pixels with the largest gradient (several of them, each as far
    as [0, 1] allows): the L1 size is ε, the page says what FGSM means in L1, and base falls on the default
    digit. NSL's own L1 step (all of ε on one pixel, cut to at most 1 by clipping) would fail all three."""
    from advdemo.models import load_model

    at = start(**{keys.NORM: Norm.L1})
    assert heading(at) == "2 · The attack: FGSM L1 ε = 10, white-box"
    assert "FGSM in L1 is the best single step: all of ε goes to the pixels with the largest gradient" in captions(at)
    assert [s["l1"] for s in sizes(at)] == [10.0, 10.0]
    assert "left after clipping" not in captions(at)
    index, label = default_digit()
    assert verdict_kinds(at) == ["fooled", "held"]
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    image = gallery.images[index, :, :, 0]
    models = {name: load_model(PRETRAINED_DIR / f"{name}.keras") for name in ("base", "robust")}
    for outcome in analysis.analyse(models, ("base", "robust"), image, label, Scenario(norm=Norm.L1, epsilon=10.0)):
        delta = outcome.adversarial - image
        assert outcome.norms[Norm.L1] == pytest.approx(10.0, abs=1e-3), outcome.model
        assert np.count_nonzero(np.abs(delta) > 1e-6) > 1, outcome.model
        assert outcome.adversarial.min() >= 0 and outcome.adversarial.max() <= 1


def test_craft_runs_the_strongest_attack_per_model(monkeypatch):
    """craft() runs the app's budget of the strongest attack in the scenario's norm and eps: white-box once per model
    on that model, transfer once on base for all."""
    calls = []

    def fake(attack, model, images, labels, *, seed):
        calls.append((model, images.shape, labels.tolist(), attack))
        return np.clip(images + 0.1, 0, 1)

    monkeypatch.setattr(analysis, "run", fake)
    models = {"base": "BASE", "robust": "ROBUST"}
    image = np.zeros((28, 28), np.float32)
    scenario = Scenario(norm=Norm.L2, epsilon=1.5, method=Method.STRONGEST)
    adversarial = analysis.craft(models, ("base", "robust"), image, np.array([3]), scenario)
    expected = dataclasses.replace(APP_BUDGET, norm=Norm.L2, epsilon=1.5)
    assert calls == [("BASE", (1, 28, 28, 1), [3], expected), ("ROBUST", (1, 28, 28, 1), [3], expected)]
    assert adversarial["base"].shape == (1, 28, 28) and np.allclose(adversarial["robust"], 0.1)
    calls.clear()
    analysis.craft(models, ("base", "robust"), image, np.array([3]),
                   dataclasses.replace(scenario, source=Source.TRANSFER), epsilon=0.5)
    assert [(call[0], call[3]) for call in calls] == [("BASE", dataclasses.replace(expected, epsilon=0.5))]


def test_transfer_gives_every_model_the_same_perturbation(default_app):
    white_box = sizes(default_app)
    assert white_box[0] != white_box[1]  # each model gets its own perturbation
    at = start()
    at.radio(key=keys.SOURCE).set_value(Source.TRANSFER)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 crafted on base (transfer)"
    transfer = sizes(at)
    assert transfer[0] == transfer[1] == white_box[0]  # base's own perturbation, shown to robust too
    at.selectbox(key=keys.TRANSFER_FROM).set_value("robust")  # any model of the roster can be the source
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 crafted on robust (transfer)"
    from_robust = sizes(at)
    assert from_robust[0] == from_robust[1] == white_box[1]  # robust's own perturbation, shown to base too
    assert at.query_params["from"] == ["robust"] or at.query_params["from"] == "robust"


def test_noise_control_shows_same_size_noise():
    at = start(**{keys.NOISE: True})
    lines = [m.value for m in at.markdown if m.value.startswith("Random noise of the same L-inf size")]
    assert len(lines) == 2
    assert all("(0.2)" in line for line in lines)  # same L-inf size as the attack's 0.2


def test_injected_drawing_is_classified():
    at = start(**{keys.INPUT_MODE: keys.DRAW, keys.INJECTED_DRAWING: drawing_of_a_one()})
    assert len(verdicts(at)) == 2
    captions = " ".join(c.value for c in at.caption)
    assert "the base model's answer on the clean image" in captions
    at.pills(key=keys.STATED_LABEL).set_value(1)
    rerun(at)
    assert "Label 1: the digit you stated" in " ".join(c.value for c in at.caption)
    assert len(verdicts(at)) == 2


def test_empty_canvas_gives_a_prompt_not_a_prediction():
    at = start(**{keys.INPUT_MODE: keys.DRAW})
    assert [i.value for i in at.info] == [EMPTY_CANVAS_PROMPT]
    assert verdicts(at) == []
    blank = drawing_of_a_one()
    blank[..., :3] = 0
    at.session_state[keys.INJECTED_DRAWING] = blank
    rerun(at)
    assert [i.value for i in at.info] == [EMPTY_CANVAS_PROMPT]
    assert verdicts(at) == []


def test_garbage_upload_gives_an_error_message():
    at = start(**{keys.INPUT_MODE: keys.UPLOAD})
    assert verdicts(at) == []
    at.file_uploader(key=keys.UPLOAD_FILE).set_value(("junk.png", b"\x00garbage bytes\xff" * 10, "image/png"))
    rerun(at)
    assert len(at.error) == 1
    assert "Cannot use `junk.png`" in at.error[0].value and "not a PNG or JPEG" in at.error[0].value
    assert verdicts(at) == []


def test_valid_upload_is_classified():
    paper = np.full((120, 90), 240, np.uint8)
    paper[15:105, 40:52] = 10
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="PNG")
    at = start(**{keys.INPUT_MODE: keys.UPLOAD})
    at.file_uploader(key=keys.UPLOAD_FILE).set_value(("one.png", buffer.getvalue(), "image/png"))
    rerun(at)
    assert not at.error
    assert len(verdicts(at)) == 2
    assert "inverted" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("data, phrase", [(b"", "empty"), (b"GIF89a" + bytes(40), "not a PNG or JPEG"),
                                          (b"%PDF-1.4 not an image", "not a PNG or JPEG")])
def test_upload_handler_turns_bad_bytes_into_messages(data, phrase):
    outcome = handle_upload("file.png", data)
    assert outcome.digit is None and outcome.is_error
    assert "Cannot use `file.png`" in outcome.message and phrase in outcome.message


def test_upload_handler_blank_picture_is_a_prompt():
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(buffer, format="PNG")
    outcome = handle_upload("white.png", buffer.getvalue())
    assert outcome.digit is None and not outcome.is_error and "blank" in outcome.message


def test_missing_and_corrupt_models_are_reported_and_the_app_carries_on(tmp_path, monkeypatch):
    for name in ("base.keras", "base.json", "gallery.npz"):
        shutil.copy(PRETRAINED_DIR / name, tmp_path / name)
    (tmp_path / "tutorial.keras").write_bytes(b"not a zip archive")
    monkeypatch.setenv("ADVDEMO_PRETRAINED", str(tmp_path))
    at = start()
    errors = " ".join(e.value for e in at.error)
    assert str(tmp_path / "robust.keras") in errors and "does not exist" in errors
    assert str(tmp_path / "tutorial.keras") in errors and "not a .keras archive" in errors
    assert "python -m advdemo.train --recipe robust" in errors
    assert at.multiselect(key=keys.MODELS).options == ["base"]
    assert len(verdicts(at)) == 1 and [s["linf"] for s in sizes(at)] == [0.2]


def test_user_models_appear_beside_the_bundled_ones_and_a_corrupt_one_is_a_warning(tmp_path, monkeypatch):
    """A model in ``$ADVDEMO_HOME/models`` is offered after the bundled ones, can be attacked (chosen through the
    URL), has its registry colour and its card's summary, and its card's figures join the test-set tab."""
    import json

    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path))
    users = registry.user_dir()
    users.mkdir(parents=True)
    shutil.copy(PRETRAINED_DIR / "base.keras", users / "mine.keras")
    card = json.loads((PRETRAINED_DIR / "base.json").read_text())
    (users / "mine.json").write_text(json.dumps({**card, "summary": "a copy of base, for this test"}))
    (users / "broken.keras").write_bytes(b"not a zip archive")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.query_params.update({"models": "base,mine"})
    rerun(at)
    assert at.multiselect(key=keys.MODELS).options == [*registry.BUNDLED_NAMES, "mine"]
    assert model_headings(at) == ["### :orange[base]", f"### {registry.coloured_name('mine')}"]
    assert len(verdicts(at)) == 2
    text = texts(at)
    assert "a copy of base, for this test" in text
    assert any(str(users / "broken.keras") in w.value and "skipped" in w.value for w in at.warning)
    assert not at.error
    assert f"{users.name}/mine.json" in text
    assert "mine" in at.dataframe[0].value.columns


def test_sweep_view_names_where_each_model_flips():
    """On the default digit base is fooled at the sidebar's ε = 0.2 (one of the sweep's ε), so it is first
    fooled at some ε <= 0.2; robust is right on the clean digit and holds at 0.2."""
    at = start(**{keys.VIEW: VIEW_SWEEP})
    lines = [m.value for m in at.markdown if m.value.startswith("- **")]
    assert len(lines) == 1
    base, robust = lines[0].split("\n")
    first = re.fullmatch(r"- \*\*base\*\* is first fooled at ε = ([\d.]+)", base)
    assert first and 0 < float(first[1]) <= 0.2, base
    later = re.fullmatch(r"- \*\*robust\*\* is first fooled at ε = ([\d.]+)", robust)
    assert (later and float(later[1]) > 0.2) or robust == "- **robust** holds at every ε up to 0.4", robust
    assert "Computed now, on this digit only" in " ".join(c.value for c in at.caption)


def test_curves_view_reads_the_cards():
    """The bundled cards hold L-inf sweeps, so the chart's caption names each card, and the headline table shows
    each card's clean accuracy as written in its metrics."""
    import json

    cards = {name: json.loads((PRETRAINED_DIR / f"{name}.json").read_text()) for name in registry.BUNDLED_NAMES}
    assert all(any(entry["norm"] == "linf" for entry in card["sweeps"]) for card in cards.values())
    at = start()
    text = texts(at)
    folder = PRETRAINED_DIR.name
    listed = ", ".join(f"{folder}/{name}.json" for name in registry.BUNDLED_NAMES)
    assert f"From the model cards ({listed})" in text
    assert "hold no L-inf sweep yet" not in text
    assert "Headline figures" in text
    table = at.dataframe[0].value
    clean = table.iloc[0]
    for name, card in cards.items():
        expected = next(entry["accuracy"] for entry in card["metrics"] if entry["attack"] == "none")
        assert clean[name] == pytest.approx(expected), name


def test_batch_view_scores_both_models():
    """The batch of gallery digits 0-31 under FGSM L-inf 0.2 (white-box): the scores shown are the numbers of
    digits each model gets right, clean and attacked, counted here with advdemo.attacks.gradient directly."""
    from advdemo.attacks.gradient import attack
    from advdemo.models import load_model

    at = start(**{keys.VIEW: VIEW_BATCH})
    scores = [m.value for m in at.markdown if m.value.startswith("#### Batch score under attack:")]
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    images, labels = gallery.images[:32], gallery.labels[:32].astype(np.int64)
    attacked, clean = {}, {}
    for name in ("base", "robust"):
        model = load_model(PRETRAINED_DIR / f"{name}.keras")
        adversarial = attack(model, images, labels, AttackConfig.fgsm(0.2))
        attacked[name] = int(np.sum(np.argmax(model.predict(adversarial, verbose=0), axis=1) == labels))
        clean[name] = int(np.sum(np.argmax(model.predict(images, verbose=0), axis=1) == labels))
    assert attacked["base"] < attacked["robust"]  # a batch in which the two models differ
    assert scores == [f"#### Batch score under attack: base {attacked['base']}/32 · robust {attacked['robust']}/32"]
    captions = " ".join(c.value for c in at.caption)
    assert f"Clean: base {clean['base']}/32 · robust {clean['robust']}/32. Gallery digits 0-31;" in captions


def test_scenario_comes_from_and_goes_to_the_url():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.query_params.update({"norm": "l1", "eps": "5", "models": "base", "input": "gallery", "digit": "3"})
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L1 ε = 5, white-box"
    assert len(verdicts(at)) == 1
    assert "gallery digit 3 " in texts(at)
    at.radio(key=keys.METHOD).set_value(Method.PGD)
    rerun(at)
    assert at.query_params["attack"] == "pgd" and at.query_params["norm"] == "l1"


def test_strongest_attack_comes_from_and_goes_to_the_url():
    """A link with attack=strongest opens the strongest attack, and the URL the page writes keeps it."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.query_params.update({"norm": "l2", "eps": "1.5", "attack": "strongest", "models": "base", "input": "gallery",
                            "digit": "3"})
    rerun(at)
    assert at.radio(key=keys.METHOD).value is Method.STRONGEST
    assert heading(at) == "2 · The attack: strongest (APGD + Square) L2 ε = 1.5, white-box"
    assert at.query_params["attack"] == "strongest" and at.query_params["eps"] == "1.5"
    at.slider(key=keys.eps_key(Norm.L2)).set_value(2.0)
    rerun(at)
    assert at.query_params["attack"] == "strongest" and at.query_params["eps"] == "2"
    context = link.LinkContext(models=("base",), gallery_size=len(load_gallery(PRETRAINED_DIR / "gallery.npz")))
    values, note = url.read_link({name: [at.query_params[name]] for name in at.query_params}, context)
    assert note is None and values[keys.METHOD] is Method.STRONGEST and values[keys.eps_key(Norm.L2)] == 2.0


def test_gallery_pickers_choose_a_class_and_hard_digits():
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    easy = int(np.flatnonzero(~gallery.hard)[0])
    at = start(**{keys.GALLERY_INDEX: easy})
    assert f"gallery digit {easy} " in texts(at) and "a hard one" not in texts(at)
    other = (int(gallery.labels[easy]) + 1) % 10
    at.pills(key=keys.GALLERY_CLASS).set_value(other)
    rerun(at)
    assert f"**True label: {other}**" in texts(at)
    assert at.pills(key=keys.GALLERY_CLASS).value is None  # the class buttons reset, ready for another click
    at.number_input(key=keys.GALLERY_INDEX).set_value(easy)
    rerun(at)
    assert "a hard one" not in texts(at)
    next(button for button in at.button if button.label == "Hard one").click()
    rerun(at)
    assert "· a hard one" in texts(at)
    assert len(verdicts(at)) == 2


def test_clear_button_empties_the_canvas():
    at = start(**{keys.INPUT_MODE: keys.DRAW, keys.INJECTED_DRAWING: drawing_of_a_one()})
    assert len(verdicts(at)) == 2
    next(button for button in at.button if button.label == "Clear the canvas").click()
    rerun(at)
    assert [i.value for i in at.info] == [EMPTY_CANVAS_PROMPT]
    assert verdicts(at) == []


@pytest.mark.parametrize("scenario", [
    Scenario(),
    Scenario(norm=Norm.L2, epsilon=3.5, method=Method.PGD, steps=12, step_fraction=0.25, random_start=False,
             target=4, source=Source.TRANSFER),
    Scenario(norm=Norm.L1, epsilon=20.0, method=Method.PGD, steps=100),
    Scenario(norm=Norm.L1, epsilon=12.5, method=Method.STRONGEST, source=Source.TRANSFER),
    Scenario(source=Source.TRANSFER, transfer_from="my-model_2"),
])
def test_scenario_round_trips_through_the_url(scenario):
    """What the page writes in the URL, the page's own parser reads back as the same scenario."""
    query = {name: [text] for name, text in scenario.to_query().items()}
    values, note = url.read_link(query, link.LinkContext(models=("base", "robust", "my-model_2")))
    assert note is None
    norm = values[keys.NORM]
    back = Scenario(norm=norm, epsilon=values[keys.eps_key(norm)], method=values[keys.METHOD],
                    steps=values.get(keys.STEPS, 40), step_fraction=values.get(keys.STEP_FRACTION, 0.1),
                    random_start=values.get(keys.RANDOM_START, True), target=values.get(keys.TARGET),
                    source=values[keys.SOURCE], transfer_from=values.get(keys.TRANSFER_FROM, "base"))
    assert back == scenario


def test_a_scenario_refuses_a_transfer_source_that_is_no_model_name():
    with pytest.raises(ValueError, match="model name"):
        Scenario(source=Source.TRANSFER, transfer_from="../robust")


def test_strongest_scenario_names_its_attack_and_refuses_a_target():
    strongest = Scenario(method=Method.STRONGEST)
    assert strongest.attack_name == "strongest (APGD + Square)"
    assert strongest.describe() == "strongest (APGD + Square) L-inf eps=0.2, white-box"
    assert strongest.describe(0.3) == "strongest (APGD + Square) L-inf eps=0.3, white-box"
    l1 = Scenario(norm=Norm.L1, epsilon=10.0, method=Method.STRONGEST, source=Source.TRANSFER)
    assert l1.describe() == "strongest (APGD + Sparse-RS) L1 eps=10 crafted on base (transfer)"
    app = dataclasses.replace(APP_BUDGET, norm=Norm.L1, epsilon=10.0)
    assert l1.attack() == app
    assert app.describe() == (f"APGD-CE {app.apgd_steps} + APGD-T {app.target_classes}x{app.apgd_steps} + "
                              f"Sparse-RS {app.chains}x{app.sparse_rs_queries}")
    with pytest.raises(ValueError, match="untargeted"):
        Scenario(method=Method.STRONGEST, target=5)


@pytest.mark.parametrize("norm, size", [(Norm.LINF, 0.2), (Norm.L2, 2.0), (Norm.L1, 10.0)])
def test_noise_control_has_the_requested_size_after_clipping(norm, size):
    image = load_gallery(PRETRAINED_DIR / "gallery.npz").images[0, :, :, 0]
    noisy = same_size_noise(image, size, norm, np.random.default_rng(0))
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert perturbation_norms(noisy - image)[norm] == pytest.approx(size, rel=1e-3)
    assert not np.allclose(noisy, image)



def test_a_first_run_asks_nothing(tmp_path):
    """``streamlit run app.py`` on a machine where Streamlit has never run (an empty home) neither waits for an
    e-mail address nor announces usage statistics: it serves the page straight away."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address",
         "127.0.0.1"], cwd=APP.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": str(tmp_path)}, text=True)
    try:
        deadline, healthy = time.monotonic() + 60, False
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200
            except OSError:
                time.sleep(0.5)
        assert healthy, "the server did not come up without input"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Email" not in output and "usage statistics" not in output.lower(), output


@needs_models
def test_hidden_attack_settings_are_kept():
    """PGD's steps survive a detour through FGSM (the slider is not shown meanwhile), and so does the target
    while the targeted toggle is off."""
    at = start(**{keys.MODELS: ["base"], keys.METHOD: Method.PGD})
    at.slider(key=keys.STEPS).set_value(12)
    rerun(at)
    at.toggle(key=keys.TARGETED).set_value(True)
    rerun(at)
    at.selectbox(key=keys.TARGET).set_value(8)
    rerun(at)
    at.toggle(key=keys.TARGETED).set_value(False)
    at.radio(key=keys.METHOD).set_value(Method.FGSM)
    rerun(at)
    rerun(at)
    at.radio(key=keys.METHOD).set_value(Method.PGD)
    at.toggle(key=keys.TARGETED).set_value(True)
    rerun(at)
    assert at.slider(key=keys.STEPS).value == 12 and at.selectbox(key=keys.TARGET).value == 8
    assert heading(at) == "2 · The attack: PGD-12 L-inf ε = 0.2 targeted at 8, white-box"
