"""Benchmark: a class on one server, simulated at the protocol level (no browsers). Run by hand.

    python benchmarks/load_protocol.py [--levels 10,30,60,100] [--interactions 10] [--think 2 6]
                                       [--arrival 10] [--no-draw] [--training] [--attach URL [--pids P,...]]
                                       [--seed 0] [--json results.json]
    python benchmarks/load_protocol.py --breakdown [--attach URL]

Each simulated student speaks Streamlit's own WebSocket protocol, as the browser's frontend does: it fetches
``/_stcore/health`` (the XSRF cookie), opens ``ws://HOST:PORT/_stcore/stream`` with the subprotocols
``streamlit, <XSRF token>``, sends a ``BackMsg.rerun_script`` (a ``ClientState``: the page's query string, the
widget states, the page script hash, the fragment id for a widget inside a fragment, the hashes of the messages
it has cached) and reads the ``ForwardMsg`` stream (``new_session``, deltas, ``page_info_changed``,
``script_finished``). It finds the widgets by the user key at the end of their ids (``$$ID-<hash>-<key>``: the
keys of ``advdemo/ui/keys.py``, ``controls.py``, ``inputs.py``, ``training.py``) and sets them as the browser
would: the ε slider (``eps_<norm>``, a ``double_array_value``), the norm radio (``norm``, the option's label), the
gallery digit (``gallery_index``, a ``double_value``), the input radio (``input_mode``) and the drawing canvas
(``canvas_<n>``, a components-v2 widget whose ``json_value`` is ``{"drawing": {"raw": <fabric.js JSON>,
"data": <PNG data URL>}}``, as streamlit-drawable-canvas sends it).

Without ``--attach`` the client starts ``streamlit run app.py`` itself (headless, on a free port, a fresh
``ADVDEMO_HOME``, no file watcher), loads the page once to warm it up (not measured), then runs the ramp: for
each level of ``--levels``, that many students open their own link (``?norm=..&eps=..&digit=..``: their own
digit and ε, a quarter of them in L2), arriving over ``--arrival`` seconds; each waits for its first page, then
makes ``--interactions`` interactions, each after a think time drawn uniformly from ``--think`` seconds: mostly
ε moves (60%), digit picks (25%) and norm switches (15%); with drawings on (the default), the last two are a
switch to Draw and a 7 drawn on the canvas. Every level uses fresh sessions; student *i* keeps its cookies from
level to level (and from its first HTTP request to its WebSocket), so a proxy's affinity cookie, set on the
health check or on the WebSocket upgrade, is sent back on its later connections.

With ``--training`` one more session (the teacher's) starts the sidebar's Tutorial preset before the ramp
(``ADVDEMO_MNIST`` must name MNIST for a started server), keeps its panel refreshing as the browser does (it
answers the server's ``auto_rerun`` every second), starts it again if it ends before the ramp does, and cancels
it at the end.

Measured per interaction:

- **latency**: from sending the rerun request to ``script_finished`` (every verdict delta, FOOLED, HELD, ...,
  arrives before it, in the same run);
- **errors**: an exception element on the page, an error box (``st.error``), a finish other than success, no
  finish within 30 s (``--timeout``), fewer verdicts than models (a run that ends without its verdicts), or a
  page showing a value this session chose earlier instead of its latest one (a late page);
- **cross-talk**: the page shows an ε or a digit this session never chose (the ε of the attack's heading, of the
  slider and of the URL the app writes; the digit of the label line and of the URL). Each student draws its digits
  and ε from its own share of the values, so another session's value is recognised as foreign;
- **bytes**: the size of the ForwardMsgs the session received for it (WebSocket payloads, after decompression;
  the browser also fetches the run's images from ``/media``, not counted or fetched here);
- the server's **CPU seconds** (``/proc/PID/stat``, user + system; the training child not included) over the
  level divided by the runs requested in it (first pages and interactions: both are reruns), and its **RSS**
  (``/proc/PID/status`` VmRSS, the peak of one sample a second). With ``--attach`` they are read from the
  processes given by ``--pids`` on this machine, if any, else left out.

``--breakdown`` measures no ramp: one session loads the page and moves ε four times, and the bytes it received
per move are printed by kind of message (``element:html``, ``element:markdown``, ``delta:add_block``...), to see
what a slider move sends.

One line per level (progress and an ETA go to stderr while it runs):

    sessions errors cross-talk  p50 s  p95 s  int/s cpu-s/run bytes/int  RSS MB  training
          30      0          0   5.41  12.13   2.40     0.351    26,814     881

``p50``/``p95``: the latencies of the level's interactions (first pages not included); ``int/s``: interactions
completed per second of the level; ``bytes/int``: the median interaction's bytes; ``training`` (with
``--training``): the training's state and its child process's CPU seconds over the level, e.g. ``running, 48
cpu-s``. Figures measured with it, and what they say: ``docs/classes.md``, "Load test at the protocol level". The
goal the browser benchmark (``load_test.py``) sets: 0 errors, no cross-talk, p95 <= 2 s without a training and <= 4
s with one, on 2 cores. Unlike the browser benchmark, nothing here draws pages, so the client's own CPU is small
(one process, asyncio); run it with ``nice`` if it still competes with the server. Widget states: the browser sends
every widget's value with each rerun; this client sends the values it has set (for widgets still on the page) and
the server keeps the others, so the requests are a few hundred bytes smaller than a browser's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import io
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from browser_helpers import free_port, health_url, launch_server, stop_server, wait_for_health  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# The app, as this client sees it. Copies of advdemo's values (importing advdemo would import TensorFlow into the
# client); tests/test_load_protocol.py checks that they agree.
# ---------------------------------------------------------------------------------------------------------------

NORM_LABELS = {"linf": "L-inf", "l2": "L2", "l1": "L1"}  # advdemo.configs.Norm.label
EPS_STEPS = {"linf": 0.01, "l2": 0.1, "l1": 0.5}  # advdemo.ui.controls.EPS_STEPS
EPS_DEFAULTS = {"linf": (0.2, 1.0), "l2": (2.0, 10.0), "l1": (10.0, 50.0)}  # advdemo.configs.EPSILON_DEFAULTS
GALLERY_SIZE = 500  # pretrained/gallery.npz; read from the digit widget's maximum once the page is there
#: Widget keys (advdemo.ui.keys, advdemo.ui.training).
NORM_KEY, DIGIT_KEY, INPUT_KEY = "norm", "gallery_index", "input_mode"
EPS_PREFIX, CANVAS_PREFIX = "eps_", "canvas_"
PRESET_KEY, NAME_KEY, TRAIN_KEY, CANCEL_KEY = "train_preset", "train_name", "train_start", "train_cancel"
DRAW_MODE, TUTORIAL_PRESET = "Draw", "Tutorial"
#: What the page echoes: each model's verdict (advdemo.ui.results.verdict_html), the attack's heading
#: ("2 · The attack: FGSM L-inf ε = 0.15, white-box") and the digit's label line ("... · gallery digit 5 (MNIST ...").
VERDICT = re.compile(r'class="advdemo-verdict advdemo-(\w+)">([^<]*)<')
HEADING = re.compile(r"^2 · The attack: .*?(L-inf|L2|L1) ε = ([0-9.e+-]+)")
GALLERY_DIGIT = re.compile(r"gallery digit (\d+) \(MNIST")
#: The training panel's progress text while the job runs (advdemo.ui.training._progress_view, status_line).
TRAINING_TEXT = re.compile(r"Preparing \*\*|Training \*\*|is saved;|Training \S+: ")

FINISHED_OK = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
FINISHED_FAILED = {ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
#: Interactions: kind -> share of the random ones.
MIX = {"eps": 0.6, "digit": 0.25, "norm": 0.15}


# ---------------------------------------------------------------------------------------------------------------
# HTTP: the health check (XSRF and affinity cookies), with a cookie jar per student.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where the app is: ``http://HOST:PORT/BASE/``."""

    host: str
    port: int
    base: str = "/"

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        base = parts.path if parts.path.endswith("/") else parts.path + "/"
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, base)

    @property
    def stream(self) -> str:
        return f"ws://{self.host}:{self.port}{self.base}_stcore/stream"


def remember_cookies(jar: dict[str, str], set_cookie_headers: Sequence[str]) -> None:
    """Keep every cookie a response sets (name -> value; paths and expiry are not needed here)."""
    for header in set_cookie_headers:
        parsed = SimpleCookie()
        try:
            parsed.load(header)
        except Exception:  # an odd cookie is no reason to stop a student
            continue
        jar.update({name: morsel.value for name, morsel in parsed.items()})


def cookie_header(jar: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in jar.items())} if jar else {}


async def http_get(endpoint: Endpoint, path: str, jar: dict[str, str]) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET (one connection, closed after); keeps the cookies the answer sets."""
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    try:
        lines = [f"GET {endpoint.base}{path} HTTP/1.1", f"Host: {endpoint.host}:{endpoint.port}",
                 "Connection: close", *(f"{k}: {v}" for k, v in cookie_header(jar).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    status = int(head_lines[0].split()[1])
    remember_cookies(jar, [line.split(":", 1)[1].strip() for line in head_lines[1:]
                           if line.lower().startswith("set-cookie:")])
    return status, body


# ---------------------------------------------------------------------------------------------------------------
# One session: the WebSocket, the message cache, the widgets on the page, and what each run showed.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Widget:
    key: str
    id: str
    kind: str  # the element's type: slider, radio, number_input, bidi_component, button, ...
    fragment_id: str
    element: object  # the element's proto (options, maximum, ...)


@dataclass
class Run:
    """What the session received for one rerun request."""

    fragment_id: str
    started: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    finished: float | None = None
    status: int | None = None
    bytes: int = 0
    verdicts: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    errors: list[str] = field(default_factory=list)
    heading: tuple[str, float] | None = None  # the attack heading's norm label and eps
    slider_eps: tuple[str, float] | None = None  # the slider's norm (from its key) and value
    digit: int | None = None
    query: str | None = None  # the URL the app wrote, if it changed
    training_text: str | None = None
    by_kind: collections.Counter = field(default_factory=collections.Counter)  # bytes per kind of message

    @property
    def latency(self) -> float | None:
        return None if self.finished is None else self.finished - self.started


def message_kind(message: ForwardMsg) -> str:
    """What a ForwardMsg carries, for the bytes' breakdown: ``element:markdown``, ``element:html``,
    ``delta:add_block``, ``new_session``..."""
    kind = message.WhichOneof("type")
    if kind != "delta":
        return kind or "empty"
    delta = message.delta.WhichOneof("type")
    if delta == "new_element":
        return f"element:{message.delta.new_element.WhichOneof('type')}"
    return f"delta:{delta}"


def widget_key(element_id: str) -> str:
    """The user key at the end of a widget id ``$$ID-<hash>-<key>`` (``None`` for a widget without one)."""
    return element_id.split("-", 2)[2] if element_id.startswith("$$ID-") and element_id.count("-") >= 2 else ""


class Session:
    """One browser tab's worth of protocol: connect, request reruns, read the page."""

    def __init__(self, endpoint: Endpoint, jar: dict[str, str], query: str):
        self.endpoint, self.jar, self.query = endpoint, jar, query
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.page_script_hash = ""
        self.widgets: dict[str, Widget] = {}  # by key, the widgets on the page now
        self.states: dict[str, WidgetState] = {}  # by key, the values this session has set
        self.cache: dict[str, tuple[bytes, int]] = {}  # hash -> (message, run count when last used)
        self.max_cache_age = 2
        self.runs_seen = 0
        self.run: Run | None = None
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval, as the server asks
        self.closed_reason: str | None = None

    async def connect(self, timeout: float) -> None:
        await asyncio.wait_for(http_get(self.endpoint, "_stcore/health", self.jar), timeout)
        token = self.jar.get("_streamlit_xsrf", "PLACEHOLDER_AUTH_TOKEN")
        self.ws = await connect(self.endpoint.stream, subprotocols=["streamlit", token],
                                additional_headers=cookie_header(self.jar), max_size=None, proxy=None,
                                open_timeout=timeout, user_agent_header="advdemo-load-protocol")
        remember_cookies(self.jar, self.ws.response.headers.get_all("Set-Cookie"))
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()

    # -- requests ------------------------------------------------------------------------------------------------

    def set(self, key: str, **value) -> WidgetState:
        """Sets the widget ``key`` (e.g. ``double_array_value=[0.3]``) for this and the following requests."""
        (name, given), = value.items()
        state = WidgetState(id=self.widgets[key].id)
        if name == "double_array_value":
            state.double_array_value.data.extend(given)
        else:
            setattr(state, name, given)
        self.states[key] = state
        return state

    async def rerun(self, fragment_id: str = "", once: Sequence[WidgetState] = (), auto: bool = False) -> Run:
        """Sends a rerun request (``once``: trigger values, a button's click, sent with this request only) and
        returns the run's record at once; ``await run.done.wait()`` for its end."""
        message = BackMsg()
        client = message.rerun_script
        client.query_string = self.query
        client.page_script_hash = self.page_script_hash
        client.fragment_id = fragment_id
        client.is_auto_rerun = auto
        on_page = {widget.id for widget in self.widgets.values()}
        client.widget_states.widgets.extend(state for state in self.states.values() if state.id in on_page)
        client.widget_states.widgets.extend(once)
        client.cached_message_hashes.extend(self.cache)
        client.context_info.timezone = "UTC"
        client.context_info.timezone_offset = 0
        client.context_info.locale = "en-US"
        client.context_info.url = f"http://{self.endpoint.host}:{self.endpoint.port}{self.endpoint.base}"
        if not fragment_id:  # a full run draws the page anew; a fragment run redraws its own widgets
            self.widgets.clear()
        else:
            self.widgets = {key: w for key, w in self.widgets.items() if w.fragment_id != fragment_id}
        self.run = Run(fragment_id, time.monotonic())
        await self.ws.send(message.SerializeToString())
        return self.run

    # -- the ForwardMsg stream -----------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self._receive(data)
        except Exception as error:  # the connection closed or broke: the waiting run times out and says so
            self.closed_reason = f"connection: {type(error).__name__}: {error}"
        else:
            self.closed_reason = "connection closed by the server"
        if self.run is not None:
            self.run.errors.append(self.closed_reason)

    def _receive(self, data: bytes) -> None:
        message = ForwardMsg()
        message.ParseFromString(data)
        run = self.run
        if run is not None:
            run.bytes += len(data)
            run.by_kind[message_kind(message)] += len(data)
        if message.WhichOneof("type") == "ref_hash":  # a message this session has cached: the browser's cache hit
            cached = self.cache.get(message.ref_hash)
            if cached is None:
                if run is not None:
                    run.errors.append(f"cache miss for {message.ref_hash}")
                return
            self.cache[message.ref_hash] = (cached[0], self.runs_seen)
            message.ParseFromString(cached[0])
        elif message.metadata.cacheable and message.hash:
            self.cache[message.hash] = (data, self.runs_seen)
        kind = message.WhichOneof("type")
        if kind == "new_session":
            if not message.metadata.run.fragment_ids:  # a full run: the browser forgets the fragments' timers
                self.auto_reruns.clear()
            self.page_script_hash = message.new_session.page_script_hash
            self.max_cache_age = message.new_session.config.max_cached_message_age or self.max_cache_age
        elif kind == "page_info_changed":
            self.query = message.page_info_changed.query_string
            if run is not None:
                run.query = self.query
        elif kind == "auto_rerun":
            self.auto_reruns[message.auto_rerun.fragment_id] = message.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment in message.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fragment, None)
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element" and run is not None:
            self._element(message.delta.new_element, message.delta.fragment_id, run)
        elif kind == "script_finished" and run is not None:
            if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return  # st.rerun(): the run that follows ends the request
            run.status = message.script_finished
            run.finished = time.monotonic()
            if message.script_finished not in FINISHED_OK:
                run.errors.append(f"script finished with status {message.script_finished}")
            self.runs_seen += 1
            self.cache = {h: (m, seen) for h, (m, seen) in self.cache.items()
                          if self.runs_seen - seen <= self.max_cache_age}
            run.done.set()

    def _element(self, element, fragment_id: str, run: Run) -> None:
        kind = element.WhichOneof("type")
        body = getattr(element, kind)
        element_id = getattr(body, "id", "")
        if isinstance(element_id, str) and element_id.startswith("$$ID-"):
            key = widget_key(element_id)
            self.widgets[key] = Widget(key, element_id, kind, fragment_id, body)
            if key.startswith(EPS_PREFIX) and kind == "slider" and body.value:
                run.slider_eps = (key[len(EPS_PREFIX):], float(body.value[0]))
        if kind == "markdown":
            run.verdicts.extend(VERDICT.findall(body.body))
            digit = GALLERY_DIGIT.search(body.body)
            if digit:
                run.digit = int(digit.group(1))
            if TRAINING_TEXT.search(body.body):
                run.training_text = body.body
        elif kind == "heading":
            heading = HEADING.search(body.body)
            if heading:
                run.heading = (heading.group(1), float(heading.group(2)))
        elif kind == "progress" and TRAINING_TEXT.search(body.text):
            run.training_text = body.text
        elif kind == "exception":
            run.errors.append(f"exception on the page: {body.type}: {body.message[:200]}")
        elif kind == "alert" and body.format == body.ERROR:
            run.errors.append(f"error box: {body.body[:200]}")


# ---------------------------------------------------------------------------------------------------------------
# A student: a link, a plan of interactions, and the checks of each page.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Interaction:
    kind: str
    latency: float | None
    bytes: int
    verdicts: list[str]  # each model's verdict, as the page says it
    expected_verdicts: int
    errors: list[str]
    crosstalk: list[str]
    sent: dict
    shown: dict


@dataclass
class Outcome:
    """One student's level: its first page and its interactions."""

    student: int
    first_page: float | None = None
    first_errors: list[str] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    abandoned: str | None = None


def grid(norm: str) -> list[float]:
    """The ε slider's values in ``norm``."""
    step, top = EPS_STEPS[norm], EPS_DEFAULTS[norm][1]
    return [round(i * step, 6) for i in range(1, int(round(top / step)) + 1)]


def own_share(values: Sequence, student: int, students: int) -> list:
    """This student's share of ``values``: each student's is disjoint from the others' (while there are at least
    three values per share), so a value shown on its page that is not in it is another session's."""
    shares = max(1, min(students, len(values) // 3))
    return [value for index, value in enumerate(values) if index % shares == student % shares]


def plan(rng: random.Random, interactions: int, draw: bool) -> list[str]:
    """The kinds of a student's interactions: random ε moves, digit picks and norm switches, then (``draw``) a
    switch to Draw and a drawing."""
    tail = ["draw-mode", "draw"] if draw and interactions >= 4 else []
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=interactions - len(tail))
    return kinds + tail


def seven_drawing(size: int = 280, stroke: int = 22) -> str:
    """The canvas's value for a 7 drawn in white on black, as streamlit-drawable-canvas sends it (JSON)."""
    from PIL import Image, ImageDraw

    points = [(0.25 * size, 0.2 * size), (0.75 * size, 0.2 * size), (0.45 * size, 0.85 * size)]
    image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    ImageDraw.Draw(image).line(points, fill=(255, 255, 255, 255), width=stroke, joint="curve")
    png = io.BytesIO()
    image.save(png, format="PNG")
    path = [["M", *points[0]], *(["L", *point] for point in points[1:])]
    raw = {"version": "6.0.0", "background": "#000000",
           "objects": [{"type": "Path", "version": "6.0.0", "originX": "left", "originY": "top", "fill": None,
                        "stroke": "#FFFFFF", "strokeWidth": stroke, "strokeLineCap": "round",
                        "strokeLineJoin": "round", "path": path}]}
    data_url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    return json.dumps({"drawing": {"raw": raw, "data": data_url}})


@dataclass
class Settings:
    endpoint: Endpoint
    interactions: int = 10
    think: tuple[float, float] = (2.0, 6.0)
    arrival: float = 10.0
    draw: bool = True
    timeout: float = 30.0
    seed: int = 0
    kinds: Sequence[str] | None = None  # a fixed plan for every student (tests), else random


class Student:
    """One simulated student for one level: its link, its plan, and what it expects its page to show."""

    def __init__(self, index: int, students: int, settings: Settings, jar: dict[str, str]):
        self.index, self.settings, self.jar = index, settings, jar
        self.rng = random.Random(f"{settings.seed}-{students}-{index}")
        self.digits = own_share(range(GALLERY_SIZE), index, students)
        self.eps_choices = {norm: own_share(grid(norm), index, students) for norm in EPS_STEPS}
        self.norm = "l2" if index % 4 == 3 else "linf"
        self.digit = self.rng.choice(self.digits)
        self.eps = {norm: default for norm, (default, _) in EPS_DEFAULTS.items()}
        self.eps[self.norm] = self.rng.choice(self.eps_choices[self.norm])
        self.chosen = {"eps": {(self.norm, self.eps[self.norm])}, "digit": {self.digit}}
        self.drawn = False
        self.kinds = list(settings.kinds) if settings.kinds is not None else plan(
            self.rng, settings.interactions, settings.draw)
        self.link = f"norm={self.norm}&eps={self.eps[self.norm]:g}&digit={self.digit}"

    async def run(self, progress: Progress) -> Outcome:
        outcome = Outcome(self.index)
        session = Session(self.settings.endpoint, self.jar, self.link)
        try:
            await asyncio.sleep(self.index * self.settings.arrival / max(1, progress.level_size))
            await session.connect(self.settings.timeout)
            first = await self._wait(session, await session.rerun())
            outcome.first_page, outcome.first_errors = first.latency, first.errors
            models = len(first.verdicts)
            if not models and not first.errors:
                outcome.first_errors.append("no verdict on the first page")
            for kind in self.kinds:
                await asyncio.sleep(self.rng.uniform(*self.settings.think))
                interaction = await self._interact(session, kind, models)
                outcome.interactions.append(interaction)
                progress.done += 1
                if interaction.latency is None and session.run is not None and not session.run.done.is_set():
                    outcome.abandoned = "a run did not end within three timeouts"
                    break
        except Exception as error:  # a student that cannot go on is an error, not a crash of the benchmark
            outcome.abandoned = f"{type(error).__name__}: {error}"
        finally:
            progress.done += len(self.kinds) - len(outcome.interactions)
            await session.close()
        return outcome

    async def _wait(self, session: Session, run: Run) -> Run:
        """Waits for the run's end: up to the timeout (then it counts as an error), then up to twice as long again
        so that its late messages are not taken for the next run's."""
        try:
            await asyncio.wait_for(run.done.wait(), self.settings.timeout)
        except TimeoutError:
            run.errors.append(f"no end within {self.settings.timeout:g} s")
            run.finished = None
            try:
                await asyncio.wait_for(run.done.wait(), 2 * self.settings.timeout)
            except TimeoutError:
                pass
            run.finished = None
        return run

    async def _interact(self, session: Session, kind: str, models: int) -> Interaction:
        """Makes one interaction of ``kind`` as the student would, waits for its run, and checks the page."""
        expected = models
        fragment = ""
        if kind == "eps":
            slider = next(w for k, w in session.widgets.items() if k.startswith(EPS_PREFIX))
            options = [v for v in self.eps_choices[self.norm] if abs(v - self.eps[self.norm]) > 1e-9]
            self.eps[self.norm] = self.rng.choice(options)
            self.chosen["eps"].add((self.norm, self.eps[self.norm]))
            session.set(slider.key, double_array_value=[self.eps[self.norm]])
            fragment = slider.fragment_id
        elif kind == "norm":
            radio = session.widgets[NORM_KEY]
            self.norm = self.rng.choice([norm for norm in NORM_LABELS if norm != self.norm])
            self.chosen["eps"].add((self.norm, self.eps[self.norm]))
            session.set(NORM_KEY, string_value=NORM_LABELS[self.norm])
            fragment = radio.fragment_id
        elif kind == "digit":
            self.digit = self.rng.choice([d for d in self.digits if d != self.digit])
            self.chosen["digit"].add(self.digit)
            session.set(DIGIT_KEY, double_value=float(self.digit))
        elif kind == "draw-mode":
            session.set(INPUT_KEY, string_value=DRAW_MODE)
            expected = 0  # an empty canvas: no digit, no verdicts
        elif kind == "draw":
            canvas = next(w for k, w in session.widgets.items() if k.startswith(CANVAS_PREFIX))
            session.set(canvas.key, json_value=seven_drawing())
            self.drawn = True
        else:
            raise ValueError(f"unknown interaction {kind!r}")
        sent = {"kind": kind, "norm": self.norm, "eps": self.eps[self.norm],
                "digit": None if kind.startswith("draw") else self.digit}
        run = await self._wait(session, await session.rerun(fragment))
        errors = list(run.errors)
        if len(run.verdicts) < expected:
            errors.append(f"{len(run.verdicts)} verdicts of {expected}")
        shown, crosstalk, late = self._check(run, full=not fragment)
        errors.extend(late)
        return Interaction(kind, run.latency, run.bytes, [text for _, text in run.verdicts], expected, errors,
                           crosstalk, sent, shown)

    def _check(self, run: Run, full: bool) -> tuple[dict, list[str], list[str]]:
        """What the page shows against what this student chose last: (shown, cross-talk, late pages)."""
        query = urllib.parse.parse_qs(run.query or "")
        shown: dict = {"eps": {}, "digit": {}}
        if run.heading is not None:
            label_norm = {label: norm for norm, label in NORM_LABELS.items()}[run.heading[0]]
            shown["eps"]["heading"] = (label_norm, run.heading[1])
        if run.slider_eps is not None:
            shown["eps"]["slider"] = run.slider_eps
        if "eps" in query and "norm" in query:
            shown["eps"]["url"] = (query["norm"][-1], float(query["eps"][-1]))
        if run.digit is not None:
            shown["digit"]["label"] = run.digit
        if "digit" in query:
            shown["digit"]["url"] = int(query["digit"][-1])
        crosstalk, late = [], []
        for where, (norm, eps) in shown["eps"].items():
            if norm == self.norm and abs(eps - self.eps[norm]) < EPS_STEPS[norm] / 2:
                continue
            if any(norm == n and abs(eps - e) < EPS_STEPS[n] / 2 for n, e in self.chosen["eps"]):
                late.append(f"late page: {where} shows ε {eps:g} ({norm}), not {self.eps[self.norm]:g} "
                            f"({self.norm})")
            else:
                crosstalk.append(f"{where} shows ε {eps:g} ({norm}), never chosen here")
        if not self.drawn:
            for where, digit in shown["digit"].items():
                if digit == self.digit:
                    continue
                if digit in self.chosen["digit"]:
                    late.append(f"late page: {where} shows digit {digit}, not {self.digit}")
                else:
                    crosstalk.append(f"{where} shows digit {digit}, never chosen here")
        return shown, crosstalk, late


# ---------------------------------------------------------------------------------------------------------------
# The teacher's training (``--training``).
# ---------------------------------------------------------------------------------------------------------------


class Teacher:
    """One session that starts the Tutorial preset and keeps its panel refreshing, as the browser does."""

    def __init__(self, endpoint: Endpoint, timeout: float):
        self.session = Session(endpoint, {}, "")
        self.timeout = timeout
        self.state = "not started"
        self.starts = 0
        self.errors: list[str] = []
        self.task: asyncio.Task | None = None
        self.stopping = False

    async def start(self) -> None:
        await self.session.connect(self.timeout)
        await self._run(await self.session.rerun(), 240)  # the first page (a cold server takes a while)
        await self._train()
        self.task = asyncio.create_task(self._keep_refreshing())

    async def _run(self, run: Run, timeout: float | None = None) -> Run:
        try:
            await asyncio.wait_for(run.done.wait(), timeout or self.timeout)
        except TimeoutError:
            self.errors.append(f"teacher: no end within {timeout or self.timeout:g} s")
        self.errors.extend(f"teacher: {error}" for error in run.errors)
        if run.training_text:
            self.state = "running"
        return run

    async def _train(self) -> None:
        """Chooses the Tutorial preset, names the model, clicks Train (a button: a trigger, sent once)."""
        session = self.session
        preset = session.widgets[PRESET_KEY]
        option = next(o for o in preset.element.options if o.startswith(TUTORIAL_PRESET))
        session.set(PRESET_KEY, string_value=option)
        await self._run(await session.rerun())
        self.starts += 1
        session.set(NAME_KEY, string_value=f"load-tutorial-{os.getpid()}-{self.starts}")
        await self._run(await session.rerun())
        click = WidgetState(id=session.widgets[TRAIN_KEY].id, trigger_value=True)
        run = await self._run(await session.rerun(once=[click]))
        self.state = "running" if run.training_text or session.auto_reruns else "did not start"
        if self.state != "running":
            self.errors.append("teacher: the training did not start (is ADVDEMO_MNIST set for the server?)")

    async def _keep_refreshing(self) -> None:
        """Answers the server's auto-reruns (the panel's one-second refresh); starts a new training if it ends."""
        while not self.stopping:
            if not self.session.auto_reruns:
                if self.state == "running":  # ended (saved and measured): train again, the ramp is not over
                    self.state = "ended; starting another"
                    await asyncio.sleep(1)
                    await self._run(await self.session.rerun())
                    if TRAIN_KEY in self.session.widgets and not self.stopping:
                        await self._train()
                else:
                    await asyncio.sleep(1)
                continue
            fragment, interval = next(iter(self.session.auto_reruns.items()))
            await asyncio.sleep(interval)
            if not self.stopping:
                await self._run(await self.session.rerun(fragment, auto=True))

    async def stop(self) -> None:
        """Cancels the training (the panel's Cancel button) and closes the session."""
        self.stopping = True
        if self.task is not None:
            self.task.cancel()
        cancel = self.session.widgets.get(CANCEL_KEY)
        if cancel is not None:
            fragment = cancel.fragment_id
            await self._run(await self.session.rerun(fragment, once=[WidgetState(id=cancel.id, trigger_value=True)]))
        await self.session.close()


# ---------------------------------------------------------------------------------------------------------------
# The server: started here or attached to; its CPU and memory from /proc.
# ---------------------------------------------------------------------------------------------------------------


class Probe:
    """CPU seconds and RSS of the server's processes (none: nothing to report), and of their children."""

    def __init__(self, pids: Sequence[int]):
        self.pids = list(pids)
        self.tick = os.sysconf("SC_CLK_TCK")

    def _stat(self, pid: int) -> list[str] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2:].split()  # fields from the state on (the name may hold spaces)

    def cpu(self) -> float | None:
        if not self.pids:
            return None
        stats = [self._stat(pid) for pid in self.pids]
        return sum((int(s[11]) + int(s[12])) / self.tick for s in stats if s)  # utime, stime

    def children_cpu(self) -> float:
        """The live children's CPU seconds (the training's process)."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = self._stat(int(entry.name))
                if stat and int(stat[1]) in self.pids:  # ppid
                    total += (int(stat[11]) + int(stat[12])) / self.tick
        return total

    def rss_mb(self) -> float | None:
        if not self.pids:
            return None
        total = 0
        for pid in self.pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
        return total / 1024


class Server:
    """``streamlit run app.py`` on a free port (a fresh ADVDEMO_HOME, no file watcher), or an attached URL."""

    def __init__(self, attach: str | None, pids: Sequence[int], mnist: str | None):
        self.process = None
        self.folder = None
        if attach:
            self.endpoint = Endpoint.parse(attach)
            self.probe = Probe(pids)
            return
        self.folder = tempfile.TemporaryDirectory(prefix="advdemo-load-")
        port = free_port()
        self.log = Path(self.folder.name) / "server.log"
        env = {"ADVDEMO_HOME": str(Path(self.folder.name) / "home"), "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
        if mnist:
            env["ADVDEMO_MNIST"] = mnist
        self.process = launch_server(port, self.log, env)
        try:
            wait_for_health(health_url(port), self.process, self.log)
        except BaseException:
            self.stop()
            raise
        self.endpoint = Endpoint("127.0.0.1", port)
        self.probe = Probe([self.process.pid])

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)
        if self.folder is not None:
            self.folder.cleanup()


# ---------------------------------------------------------------------------------------------------------------
# The ramp: levels, figures, progress.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Interactions done and planned over the whole ramp (stderr shows them with an ETA)."""

    total: int
    done: int = 0
    level_size: int = 0
    started: float = field(default_factory=time.monotonic)
    label: str = ""

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        eta = (f"{elapsed / self.done * (self.total - self.done):.0f} s" if self.done else "?")
        return f"{self.label}: {self.done}/{self.total} interactions, {elapsed:.0f} s elapsed, ETA {eta}"


@dataclass
class Level:
    sessions: int
    outcomes: list[Outcome]
    seconds: float
    cpu: float | None
    child_cpu: float | None
    rss_peak_mb: float | None
    training: str | None

    @property
    def interactions(self) -> list[Interaction]:
        return [i for o in self.outcomes for i in o.interactions]

    def figures(self) -> dict:
        interactions = self.interactions
        latencies = sorted(i.latency for i in interactions if i.latency is not None)
        errors = (sum(len(i.errors) for i in interactions) + sum(len(o.first_errors) for o in self.outcomes)
                  + sum(o.abandoned is not None for o in self.outcomes))
        runs = len(interactions) + sum(o.first_page is not None for o in self.outcomes)
        return {
            "sessions": self.sessions, "errors": errors,
            "crosstalk": sum(len(i.crosstalk) for i in interactions),
            "interactions": len(interactions),
            "p50_s": percentile(latencies, 50), "p95_s": percentile(latencies, 95),
            "max_s": latencies[-1] if latencies else None,
            "first_page_p50_s": percentile(sorted(o.first_page for o in self.outcomes if o.first_page), 50),
            "interactions_per_s": len(latencies) / self.seconds if self.seconds else None,
            "server_cpu_s_per_run": self.cpu / runs if self.cpu is not None and runs else None,
            "bytes_per_interaction_median": statistics.median(i.bytes for i in interactions) if interactions else None,
            "server_rss_peak_mb": self.rss_peak_mb, "seconds": self.seconds,
            "training": self.training, "training_cpu_s": self.child_cpu,
        }


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of sorted values, None for none."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def run_level(sessions: int, settings: Settings, jars: dict[int, dict[str, str]], probe: Probe,
                    progress: Progress, teacher: Teacher | None = None) -> Level:
    """``sessions`` students at once, each on a fresh session; returns the level's figures."""
    progress.level_size = sessions
    students = [Student(i, sessions, settings, jars.setdefault(i, {})) for i in range(sessions)]
    cpu0, child0 = probe.cpu(), probe.children_cpu() if probe.pids else None
    rss_peak = probe.rss_mb()
    start = time.monotonic()
    tasks = [asyncio.create_task(student.run(progress)) for student in students]
    while not all(task.done() for task in tasks):
        await asyncio.wait(tasks, timeout=1.0)
        rss = probe.rss_mb()
        rss_peak = max(rss_peak, rss) if rss is not None else None
        print(f"\r{progress.line()}   ", end="", file=sys.stderr, flush=True)
    seconds = time.monotonic() - start
    cpu1 = probe.cpu()
    child1 = probe.children_cpu() if probe.pids else None
    return Level(sessions, [task.result() for task in tasks], seconds,
                 None if cpu0 is None else cpu1 - cpu0, None if child0 is None else max(0.0, child1 - child0),
                 rss_peak, None if teacher is None else teacher.state)


HEADER = (f"{'sessions':>8} {'errors':>6} {'cross-talk':>10} {'p50 s':>6} {'p95 s':>6} {'int/s':>6} "
          f"{'cpu-s/run':>9} {'bytes/int':>9} {'RSS MB':>7}  training")


def format_line(figures: dict) -> str:
    def number(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    training = "" if figures["training"] is None else (
        f"{figures['training']}" + ("" if figures["training_cpu_s"] is None
                                    else f", {figures['training_cpu_s']:.0f} cpu-s"))
    return (f"{figures['sessions']:>8} {figures['errors']:>6} {figures['crosstalk']:>10} "
            f"{number(figures['p50_s'], '6.2f')} {number(figures['p95_s'], '6.2f')} "
            f"{number(figures['interactions_per_s'], '6.2f')} {number(figures['server_cpu_s_per_run'], '9.3f')} "
            f"{number(figures['bytes_per_interaction_median'], '9,.0f')} "
            f"{number(figures['server_rss_peak_mb'], '7,.0f')}  {training}")


def describe_problems(level: Level, limit: int = 5) -> list[str]:
    """The first few errors and cross-talks of a level, one line each."""
    lines = []
    for outcome in level.outcomes:
        items = [f"first page: {e}" for e in outcome.first_errors]
        items += [f"{i.kind}: {e}" for i in outcome.interactions for e in i.errors]
        items += [f"{i.kind}: cross-talk: {c}" for i in outcome.interactions for c in i.crosstalk]
        items += [f"abandoned: {outcome.abandoned}"] if outcome.abandoned else []
        lines += [f"  student {outcome.student}: {item}" for item in items]
    return lines[:limit] + ([f"  ... and {len(lines) - limit} more"] if len(lines) > limit else [])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def warm_up(endpoint: Endpoint, timeout: float) -> float:
    """One page load before the ramp (a cold server imports TensorFlow and compiles the attacks)."""
    session = Session(endpoint, {}, "")
    start = time.monotonic()
    await session.connect(timeout)
    run = await session.rerun()
    await asyncio.wait_for(run.done.wait(), 300)
    await session.close()
    if run.errors:
        raise RuntimeError(f"the warm-up page failed: {run.errors}")
    return time.monotonic() - start


async def ramp(levels: Sequence[int], settings: Settings, probe: Probe, training: bool, pause: float) -> list[Level]:
    print(f"warm-up page: {await warm_up(settings.endpoint, settings.timeout):.1f} s", file=sys.stderr)
    teacher = None
    if training:
        teacher = Teacher(settings.endpoint, settings.timeout)
        await teacher.start()
        print(f"training: {teacher.state}", file=sys.stderr)
    per_student = settings.interactions if settings.kinds is None else len(settings.kinds)
    progress = Progress(total=sum(levels) * per_student)
    jars: dict[int, dict[str, str]] = {}
    results = []
    print(HEADER)
    try:
        for sessions in levels:
            progress.label = f"level {sessions}"
            level = await run_level(sessions, settings, jars, probe, progress, teacher)
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr)
            print(format_line(level.figures()), flush=True)
            for line in describe_problems(level):
                print(line, file=sys.stderr)
            results.append(level)
            await asyncio.sleep(pause)  # the sessions of the level close and the server forgets them
    finally:
        if teacher is not None:
            await teacher.stop()
            for error in teacher.errors[:5]:
                print(error, file=sys.stderr)
    return results


async def breakdown(endpoint: Endpoint, moves: Sequence[float], timeout: float) -> None:
    """One session: its first page, then ε moves to each of ``moves``; prints the bytes each kind of message
    took per move (the median move's total first)."""
    await warm_up(endpoint, timeout)
    session = Session(endpoint, {}, "")
    await session.connect(timeout)
    first = await session.rerun()
    await asyncio.wait_for(first.done.wait(), timeout)
    key = next(key for key in session.widgets if key.startswith(EPS_PREFIX))
    totals: collections.Counter = collections.Counter()
    sizes = []
    for value in moves:
        session.set(key, double_array_value=[value])
        run = await session.rerun(fragment_id=session.widgets[key].fragment_id)
        await asyncio.wait_for(run.done.wait(), timeout)
        totals.update(run.by_kind)
        sizes.append(run.bytes)
    await session.close()
    print(f"first page: {first.bytes:,} bytes; an ε move: median {statistics.median(sizes):,.0f} bytes, by kind:")
    for kind, size in totals.most_common():
        print(f"  {size / len(moves):9,.0f}  {kind}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="10,30,60,100", help="sessions per level, comma-separated")
    parser.add_argument("--interactions", type=int, default=10, help="interactions per student and level")
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 6.0), metavar=("MIN", "MAX"),
                        help="think time before each interaction, seconds (uniform)")
    parser.add_argument("--arrival", type=float, default=10.0, help="the students open their links over this long")
    parser.add_argument("--no-draw", action="store_true", help="no drawing at the end of each student's plan")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds an interaction may take")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between levels")
    parser.add_argument("--training", action="store_true", help="a teacher's Tutorial training runs meanwhile")
    parser.add_argument("--attach", metavar="URL", help="an app already running (e.g. a proxy), not started here")
    parser.add_argument("--pids", default="", help="with --attach: server process ids on this machine to measure")
    parser.add_argument("--mnist", default=os.environ.get("ADVDEMO_MNIST"),
                        help="MNIST for a started server's training (default: $ADVDEMO_MNIST)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the settings, the figures and every interaction here")
    parser.add_argument("--breakdown", action="store_true",
                        help="instead of the ramp: one session's ε moves, the bytes per kind of message")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",") if n.strip()]
    server = Server(args.attach, [int(p) for p in args.pids.split(",") if p.strip()], args.mnist)
    settings = Settings(server.endpoint, args.interactions, tuple(args.think), args.arrival, not args.no_draw,
                        args.timeout, args.seed)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} · CPU {cpu_model()} ({os.cpu_count()} cores) · "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} · "
          f"{'attached to ' + args.attach if args.attach else 'server started here'} · "
          f"{args.interactions} interactions, think {args.think[0]:g}-{args.think[1]:g} s, "
          f"drawings {'off' if args.no_draw else 'on'}, training {'on' if args.training else 'off'}")
    try:
        if args.breakdown:
            asyncio.run(breakdown(server.endpoint, (0.25, 0.3, 0.35, 0.15), args.timeout))
            return 0
        results = asyncio.run(ramp(levels, settings, server.probe, args.training, args.pause))
    finally:
        server.stop()
    if args.json:
        args.json.write_text(json.dumps({
            "settings": {**vars(args), "json": str(args.json), "cpu": cpu_model(), "cores": os.cpu_count()},
            "levels": [{**level.figures(), "students": [dataclasses.asdict(o) for o in level.outcomes]}
                       for level in results]}, indent=1, default=str))
    failed = any(level.figures()["errors"] or level.figures()["crosstalk"] for level in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
