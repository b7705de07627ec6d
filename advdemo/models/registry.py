"""The model roster: the bundled models and the user's own, in one place that the app and the report read.

Bundled models are ``base``, ``tutorial`` and ``robust`` (in that display order), in ``bundled_dir()``
(``pretrained/``, or ``$ADVDEMO_PRETRAINED``). How they were trained lives in ``advdemo.configs.recipes``; how they are
shown (summary, colours) lives here.

User models live in ``user_dir()``: ``$ADVDEMO_HOME/models`` when ``ADVDEMO_HOME`` is set, else
``~/.advdemo/models``. Each is a ``NAME.keras`` with an optional ``NAME.json`` model card beside it.
``list_models()`` returns the bundled models, then the user models sorted by name, and a warning for each
file of the user folder it skipped. Nothing here imports Streamlit.

Listing is cheap (it runs on every page load): a user file is skipped with a warning when its name is not a
valid model name, when it is not a ``.keras`` archive (not a zip, or missing the ``config.json`` and
``model.weights.h5`` members that every Keras 3 model file has), or when it shadows a bundled model. A file
that passes this check but still cannot be loaded (a broken config, wrong shapes) fails later, in
``advdemo.models.load_model``, with a ``ModelFileError`` that names it: the app shows that message and
carries on with the other models, as it does for a bundled file.

Several app processes (replicas behind a proxy, ``docs/deploy.md``) may share one user folder: every listing reads
the folder afresh, and a save runs its final check and its renames under an exclusive ``flock`` of ``models.lock``
beside the user folder, so two saves of the same new name at once leave one complete model and a
``ModelExistsError`` for the other.

Writes are atomic: ``save_user_model`` stages the model and its card in a hidden folder inside the user folder
(same file system, so renames are atomic), then moves them into place, model first, then card; on an error the
previous files are put back and nothing new or temporary is left. Bundled files are never written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from advdemo import PRETRAINED_DIR
from advdemo.models import save_model
from advdemo.models.bundled import BUNDLED, BUNDLED_NAMES, Bundled
from advdemo.models.cards import write_json_atomically

#: The longest user model name.
MAX_NAME_LENGTH = 40
#: Members every Keras 3 ``.keras`` archive holds (``keras.saving.save_model``'s layout).
KERAS_MEMBERS = ("config.json", "model.weights.h5")
#: The shape of every model name (bundled or user): a URL or a file name can be checked against it.
MODEL_NAME = re.compile(r"[A-Za-z0-9_-]+")
_STAGING_PREFIX = ".saving-"
#: The lock file, beside the user folder, that orders the commits of several processes (``_folder_lock``).
FOLDER_LOCK = "models.lock"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One model of the roster.

    Attributes:
        name: what the app and the report call it (also the files' stem).
        path: its ``.keras`` file (for a bundled model, whether or not the file exists).
        card_path: the ``.json`` model card beside it (optional for a user model).
        bundled: shipped with the app (never renamed, deleted or overwritten).
        summary: one line on how it was trained.
        colour: hex colour of its lines and marks in every chart.
    """

    name: str
    path: Path
    card_path: Path
    bundled: bool
    summary: str
    colour: str


class Roster(NamedTuple):
    """Every model, bundled first, and one plain sentence per user file that was skipped."""

    models: tuple[ModelInfo, ...]
    warnings: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(model.name for model in self.models)

    def get(self, name: str) -> ModelInfo | None:
        """The model called ``name``, or None."""
        return next((model for model in self.models if model.name == name), None)


#: Models shown when the app opens.
DEFAULT_MODELS: tuple[str, ...] = ("base", "robust")
#: The model a transfer attack is crafted on, as in the NSL tutorial.
TRANSFER_SOURCE = "base"
#: User models' colours: Paul Tol's muted palette (colour-blind safe) without the two colours bundled models use,
#: then black. The user models take them in order of their names (``user_colours``), so up to eight look different.
USER_PALETTE: tuple[str, ...] = ("#332288", "#44AA99", "#CC6677", "#999933", "#AA4499", "#88CCEE", "#DDCC77",
                                 "#000000")


class ModelExistsError(ValueError):
    """A user model of that name exists already (pass ``overwrite=True`` to replace it)."""


def bundled_dir() -> Path:
    """The folder of the bundled models and their cards: ``$ADVDEMO_PRETRAINED`` if set now, else ``pretrained/``."""
    override = os.environ.get("ADVDEMO_PRETRAINED")
    return Path(override) if override else PRETRAINED_DIR


def user_dir() -> Path:
    """The folder of user models: ``$ADVDEMO_HOME/models`` if ``ADVDEMO_HOME`` is set (read now), else
    ``~/.advdemo/models``. It may not exist yet; ``save_user_model`` creates it."""
    home = os.environ.get("ADVDEMO_HOME")
    return (Path(home) if home else Path.home() / ".advdemo") / "models"


def user_colour(name: str, names: Sequence[str] | None = None) -> str:
    """The chart colour of user model ``name``: the palette entry at its place among the user models (``names``,
    default: those in ``user_dir()`` now) sorted by name case-insensitively, as the roster lists them; so no two
    of the first eight share a colour, and none shares a bundled model's."""
    names = _user_names() if names is None else names
    ordered = sorted(set(names) | {name}, key=lambda each: (each.casefold(), each))
    return USER_PALETTE[ordered.index(name) % len(USER_PALETTE)]


def _user_names() -> list[str]:
    try:
        return [path.stem for path in user_dir().glob("*.keras") if not path.name.startswith(".")]
    except OSError:
        return []


def colour_of(name: str) -> str:
    """The chart colour of the model called ``name``, bundled or not."""
    bundled = _bundled(name)
    return bundled.colour if bundled else user_colour(name)


def coloured_name(name: str, text: str | None = None) -> str:
    """Streamlit Markdown of ``text`` (default: ``name``) in model ``name``'s colour, e.g. ``:orange[base]``."""
    text = name if text is None else text
    bundled = _bundled(name)
    if bundled:
        return f":{bundled.markdown_colour}[{text}]"
    return f':color[{text}]{{foreground="{user_colour(name)}"}}'


def _bundled(name: str) -> Bundled | None:
    return next((model for model in BUNDLED if model.name == name), None)


def sanitise_name(text: str) -> str:
    """A safe user model name from what a user typed: ``ValueError`` with a plain message when there is none.

    Unicode is normalised (NFKC, so look-alikes such as a full-width slash become the real character and are
    then refused), surrounding spaces are removed and inner runs of spaces become ``-``. The result has only
    ASCII letters, digits, ``-`` and ``_``, at most ``MAX_NAME_LENGTH`` characters, does not start with ``-``
    and is not a bundled model's name (in any letter case). Anything that could name a path (``/``, ``\\``,
    a leading dot, a NUL byte) is refused, never rewritten, so no name can reach outside ``user_dir()``.
    """
    if not isinstance(text, str):
        raise ValueError(f"a model name must be text, got {type(text).__name__}")
    name = re.sub(r"\s+", "-", unicodedata.normalize("NFKC", text).strip())
    if not name:
        raise ValueError("a model name cannot be empty")
    if "\x00" in name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"{text!r} looks like a path: a model name is a plain word such as my-model-2")
    if not MODEL_NAME.fullmatch(name):
        bad = "".join(sorted(set(re.sub(r"[A-Za-z0-9_-]", "", name))))
        raise ValueError(f"{text!r} has characters a model name cannot have ({bad}): use letters a-z, digits, "
                         "- and _")
    if name.startswith("-"):
        raise ValueError(f"{text!r}: a model name cannot start with -")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{text!r} is {len(name)} characters long: a model name has at most {MAX_NAME_LENGTH}")
    if name.casefold() in {bundled.casefold() for bundled in BUNDLED_NAMES}:
        raise ValueError(f"{name!r} is a bundled model's name ({', '.join(BUNDLED_NAMES)}): choose another")
    return name


def _user_path(name: str, suffix: str) -> Path:
    """``user_dir() / NAME.suffix`` for a sanitised ``name``, checked to stay inside the user folder and
    away from every bundled file."""
    folder = user_dir()
    path = folder / f"{name}{suffix}"
    resolved = path.resolve()
    if resolved.parent != folder.resolve():
        raise ValueError(f"{path} leads outside the user model folder {folder} (a link?): refused")
    bundled = {(bundled_dir() / f"{other}{ext}").resolve() for other in BUNDLED_NAMES for ext in (".keras", ".json")}
    if resolved in bundled:
        raise ValueError(f"{path} is a bundled model's file: it is never overwritten")
    return path


def _bundled_models() -> list[ModelInfo]:
    folder = bundled_dir()
    return [ModelInfo(model.name, folder / f"{model.name}.keras", folder / f"{model.name}.json", True,
                      model.summary, model.colour) for model in BUNDLED]


def _archive_problem(path: Path) -> str | None:
    """Why ``path`` is not a Keras 3 model archive (None if it looks like one). Reads the zip's directory only."""
    if not path.is_file():
        return "is not a file"
    if not zipfile.is_zipfile(path):
        return "is not a .keras archive (corrupt or truncated?)"
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        return f"cannot be read ({error})"
    missing = [member for member in KERAS_MEMBERS if member not in members]
    return f"is not a Keras model archive (it lacks {', '.join(missing)})" if missing else None


def _summary(card_path: Path) -> tuple[str, str | None]:
    """(summary, warning) of a user model from its optional card: the card's ``summary``, else its
    ``description``; a card that cannot be read gives a warning, never an error."""
    if not card_path.exists():
        return "a user model (no model card)", None
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return "a user model (its card is unreadable)", f"{card_path} is not a readable model card ({error})"
    if not isinstance(card, dict):
        return "a user model (its card is unreadable)", f"{card_path} is not a model card (not a JSON object)"
    for key in ("summary", "description"):
        if isinstance(card.get(key), str) and card[key].strip():
            return " ".join(card[key].split()), None
    return "a user model", None


def _user_models() -> tuple[list[ModelInfo], list[str]]:
    folder = user_dir()
    if not folder.exists():
        return [], []
    try:
        paths = sorted((path for path in folder.iterdir() if path.suffix == ".keras"),
                       key=lambda path: (path.stem.casefold(), path.stem))
    except OSError as error:
        return [], [f"The user model folder {folder} cannot be read ({error}); no user models are shown."]
    models, warnings = [], []
    for path in paths:
        if path.name.startswith("."):
            continue  # hidden: a staging folder or a temporary file of a save in progress
        try:
            name = sanitise_name(path.stem)
            problem = None if name == path.stem else f"is not a valid model name (it would be {name!r})"
        except ValueError as error:
            problem = f"is skipped: {error}"
        if problem is None:
            problem = _archive_problem(path)
        if problem is not None:
            warnings.append(f"User model file {path} {problem}: skipped. Rename, retrain or delete it.")
            continue
        card_path = path.with_suffix(".json")
        summary, warning = _summary(card_path)
        if warning:
            warnings.append(warning)
        models.append(ModelInfo(path.stem, path, card_path, False, summary,
                                user_colour(path.stem, [each.stem for each in paths if not each.name.startswith(".")])))
    return models, warnings


def list_models() -> Roster:
    """The bundled models (always, in display order, even when a file is missing: loading reports that),
    then the user models sorted by name (case-insensitively), with a warning per skipped user file.

    Never raises for a bad user file or folder: each problem becomes a warning."""
    models, warnings = _user_models()
    return Roster(tuple(_bundled_models() + models), tuple(warnings))


def _check_user_name(name: str) -> str:
    """``name`` when it is already a valid user model name; ValueError (a bundled name included) otherwise."""
    if name in BUNDLED_NAMES:
        raise ValueError(f"{name!r} is a bundled model: it cannot be renamed, deleted or overwritten")
    clean = sanitise_name(name)
    if clean != name:
        raise ValueError(f"{name!r} is not a valid model name (did you mean {clean!r}?)")
    return clean


def save_user_model(model: Any, card: Mapping[str, Any], name: str, overwrite: bool = False) -> ModelInfo:
    """Writes ``model`` as ``user_dir()/NAME.keras`` and ``card`` as ``NAME.json``, both or neither.

    ``name`` goes through ``sanitise_name`` (so "my model" is saved as ``my-model``). Both files are written
    in a hidden staging folder inside the user folder (with ``advdemo.models.save_model`` and
    ``advdemo.models.cards.write_json_atomically``), then moved into place, model first, then card. If anything
    fails, the staging folder is removed and the previous files of that name, if any, are put back.

    Raises:
        ValueError: a name that cannot be made safe, or a bundled model's name.
        ModelExistsError: a user model of that name exists and ``overwrite`` is False.
        OSError: the files could not be written (a full disk...); the message says that the folder is as it was.
    """
    if not isinstance(card, Mapping):
        raise ValueError(f"a model card is a dict, got {type(card).__name__}")
    name = sanitise_name(name)
    model_path, card_path = _user_path(name, ".keras"), _user_path(name, ".json")
    if model_path.exists() and not overwrite:
        raise ModelExistsError(f"a user model called {name!r} exists already: choose another name or overwrite it")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{name}-", dir=model_path.parent))
    try:
        staged_model = save_model(model, staging / f"{name}.keras")
        staged_card = write_json_atomically(staging / f"{name}.json", dict(card))
        _commit([(staged_model, model_path), (staged_card, card_path)], staging, exclusive=not overwrite)
    except FileExistsError:  # another process (another replica of the app) saved this name since the check above
        raise ModelExistsError(f"a user model called {name!r} was saved by another session a moment ago: choose "
                               "another name (yours was not saved)") from None
    except OSError as error:  # a full disk, a lost permission: said for a user, not which temporary file failed
        message = f"{error.strerror or error}: the model {name!r} was not saved; {model_path.parent} is as it was"
        raise (OSError(message) if error.errno is None else OSError(error.errno, message)) from error
    finally:
        # What is left in it is temporary (or, after a success, the replaced files); a failure to remove it
        # must not turn a completed save into an error, and the listing ignores hidden folders.
        shutil.rmtree(staging, ignore_errors=True)
    return _info(name)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Holds ``models.lock`` beside the user folder (``fcntl.flock``, exclusive, blocking: it is held for a check and
    a few renames only). The kernel drops it when its process ends, however it ends, so it never goes stale."""
    fd = os.open(folder.parent / FOLDER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _commit(moves: list[tuple[Path, Path]], staging: Path, exclusive: bool = False) -> None:
    """Moves each (staged, target) into place in order; on an error, undoes every move made, previous files
    (kept in ``staging`` meanwhile) included, and re-raises.

    Runs under the folder's lock (``_folder_lock``), so of several processes committing the same name one at a time
    goes; ``exclusive``: ``FileExistsError`` (nothing moved) if the first target exists by then."""
    with _folder_lock(staging.parent):
        if exclusive and moves[0][1].exists():
            raise FileExistsError(errno.EEXIST, "exists", str(moves[0][1]))
        _moves(moves, staging)


def _moves(moves: list[tuple[Path, Path]], staging: Path) -> None:
    done: list[tuple[Path, Path]] = []  # (from, to) of each rename made, to undo in reverse
    try:
        for index, (staged, target) in enumerate(moves):
            if target.exists():
                previous = staging / f"previous-{index}{target.suffix}"
                os.replace(target, previous)
                done.append((target, previous))
            os.replace(staged, target)
            done.append((staged, target))
    except BaseException:
        for source, destination in reversed(done):
            os.replace(destination, source)
        raise


def rename_user_model(old: str, new: str) -> ModelInfo:
    """Renames user model ``old`` (and its card, if any) to ``sanitise_name(new)``.

    Raises:
        ValueError: ``old`` is bundled, invalid or does not exist; ``new`` cannot be made safe or is bundled.
        ModelExistsError: a user model called ``new`` exists already.
    """
    old = _check_user_name(old)
    new = sanitise_name(new)
    old_model, old_card = _user_path(old, ".keras"), _user_path(old, ".json")
    new_model, new_card = _user_path(new, ".keras"), _user_path(new, ".json")
    if not old_model.is_file():
        raise ValueError(f"there is no user model called {old!r} in {old_model.parent}")
    if new == old:
        return _info(new)
    if new_model.exists() or new_card.exists():
        raise ModelExistsError(f"a user model called {new!r} exists already: choose another name")
    os.replace(old_model, new_model)
    if old_card.exists():
        try:
            os.replace(old_card, new_card)
        except BaseException:
            os.replace(new_model, old_model)
            raise
    return _info(new)


def delete_user_model(name: str) -> None:
    """Deletes user model ``name``: its card (if any), then its ``.keras`` file, so that an interruption
    leaves a model that is still listed and can be deleted again.

    Raises:
        ValueError: ``name`` is bundled, invalid or does not exist.
    """
    name = _check_user_name(name)
    model_path, card_path = _user_path(name, ".keras"), _user_path(name, ".json")
    if not model_path.is_file():
        raise ValueError(f"there is no user model called {name!r} in {model_path.parent}")
    card_path.unlink(missing_ok=True)
    model_path.unlink()


def _info(name: str) -> ModelInfo:
    """The roster entry of user model ``name`` (already sanitised)."""
    path = _user_path(name, ".keras")
    card_path = path.with_suffix(".json")
    return ModelInfo(name, path, card_path, False, _summary(card_path)[0], user_colour(name))
