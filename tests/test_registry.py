"""The model roster (``advdemo.models.registry``): bundled models, user models in ``$ADVDEMO_HOME/models``, safe names,
atomic saves, rename and delete, and corrupt files listed as warnings.

Every test has its own ``ADVDEMO_HOME`` and ``ADVDEMO_PRETRAINED`` (fake bundled files) under ``tmp_path``.
Listing tests use fake ``.keras`` archives (a zip with the members Keras writes); saving uses a tiny linear
model, so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from advdemo.models import ModelFileError, load_model, registry
from advdemo.models.bundled import BUNDLED_NAMES
from advdemo.models.registry import (
    USER_PALETTE,
    ModelExistsError,
    delete_user_model,
    list_models,
    rename_user_model,
    sanitise_name,
    save_user_model,
    user_colour,
    user_dir,
)

BUNDLED_COLOURS = {"base": ("#D55E00", "orange"), "tutorial": ("#CC79A7", "violet"), "robust": ("#0072B2", "blue"),
                   "masked": ("#882255", "red"), "certified": ("#117733", "green")}


@pytest.fixture
def folders(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(bundled folder with fake bundled files, user model folder, not created yet)."""
    bundled = tmp_path / "pretrained"
    bundled.mkdir()
    for name in BUNDLED_NAMES:
        (bundled / f"{name}.keras").write_bytes(f"bundled {name} weights".encode())
        (bundled / f"{name}.json").write_text(json.dumps({"name": name}))
    monkeypatch.setenv("ADVDEMO_PRETRAINED", str(bundled))
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    return bundled, tmp_path / "home" / "models"


@pytest.fixture(scope="module")
def tiny_model():
    from tests.conftest import build_linear

    return build_linear()


def fake_keras(path: Path, members: tuple[str, ...] = registry.KERAS_MEMBERS) -> Path:
    """A zip with the given members: passes the listing's check (not a loadable model)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.writestr(member, "{}")
    return path


def files_under(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (hidden ones included), relative, sorted."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.exists() else []


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# The folders.

def test_user_dir_honours_advdemo_home_else_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "elsewhere"))
    assert user_dir() == tmp_path / "elsewhere" / "models"
    monkeypatch.delenv("ADVDEMO_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert user_dir() == tmp_path / "user" / ".advdemo" / "models"


def test_save_writes_into_advdemo_home(folders, tiny_model, tmp_path, monkeypatch):
    other = tmp_path / "other-home"
    monkeypatch.setenv("ADVDEMO_HOME", str(other))
    info = save_user_model(tiny_model, {"summary": "s"}, "mine")
    assert info.path == other / "models" / "mine.keras" and info.path.is_file()
    assert list_models().names == (*BUNDLED_NAMES, "mine")


# The roster.

def test_bundled_models_come_first_in_display_order_with_todays_look(folders):
    bundled, _ = folders
    roster = list_models()
    assert roster.names == ("base", "tutorial", "robust", "masked", "certified") and roster.warnings == ()
    for info in roster.models:
        assert info.bundled and info.path == bundled / f"{info.name}.keras" and info.card_path == bundled / \
            f"{info.name}.json"
        assert info.colour == BUNDLED_COLOURS[info.name][0]
        assert registry.coloured_name(info.name) == f":{BUNDLED_COLOURS[info.name][1]}[{info.name}]"
    assert [info.summary for info in roster.models] == [
        "normal training", "NSL tutorial: adversarial regularization with FGSM neighbours",
        "TRADES: adversarial training with PGD",
        "NSL tutorial recipe, seed 1: gradient-masked (one FGSM step finds almost nothing, PGD almost everything)",
        "interval bound propagation: trained so that a proof covers most digits"]
    assert registry.DEFAULT_MODELS == ("base", "robust") and registry.TRANSFER_SOURCE == "base"


def test_bundled_models_are_listed_even_when_their_files_are_missing(folders):
    bundled, _ = folders
    (bundled / "robust.keras").unlink()
    assert list_models().names == BUNDLED_NAMES  # loading reports the missing file, with how to rebuild it


def test_user_models_follow_sorted_by_name_with_their_card_summary(folders):
    _, users = folders
    for name in ("zeta", "Alpha", "mid_1"):
        fake_keras(users / f"{name}.keras")
    (users / "mid_1.json").write_text(json.dumps({"summary": "quick   preset\n5 epochs", "description": "long"}))
    (users / "zeta.json").write_text(json.dumps({"description": "from the description"}))
    roster = list_models()
    assert roster.names == (*BUNDLED_NAMES, "Alpha", "mid_1", "zeta") and roster.warnings == ()
    users_info = {info.name: info for info in roster.models if not info.bundled}
    assert users_info["mid_1"].summary == "quick preset 5 epochs"
    assert users_info["zeta"].summary == "from the description"
    assert users_info["Alpha"].summary == "a user model (no model card)"
    assert users_info["Alpha"].card_path == users / "Alpha.json"
    assert roster.get("zeta") is users_info["zeta"] and roster.get("nobody") is None


def test_corrupt_and_misnamed_user_files_are_warnings_never_errors(folders):
    _, users = folders
    good = fake_keras(users / "good.keras")
    (users / "garbage.keras").write_bytes(b"not a zip archive")
    whole = fake_keras(users / "whole.keras").read_bytes()
    (users / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    (users / "whole.keras").unlink()
    fake_keras(users / "plain-zip.keras", members=("readme.txt",))
    fake_keras(users / "has space.keras")
    fake_keras(users / "Base.keras")  # shadows a bundled model
    (users / "folder.keras").mkdir()
    (users / "orphan.json").write_text("{}")  # a card without a model: not a model
    fake_keras(users / ".hidden.keras")  # hidden: a save in progress
    (users / "notes.txt").write_text("hello")
    fake_keras(users / "badcard.keras")
    (users / "badcard.json").write_text("{not json")

    roster = list_models()
    assert roster.names == (*BUNDLED_NAMES, "badcard", "good")
    assert roster.get("good").path == good
    assert roster.get("badcard").summary == "a user model (its card is unreadable)"
    warnings = "\n".join(roster.warnings)
    assert len(roster.warnings) == 7, warnings
    for name in ("garbage.keras", "truncated.keras", "plain-zip.keras", "has space.keras", "Base.keras",
                 "folder.keras", "badcard.json"):
        assert str(users / name) in warnings, name
    assert "not a .keras archive" in warnings and "lacks config.json, model.weights.h5" in warnings
    assert "orphan" not in warnings and "hidden" not in warnings and "notes" not in warnings


def test_a_file_that_passes_the_listing_but_cannot_load_fails_at_load_time_with_a_model_file_error(folders):
    _, users = folders
    fake_keras(users / "hollow.keras")
    info = list_models().get("hollow")
    with pytest.raises(ModelFileError, match="hollow.keras"):
        load_model(info.path)


def test_an_unreadable_user_folder_is_a_warning(folders):
    _, users = folders
    users.parent.mkdir(parents=True)
    users.write_text("a file where the folder should be")
    roster = list_models()
    assert roster.names == BUNDLED_NAMES
    assert len(roster.warnings) == 1 and str(users) in roster.warnings[0]


# Colours.

def test_each_user_model_has_a_colour_of_its_own_never_a_bundled_one(folders):
    _, users = folders
    bundled_hex = {colour for colour, _ in BUNDLED_COLOURS.values()}
    assert not set(USER_PALETTE) & bundled_hex and len(set(USER_PALETTE)) == len(USER_PALETTE)
    names = ["zeta", "Alpha", "mine", "quick", "quick-2", "b", "robust-2", "my-quick"]
    for name in names:
        fake_keras(users / f"{name}.keras")
    roster = [info for info in list_models().models if not info.bundled]
    # In the roster's order (by name, case-insensitively), the palette's colours one after another: all differ.
    assert [info.name for info in roster] == ["Alpha", "b", "mine", "my-quick", "quick", "quick-2", "robust-2",
                                              "zeta"]
    assert [info.colour for info in roster] == list(USER_PALETTE)
    for info in roster:  # the charts and the headings, asked by name only, agree with the roster
        assert registry.colour_of(info.name) == info.colour == user_colour(info.name)
        assert registry.coloured_name(info.name) == f':color[{info.name}]{{foreground="{info.colour}"}}'
    assert registry.colour_of("robust") == "#0072B2" and registry.coloured_name("tutorial") == ":violet[tutorial]"
    # A new model takes its place in the order: a ninth wraps round the palette.
    assert user_colour("zz", names) == USER_PALETTE[0]


# Names.

@pytest.mark.parametrize("text", [
    "", "   ", "../../etc/passwd", "/etc/passwd", "..", ".", ".hidden", "a/b", "a\\b", "nul\x00byte", "x" * 41,
    "base", "Base", "ROBUST", " tutorial ", "café", "модель", "a\u200bb", "a.keras", "-rf", "semi;colon",
    "\uff0e\uff0e\uff0fescape",  # full-width "../escape": NFKC turns it into the real thing
    "\u2025",  # the two-dot leader, NFKC ".."
    "C:\\Windows",
])
def test_bad_names_are_refused_with_a_plain_message_and_nothing_is_written(text, folders, tiny_model, tmp_path):
    before = files_under(tmp_path)
    with pytest.raises(ValueError) as raised:
        sanitise_name(text)
    message = str(raised.value)
    assert message and "Traceback" not in message
    with pytest.raises(ValueError):
        save_user_model(tiny_model, {}, text)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(("text", "name"), [
    ("mine", "mine"), ("my model", "my-model"), ("  run_2\t", "run_2"), ("a  b", "a-b"),
    ("\uff52\uff55\uff4e\uff11", "run1"),  # full-width letters become ASCII
    ("x" * 40, "x" * 40), ("robust-2", "robust-2"), ("Base2", "Base2"),
])
def test_good_names_are_kept_or_tidied(text, name):
    assert sanitise_name(text) == name


def test_a_name_is_text():
    with pytest.raises(ValueError, match="text"):
        sanitise_name(None)  # type: ignore[arg-type]


# Saving.

def test_save_writes_the_model_and_its_card_and_nothing_else(folders, tiny_model):
    _, users = folders
    card = {"summary": "tiny test model", "metrics": []}
    info = save_user_model(tiny_model, card, "my model")
    assert info.name == "my-model" and not info.bundled and info.summary == "tiny test model"
    assert files_under(users) == ["my-model.json", "my-model.keras"]
    assert json.loads(info.card_path.read_text()) == card
    assert load_model(info.path).count_params() == tiny_model.count_params()
    assert list_models().get("my-model") == info


def test_an_existing_name_is_refused_unless_overwrite(folders, tiny_model):
    _, users = folders
    save_user_model(tiny_model, {"summary": "first"}, "mine")
    first = snapshot(users)
    with pytest.raises(ModelExistsError, match="exists already"):
        save_user_model(tiny_model, {"summary": "second"}, "mine")
    assert snapshot(users) == first
    save_user_model(tiny_model, {"summary": "second"}, "mine", overwrite=True)
    assert json.loads((users / "mine.json").read_text()) == {"summary": "second"}
    assert files_under(users) == ["mine.json", "mine.keras"]


def test_bundled_files_are_never_written_even_when_the_user_folder_is_the_bundled_one(folders, tiny_model,
                                                                                      monkeypatch):
    bundled, _ = folders
    before = snapshot(bundled)
    monkeypatch.setenv("ADVDEMO_HOME", str(bundled.parent))
    monkeypatch.setenv("ADVDEMO_PRETRAINED", str(bundled.parent / "models"))  # the same folder twice
    (bundled.parent / "models").symlink_to(bundled)
    for name in BUNDLED_NAMES:
        with pytest.raises(ValueError, match="bundled"):
            save_user_model(tiny_model, {}, name, overwrite=True)
        with pytest.raises(ValueError, match="bundled"):
            delete_user_model(name)
        with pytest.raises(ValueError, match="bundled"):
            rename_user_model(name, f"{name}-copy")
        with pytest.raises(ValueError, match="bundled"):
            rename_user_model("whatever", name)
    assert snapshot(bundled) == before


def crash_on(monkeypatch, function: str, when=lambda *args: True):
    """Makes ``registry.<function>`` raise OSError("No space left on device") the first time ``when(*args)``."""
    original = getattr(registry.os, function) if function == "replace" else getattr(registry, function)
    calls = {"crashed": False}

    def broken(*args, **kwargs):
        if not calls["crashed"] and when(*args):
            calls["crashed"] = True
            if function == "save_model":  # a half-written file first, as a real crash would leave
                Path(args[1]).write_bytes(b"half a model")
            raise OSError(28, "No space left on device")
        return original(*args, **kwargs)

    if function == "replace":
        monkeypatch.setattr(registry.os, "replace", broken)
    else:
        monkeypatch.setattr(registry, function, broken)
    return calls


def _user_folder_card(users: Path):
    return lambda source, destination: Path(destination) == users / "mine.json"


def _user_folder_model(users: Path):
    return lambda source, destination: Path(destination) == users / "mine.keras"


CRASHES = {
    "while saving the model": ("save_model", None),
    "while writing the card": ("write_json_atomically", None),
    "moving the model into place": ("replace", _user_folder_model),
    "moving the card into place, after the model": ("replace", _user_folder_card),
}


@pytest.mark.parametrize("where", list(CRASHES))
def test_a_crash_mid_save_leaves_no_file_behind(where, folders, tiny_model, monkeypatch):
    _, users = folders
    function, when = CRASHES[where]
    calls = crash_on(monkeypatch, function, when(users) if when else (lambda *args: True))
    with pytest.raises(OSError, match="No space left"):
        save_user_model(tiny_model, {"summary": "new"}, "mine")
    assert calls["crashed"]
    assert files_under(users) == []  # no model, no card, no temporary file or staging folder
    assert list_models().names == BUNDLED_NAMES


@pytest.mark.parametrize("where", list(CRASHES))
def test_a_crash_mid_overwrite_keeps_the_previous_files(where, folders, tiny_model, monkeypatch):
    _, users = folders
    save_user_model(tiny_model, {"summary": "previous"}, "mine")
    before = snapshot(users)
    function, when = CRASHES[where]
    calls = crash_on(monkeypatch, function, when(users) if when else (lambda *args: True))
    with pytest.raises(OSError, match="No space left"):
        save_user_model(tiny_model, {"summary": "new"}, "mine", overwrite=True)
    assert calls["crashed"]
    assert snapshot(users) == before and files_under(users) == ["mine.json", "mine.keras"]


def test_a_card_that_is_not_json_leaves_nothing(folders, tiny_model):
    _, users = folders
    with pytest.raises(TypeError):
        save_user_model(tiny_model, {"summary": object()}, "mine")
    assert files_under(users) == []


# Rename and delete.

def test_rename_moves_the_model_and_its_card(folders):
    _, users = folders
    model = fake_keras(users / "one.keras").read_bytes()
    (users / "one.json").write_text(json.dumps({"summary": "the first"}))
    info = rename_user_model("one", "two words")
    assert info.name == "two-words" and info.summary == "the first"
    assert files_under(users) == ["two-words.json", "two-words.keras"]
    assert (users / "two-words.keras").read_bytes() == model
    assert list_models().names == (*BUNDLED_NAMES, "two-words")


def test_rename_without_a_card_and_its_refusals(folders):
    _, users = folders
    fake_keras(users / "one.keras")
    fake_keras(users / "taken.keras")
    assert rename_user_model("one", "two").card_path == users / "two.json"
    assert files_under(users) == ["taken.keras", "two.keras"]
    with pytest.raises(ModelExistsError):
        rename_user_model("two", "taken")
    with pytest.raises(ValueError, match="no user model"):
        rename_user_model("missing", "other")
    with pytest.raises(ValueError):
        rename_user_model("two", "../escape")
    with pytest.raises(ValueError):
        rename_user_model("../two", "fine")
    assert files_under(users) == ["taken.keras", "two.keras"]


def test_a_failed_card_rename_puts_the_model_back(folders, monkeypatch):
    _, users = folders
    fake_keras(users / "one.keras")
    (users / "one.json").write_text("{}")
    before = snapshot(users)
    crash_on(monkeypatch, "replace", lambda source, destination: Path(destination) == users / "two.json")
    with pytest.raises(OSError):
        rename_user_model("one", "two")
    assert snapshot(users) == before


def test_delete_removes_both_files_and_a_missing_card_is_fine(folders):
    _, users = folders
    fake_keras(users / "one.keras")
    (users / "one.json").write_text("{}")
    fake_keras(users / "cardless.keras")
    delete_user_model("one")
    delete_user_model("cardless")
    assert files_under(users) == []
    with pytest.raises(ValueError, match="no user model"):
        delete_user_model("one")


def test_delete_never_follows_a_link_out_of_the_user_folder(folders):
    bundled, users = folders
    users.mkdir(parents=True)
    (users / "sneaky.keras").symlink_to(bundled / "base.keras")
    before = snapshot(bundled)
    with pytest.raises(ValueError, match="outside the user model folder"):
        delete_user_model("sneaky")
    with pytest.raises(ValueError, match="looks like a path"):
        delete_user_model("../pretrained/base")
    assert snapshot(bundled) == before and (users / "sneaky.keras").is_symlink()


def test_a_missing_model_file_says_how_to_rebuild_it(tmp_path):
    """A bundled model's missing file names its exact training command (the masked model: the tutorial's recipe
    with seed 1); any other name gets the generic one."""
    with pytest.raises(ModelFileError, match=r"--recipe tutorial --out .*tutorial\.keras"):
        load_model(tmp_path / "tutorial.keras")
    with pytest.raises(ModelFileError, match=r"--recipe tutorial --seed 1 --out .*masked\.keras`"):
        load_model(tmp_path / "masked.keras")
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path / "mine.keras")
    assert "--recipe" not in str(error.value) and "python -m advdemo.train --out" in str(error.value)
