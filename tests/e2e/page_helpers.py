"""Driving the app's Streamlit page in Playwright: wait until a run is over, and set the widgets by their keys.

What makes a browser test of a Streamlit page deterministic, learnt the hard way (see also
``test_training_browser.py``):

* Every widget change reruns the script (or the attack fragment); until that run ends, the page still shows the
  previous run's elements (marked ``data-stale="true"``), so a test that reads right after a click may read the old
  verdicts. ``settle`` waits for the rerun the change caused: the server's "script finished" message for it on the
  page's WebSocket (``ScriptRuns``, decoded with Streamlit's own protobuf classes), then for the page to show no
  running script and no stale element. The page's own ``data-test-script-state`` is not enough: right after a click
  it still reads ``notRunning``, and for a fast rerun the browser may never show it as anything else (seen here).
* A rerun redraws the open option list of a selectbox or multiselect and may close it under the mouse: open one
  only while the page is idle (``open_combobox`` does). Closed with Escape, a multiselect keeps the focus, and the
  next click elsewhere (say on an expander's summary) only takes it away: ``close_combobox`` blurs it.
* A fresh browser shows a skeleton where a widget's code is still loading, and a number input may show its minimum
  a moment before its value: ``wait_idle`` waits for the skeletons, ``eventually`` for a value.
* The widgets are found by their keys (``advdemo/ui/keys.py``): Streamlit gives each keyed widget's container the
  class ``st-key-<key>``.

No pytest in here (like ``browser_helpers``); assertions are Playwright's ``expect``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

#: The attack's heading, e.g. "2 · The attack: PGD-40 L2 ε = 2, white-box" (``results.title_of``).
ATTACK_HEADING = re.compile(r"^2 · The attack: ")
#: Each model's verdict (``advdemo/ui/results.py``).
VERDICT = ".advdemo-verdict"
#: How long ``settle`` and ``open_app`` wait for a run by default (a busy CI machine is slow).
RUN_TIMEOUT_S = 120
#: A fence: resolves after the page's pending tasks (e.g. the messages it had received) have run.
NEXT_TASK = "() => new Promise(done => setTimeout(() => done(true), 0))"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


class ScriptRuns:
    """The script runs (whole page or fragment) that the server reports finished on a page's WebSocket (Streamlit's
    ``ForwardMsg.script_finished``), leaving out the runs cut short by a rerun, and the messages the page sent
    (rerun requests, widget values): when each passed, on ``time.perf_counter``'s clock. Playwright gets the frames
    from Chromium's network layer, not from the page's JavaScript, so a page busy drawing delays them little."""

    def __init__(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._message = ForwardMsg
        self._cut_short = ForwardMsg.FINISHED_EARLY_FOR_RERUN
        self.sent: list[float] = []
        self.ended: list[float] = []

    @property
    def finished(self) -> int:
        return len(self.ended)

    def socket(self, websocket) -> None:
        websocket.on("framesent", self.sent_frame)
        websocket.on("framereceived", self.frame)

    def sent_frame(self, payload: str | bytes) -> None:
        self.sent.append(time.perf_counter())

    def frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return
        message = self._message.FromString(payload)
        if message.WhichOneof("type") == "script_finished" and message.script_finished != self._cut_short:
            self.ended.append(time.perf_counter())

    def server_share(self, after: float) -> float | None:
        """Seconds from the first message the page sent after ``after`` to the first run end after it (the
        server's queue and run), or None while there is none."""
        request = next((t for t in self.sent if t >= after), None)
        end = None if request is None else next((t for t in self.ended if t >= request), None)
        return None if end is None else end - request


def watch(page):
    """Starts counting ``page``'s script runs (before it opens the app); returns the page."""
    if not hasattr(page, "advdemo_runs"):
        page.advdemo_runs = ScriptRuns()
        page.on("websocket", page.advdemo_runs.socket)
    return page


def runs(page) -> int:
    """How many script runs (whole page or fragment) have ended since ``watch(page)``."""
    return page.advdemo_runs.finished


def wait_for_runs(page, above: int, timeout: float = RUN_TIMEOUT_S) -> None:
    """Waits until more than ``above`` runs have ended (Playwright delivers the WebSocket's frames while it waits)."""
    deadline = time.monotonic() + timeout
    while runs(page) <= above:
        if time.monotonic() > deadline:
            raise AssertionError(f"no script run ended within {timeout:g} s (still {runs(page)} runs)")
        page.wait_for_timeout(25)


def wait_idle(page) -> None:
    """Waits until the page shows no running script, no stale element (left over from the previous run) and no
    skeleton (a widget whose code is still loading: a fresh browser fetches it on first use)."""
    page.evaluate(NEXT_TASK)
    expect()(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect()(page.locator('[data-stale="true"]')).to_have_count(0)
    expect()(page.get_by_test_id("stSkeleton")).to_have_count(0)


def eventually(page, read: Callable[[], object], expected: object, timeout: float = 30) -> None:
    """Waits until ``read()`` equals ``expected`` (a widget may show its value a moment after it appears, e.g. a
    number input its minimum); fails with the last value read."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:g} s still {value!r}, expected {expected!r}")
        page.wait_for_timeout(50)


def settle(page, change: Callable[[], object]) -> None:
    """Makes ``change`` (it must rerun the script or a fragment) once the page is idle, then waits until that rerun
    has ended and the page is idle again."""
    wait_idle(page)
    before = runs(page)
    change()
    wait_for_runs(page, before)
    wait_idle(page)


def open_app(page, url: str) -> None:
    """Opens ``url`` and waits until its first run has ended and the page is idle."""
    watch(page)
    before = runs(page)
    page.goto(url, wait_until="domcontentloaded")
    wait_for_runs(page, before)
    wait_idle(page)


def widget(page, key: str):
    """The container of the widget of key ``key``."""
    return page.locator(f".st-key-{key}")


def query(page) -> dict[str, str]:
    """The page URL's query parameters (the app keeps its state there), the last value of each."""
    return {name: values[-1] for name, values in parse_qs(urlsplit(page.url).query, keep_blank_values=True).items()}


def attack_heading(page):
    """The heading that names the attack (in every layout)."""
    return page.get_by_role("heading", name=ATTACK_HEADING)


def verdicts_by_model(page) -> dict[str, str]:
    """Each model's verdict text, by the model's name (the heading of its column)."""
    columns = page.locator('[data-testid="stColumn"]').filter(has=page.locator(VERDICT))
    texts = {}
    for column in columns.all():
        name = column.locator("h3").first.inner_text().strip()
        texts[name] = column.locator(VERDICT).inner_text().strip()
    return texts


def verdict_kinds(page) -> dict[str, str]:
    """Each model's verdict kind, its badge's colour class (``advdemo-fooled``, ``-held``, ``-missed``, ``-wrong``,
    ``-none``), by the model's name."""
    columns = page.locator('[data-testid="stColumn"]').filter(has=page.locator(VERDICT))
    kinds = {}
    for column in columns.all():
        classes = set(column.locator(VERDICT).get_attribute("class").split()) - {"advdemo-verdict"}
        kind = next(name.removeprefix("advdemo-") for name in classes if name.startswith("advdemo-"))
        kinds[column.locator("h3").first.inner_text().strip()] = kind
    return kinds


def size_lines(page) -> list[str]:
    """Each model's "Size: L-inf … · L2 … · L1 …" line, in column order."""
    return page.locator('[data-testid="stMarkdownContainer"] p').filter(has_text=re.compile(r"^Size: L-inf ")) \
        .all_inner_texts()


def sizes(line: str) -> dict[str, float]:
    """``{"L-inf": 0.2, "L2": 3.4, "L1": 40.1}`` from one "Size:" line."""
    return {norm: float(value) for norm, value in re.findall(r"(L-inf|L2|L1) ([0-9.e+-]+)", line)}


def choose_radio(page, key: str, label: str) -> None:
    """Clicks the option ``label`` of the radio group of key ``key`` and waits for the rerun."""
    option = widget(page, key).get_by_test_id("stRadioOption").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
    settle(page, option.click)
    expect()(option.locator("input")).to_be_checked()


def set_toggle(page, key: str, on: bool) -> None:
    """Turns the toggle (or checkbox) of key ``key`` on or off, waiting for the rerun if it changes."""
    box = widget(page, key).locator("input[type=checkbox]")
    if box.is_checked() != on:
        settle(page, lambda: widget(page, key).locator("label").first.click())
    (expect()(box).to_be_checked() if on else expect()(box).not_to_be_checked())


def set_number(page, key: str, value: str) -> None:
    """Types ``value`` into the number or text input of key ``key`` and commits it (Enter), waiting for the rerun;
    nothing if it holds it already (nothing would rerun)."""
    field = widget(page, key).locator("input")
    if field.input_value() != value:
        settle(page, lambda: (field.fill(value), field.press("Enter")))
    expect()(field).to_have_value(value)


def press_slider(page, key: str, keys: str, times: int = 1) -> None:
    """Presses ``keys`` (e.g. ``ArrowRight``) ``times`` times on the slider of key ``key`` (as a presenter with a
    clicker would), each press's rerun awaited."""
    thumb = widget(page, key).locator("input[type=range]")
    for _ in range(times):
        settle(page, lambda: (thumb.focus(), thumb.press(keys)))


def slider_value(page, key: str) -> float:
    return float(widget(page, key).locator("input[type=range]").input_value())


def open_combobox(page, key: str, attempts: int = 6):
    """Opens the option list of the selectbox or multiselect of key ``key`` (a React Aria combobox in Streamlit
    1.67) once the page is idle, and returns the list. A click does not always open it (the first one after a
    page load may only focus it): clicks, or presses ArrowDown, until it says it is expanded."""
    wait_idle(page)
    combobox = widget(page, key).get_by_role("combobox")
    for attempt in range(attempts):
        if attempt % 2:
            combobox.press("ArrowDown")
        else:
            combobox.click()
        try:
            expect()(combobox).to_have_attribute("aria-expanded", "true", timeout=2_000)
            return page.get_by_role("listbox")
        except AssertionError:
            continue
    raise AssertionError(f"the combobox {key} did not open after {attempts} attempts")


def close_combobox(page, key: str) -> None:
    """Closes the option list of the selectbox or multiselect of key ``key`` and takes the focus off it: with the
    focus left in a multiselect, the next click elsewhere on the page (say on an expander) does nothing."""
    combobox = widget(page, key).get_by_role("combobox")
    if combobox.get_attribute("aria-expanded") == "true":
        combobox.press("Escape")
    expect()(combobox).not_to_have_attribute("aria-expanded", "true")
    combobox.blur()


def listed_options(page, key: str) -> list[str]:
    """The options the selectbox or multiselect of key ``key`` offers (its list closed again afterwards), without
    the multiselect's own "Select all"."""
    options = open_combobox(page, key).get_by_role("option").all_inner_texts()
    close_combobox(page, key)
    return [option.strip() for option in options if option.strip() != "Select all"]


def choose_option(page, key: str, option: str) -> None:
    """Picks ``option`` in the selectbox of key ``key``, or adds it to the multiselect of key ``key``, and waits
    for the rerun."""
    listbox = open_combobox(page, key)
    settle(page, listbox.get_by_role("option", name=option, exact=True).click)
    close_combobox(page, key)


def multiselect_values(page, key: str) -> list[str]:
    """The chosen values of the multiselect of key ``key`` (its tags), in order."""
    tags = widget(page, key).get_by_test_id("stMultiSelectTagsContainer").first.locator("[data-tag]")
    return [tags.nth(index).get_attribute("aria-label") for index in range(tags.count())]


def pill(page, key: str, label: str):
    """The option ``label`` of the pills of key ``key`` (``st.pills``: a radio group of buttons)."""
    return widget(page, key).get_by_role("radio", name=label, exact=True)


def open_expander(page, expander, reruns: bool = True) -> None:
    """Opens the ``st.expander`` ``expander`` (a ``<details>``) if it is collapsed; with ``reruns`` (a keyed
    expander with ``on_change="rerun"``) waits for the rerun its click causes."""
    details = expander.locator("details")
    if details.get_attribute("open") is None:
        summary = expander.locator("summary")
        settle(page, summary.click) if reruns else summary.click()
    expect()(details).to_have_attribute("open", "")


#: The projectors' sizes whose first screen must hold the whole cause and effect.
PROJECTORS = [{"width": 1280, "height": 720}, {"width": 1024, "height": 768}]


def inside(box: dict | None, viewport: dict) -> bool:
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def first_screen(page) -> tuple[dict[str, dict | None], list]:
    """The bounding boxes of what presentation mode's first screen must hold (the digit's thumbnail, the eps slider,
    each model's verdict and attacked image), and each model's column."""
    main = page.get_by_test_id("stMain")
    verdicts = page.locator(VERDICT)
    columns = page.locator('[data-testid="stColumn"]').filter(has=verdicts).all()  # each model's column
    shown = {"digit": main.get_by_test_id("stImage").first,  # the folded input's thumbnail, top left
             "eps": main.locator(".st-key-eps_linf")}
    for number, column in enumerate(columns):
        shown[f"verdict {number}"] = column.locator(VERDICT)
        shown[f"attacked image {number}"] = column.get_by_test_id("stImage").first  # the picture and its caption
    return {name: element.bounding_box() for name, element in shown.items()}, columns


def below_the_fold(boxes: dict[str, dict | None], viewport: dict) -> dict[str, int]:
    """Pixels below the fold (or off screen) of each box that is not wholly on the first screen."""
    return {name: None if box is None else round(box["y"] + box["height"] - viewport["height"])
            for name, box in boxes.items() if not inside(box, viewport)}

