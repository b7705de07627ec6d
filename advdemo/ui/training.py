"""Training from the page: the sidebar's "Train a model" panel (the controls and one status line), the live view on
the main page, and the sidebar's "Your models" list.

Training runs in a child process at a lower CPU priority (``jobs.ProcessJob``), one at a time per server
(``job_manager``), so the sessions' attacks stay quick while it runs; every session sees it, only the session that
started it can cancel it. The live view (``live_view``: the loss, and after each epoch the accuracy clean, under the
training's own attack and under a short PGD, with the ETA) is on the main page of the session that started the job
and of every session whose "Train a model" panel is open; it refreshes itself every two seconds (a fragment) and
reruns the whole page when the model is saved and when the job ends, so the new model joins "Models to attack" and
the test-set tab.
"""

from __future__ import annotations

import functools
import uuid

import streamlit as st

from advdemo.configs import Norm
from advdemo.data import resolve_mnist_path
from advdemo.demo.charts import training_charts
from advdemo.models import registry
from advdemo.training.jobs import (
    Busy,
    Job,
    JobManager,
    ProcessJob,
    State,
    TrainingRequest,
    busy_message,
    format_duration,
    user_model_job,
)
from advdemo.training.presets import (
    CUSTOM,
    CUSTOM_HELP,
    KIND_LABELS,
    PRESETS,
    Kind,
    custom_request,
    preset_times,
)
from advdemo.ui import keys
from advdemo.ui.lang import N_, _, num

PRESET = "train_preset"
#: The "Train a model" expander's open state (the tour opens it; a new job opens it once in its own session).
PANEL = "train_panel"
OPENED_FOR = "train_panel_opened_for"
NAME = "train_name"
CANCEL = "train_cancel"
MESSAGE = "train_message"
SEEN_STATE = "train_seen_state"
SESSION = "session_id"
USER_MODEL = "user_model"
NEW_NAME = "user_model_new_name"
#: Custom settings: widget key -> default.
CUSTOM_DEFAULTS = {"kind": Kind.NSL, "epochs": 5, "batch_size": 32, "learning_rate": 1e-3, "train_examples": 60_000,
                   "multiplier": 0.2, "adv_grad_norm": Norm.LINF, "adv_step_size": 0.2, "pgd_iterations": 1,
                   "pgd_epsilon": 0.2, "random_init": False, "seed": 0}
NO_MNIST = N_("No MNIST file is configured (`ADVDEMO_MNIST`): **Train** downloads it (11 MB) the first time. On a "
            "machine without internet, set `ADVDEMO_MNIST=/path/to/mnist.npz` and restart the app.")
MNIST_MISSING = N_("`ADVDEMO_MNIST` names `{path}`, which does not exist, so Train is off: point it at a Keras-format "
                 "mnist.npz and restart the app.")


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    """One per server: every session sees the same job."""
    return JobManager()


def _session_id() -> str:
    keys.default(SESSION, uuid.uuid4().hex)
    return st.session_state[SESSION]


def _key(field: str) -> str:
    return f"train_{field}"


def _preset_label(key: str) -> str:
    if key == CUSTOM:
        return _("Custom: your own settings")
    return PRESETS[key].label


def _preset_times_caption(key: str) -> str:
    """How long the preset took where it was measured, and on which CPU."""
    times = preset_times(key)
    if times.train_seconds is None:
        return _("Not timed yet: the progress bar gives the estimate.")
    return _("Measured: {times} on {cpu} ({source}); the progress bar gives the estimate on this machine.").format(
        times=times.describe(), cpu=times.machine, source=times.source)


def _custom_settings() -> dict:
    for field, value in CUSTOM_DEFAULTS.items():
        keys.default(_key(field), value)
    kind = st.selectbox(_("Training"), list(Kind), key=_key("kind"), format_func=KIND_LABELS.get,
                        help=CUSTOM_HELP["kind"])
    values = {"kind": kind,
              "epochs": st.number_input(_("Epochs"), 1, 50, key=_key("epochs"), help=CUSTOM_HELP["epochs"]),
              "batch_size": st.number_input(_("Batch size"), 8, 1024, key=_key("batch_size"),
                                            help=CUSTOM_HELP["batch_size"]),
              "learning_rate": st.number_input(_("Learning rate"), 1e-5, 1e-1, key=_key("learning_rate"), format="%.4f",
                                               help=CUSTOM_HELP["learning_rate"]),
              "train_examples": st.number_input(_("Training images"), 100, 60_000, step=1000,
                                                key=_key("train_examples"), help=CUSTOM_HELP["train_examples"]),
              "seed": st.number_input(_("Seed"), 0, 2**31 - 1, key=_key("seed"), help=CUSTOM_HELP["seed"])}
    if kind is not Kind.NORMAL:
        values.update(
            multiplier=st.number_input("multiplier", 0.0, 100.0, key=_key("multiplier"),
                                       help=CUSTOM_HELP["multiplier"]),
            adv_grad_norm=st.radio("adv_grad_norm", list(Norm), key=_key("adv_grad_norm"), horizontal=True,
                                   format_func=lambda norm: norm.label, help=CUSTOM_HELP["adv_grad_norm"]),
            adv_step_size=st.number_input("adv_step_size", 0.0, 100.0, key=_key("adv_step_size"),
                                          help=CUSTOM_HELP["adv_step_size"]),
            pgd_iterations=st.number_input("pgd_iterations", 1, 40, key=_key("pgd_iterations"),
                                           help=CUSTOM_HELP["pgd_iterations"]),
            pgd_epsilon=st.number_input("pgd_epsilon", 0.0, 100.0, key=_key("pgd_epsilon"),
                                        help=CUSTOM_HELP["pgd_epsilon"]),
            random_init=st.toggle("random_init", key=_key("random_init"), help=CUSTOM_HELP["random_init"]))
    return values


def build_request(preset: str, name: str, custom: dict) -> TrainingRequest:
    """The request the panel's values describe (ValueError with a plain message for bad values)."""
    name = registry.sanitise_name(name)
    if name in registry.list_models().names:
        raise ValueError(f'a model named "{name}" already exists: choose another name, or delete it under '
                         '"Your models"')
    if preset == CUSTOM:
        return custom_request(name, **custom)
    return PRESETS[preset].request(name)


def start_job(request: TrainingRequest) -> Job:
    """Starts training ``request`` in a child process; the model and its card go to the user folder (``Busy``
    if another training runs)."""
    data = resolve_mnist_path()
    build = functools.partial(user_model_job, request, owner=_session_id(),
                              card_extras={"data": {"source": str(data) if data else "keras.datasets.mnist"},
                                           "trained_in": "the app's sidebar"})
    return job_manager().start(ProcessJob(request, build, owner=_session_id()))


def _custom_values() -> dict:
    """The custom settings as they are when Train is clicked (read from session state, not from the run that drew
    the button: an edit and a click in quick succession must train what the fields show)."""
    values = {field: st.session_state.get(_key(field), default) for field, default in CUSTOM_DEFAULTS.items()}
    if Kind(values["kind"]) is Kind.NORMAL:
        values = {field: values[field] for field in ("kind", "epochs", "batch_size", "learning_rate",
                                                     "train_examples", "seed")}
    return values


def _train_clicked() -> None:
    try:
        preset = st.session_state[PRESET]
        custom = _custom_values() if preset == CUSTOM else {}
        start_job(build_request(preset, st.session_state.get(NAME, ""), custom))
        st.session_state[MESSAGE] = None
    except (ValueError, Busy) as error:
        st.session_state[MESSAGE] = str(error)


#: The live view refreshes itself this often (seconds) while a job runs.
LIVE_EVERY = 2.0


def stage_line(job: Job) -> str:
    """Where the job is, in one line: ``Training **m**: epoch 2/3, batch 40/157 · about 1 min left``."""
    snapshot = job.snapshot()
    left = "" if snapshot.eta_seconds is None else _(" · about {duration} left").format(
        duration=format_duration(snapshot.eta_seconds))
    if snapshot.state is State.TRAINING and not snapshot.batches:
        return _("Preparing **{model}**: {message}…").format(model=snapshot.name, message=snapshot.message)
    if snapshot.state is State.TRAINING:
        return _("Training **{model}**: {stage}").format(model=snapshot.name, stage=snapshot.stage_label) + left
    if snapshot.state is State.EVALUATING:
        return _("**{model}** is saved and ready to attack; {message}").format(
            model=snapshot.name, message=snapshot.message) + left
    return f"**{snapshot.name}**: {snapshot.message}"


def _live_body(job: Job) -> None:
    snapshot = job.snapshot()
    st.subheader(_("Training {model}").format(model=snapshot.name), anchor=False)
    if not snapshot.state.finished:
        st.progress(snapshot.fraction, text=stage_line(job))
    if snapshot.history or snapshot.epoch_points:
        loss, accuracy = training_charts(snapshot.history, snapshot.epoch_points,
                                         snapshot.epochs or job.request.train_config.epochs, snapshot.monitor_images,
                                         _)
        left, right = st.columns(2)
        left.vega_lite_chart(loss, width="stretch")
        right.vega_lite_chart(accuracy, width="stretch")
    for description, value in snapshot.figures:
        st.caption(_("{description}: {value} (on {count} test images)").format(
            description=description, value=num(value, ".1%"), count=num(job.request.evaluation_n, ",")))
    if snapshot.state is State.DONE:
        st.success(_("**{model}** is ready: choose it under Models to attack.").format(model=snapshot.name))
    elif snapshot.state is State.CANCELLED:
        st.info(f"**{snapshot.name}**: {snapshot.message}")  # which training: a session opening the panel later
    elif snapshot.state is State.FAILED:
        st.error(_("Training {model} failed: {message}").format(model=snapshot.name, message=snapshot.message))


def status_line(job: Job) -> str:
    """One line on a job, for the sidebar (as fresh as the last rerun)."""
    snapshot = job.snapshot()
    if snapshot.state.finished:
        return stage_line(job)
    if job.owner != _session_id():
        return busy_message(snapshot) + " " + _("Only that session can cancel it.")
    return stage_line(job) + _(". Its curves are on the page.")


def _needs_page_rerun(job: Job) -> bool:
    """True once when the model has just been saved (it joins the roster) and once when the job ends."""
    snapshot = job.snapshot()
    milestone = (id(job), snapshot.state if snapshot.state is not State.TRAINING else None)
    if milestone[1] is None or st.session_state.get(SEEN_STATE) == milestone:
        return False
    st.session_state[SEEN_STATE] = milestone
    return True


@st.fragment(run_every=LIVE_EVERY)
def _live_fragment() -> None:
    job = job_manager().current()
    if job is None:
        return
    _live_body(job)
    if _needs_page_rerun(job):
        st.rerun()


def _watching(job: Job | None) -> bool:
    """Whether this session shows the live view: the session that started the job, and those whose "Train a model"
    panel is open (a class of 30 each refreshing charts every two seconds would load the server for nothing)."""
    return job is not None and (job.owner == _session_id() or bool(st.session_state.get(PANEL)))


def live_view() -> None:
    """The training's live view on the main page (nothing when no job is watched): refreshes itself while the job
    runs, and shows how it ended."""
    job = job_manager().current()
    if not _watching(job):
        return
    with st.container(border=True, key="train_live"):
        if job.snapshot().state.finished:
            _live_body(job)
            if _needs_page_rerun(job):
                st.rerun()
        else:
            _live_fragment()


def training_panel() -> None:
    """The sidebar's "Train a model" expander."""
    job = job_manager().current()
    running = job is not None and not job.snapshot().state.finished
    keys.default(PANEL, False)
    # The session that started the job sees it open, once per job (then the user decides); the others keep their
    # panel as it is: a class of 30 with the panel open would redraw 30 progress charts every second.
    if running and job.owner == _session_id() and st.session_state.get(OPENED_FOR) != id(job):
        st.session_state[PANEL] = True
        st.session_state[OPENED_FOR] = id(job)
    with st.sidebar.expander(_("Train a model"), key=PANEL, on_change="rerun", icon=":material/model_training:"):
        keys.default(PRESET, "quick")
        preset = st.selectbox(_("Preset"), [*PRESETS, CUSTOM], key=PRESET, format_func=_preset_label)
        if preset == CUSTOM:
            _custom_settings()
        else:
            st.caption(PRESETS[preset].description)
            st.caption(_preset_times_caption(preset))
        keys.default(NAME, f"my-{preset}")
        st.text_input(_("Name of the new model"), key=NAME, max_chars=registry.MAX_NAME_LENGTH,
                      help=_("Letters, digits, - and _; it is saved in your models folder."))
        data = resolve_mnist_path()
        missing = data is not None and not data.is_file()
        if data is None:
            st.caption(_(NO_MNIST))
        elif missing:
            st.warning(_(MNIST_MISSING).format(path=data))
        st.button(_("Train"), key="train_start", type="primary", disabled=running or missing, on_click=_train_clicked,
                  icon=":material/play_arrow:")
        if st.session_state.get(MESSAGE):
            st.error(st.session_state[MESSAGE])
        if job is not None:
            st.caption(status_line(job))
        if running and job.owner == _session_id():
            st.button(_("Cancel"), key=CANCEL, on_click=job.cancel, icon=":material/stop_circle:")


def _rename_clicked(old: str) -> None:
    try:
        info = registry.rename_user_model(old, st.session_state.get(NEW_NAME, ""))
        st.session_state[MESSAGE] = None
        st.session_state[USER_MODEL] = info.name
    except (ValueError, OSError) as error:
        st.session_state[MESSAGE] = _("Could not rename {model}: {error}").format(model=old, error=error)


def _delete_clicked(name: str) -> None:
    try:
        registry.delete_user_model(name)
        st.session_state[MESSAGE] = None
        st.session_state.pop(USER_MODEL, None)
        chosen = st.session_state.get(keys.MODELS)
        if isinstance(chosen, list) and name in chosen:
            st.session_state[keys.MODELS] = [model for model in chosen if model != name]
    except (ValueError, OSError) as error:
        st.session_state[MESSAGE] = _("Could not delete {model}: {error}").format(model=name, error=error)


def user_models_panel(roster: registry.Roster) -> None:
    """The sidebar's "Your models" expander: rename or delete the models trained here."""
    users = [info.name for info in roster.models if not info.bundled]
    with st.sidebar.expander(_("Your models ({count})").format(count=len(users)), icon=":material/folder_open:"):
        st.caption(_("Saved in `{folder}`.").format(folder=registry.user_dir()))
        if not users:
            st.caption(_("None yet: train one above."))
            return
        if st.session_state.get(USER_MODEL) not in users:
            st.session_state[USER_MODEL] = users[0]
        name = st.selectbox(_("Model"), users, key=USER_MODEL)
        st.text_input(_("New name"), key=NEW_NAME, max_chars=registry.MAX_NAME_LENGTH)
        left, right = st.columns(2)
        left.button(_("Rename"), key="user_model_rename", on_click=_rename_clicked, args=(name,))
        right.button(_("Delete"), key="user_model_delete", on_click=_delete_clicked, args=(name,))
