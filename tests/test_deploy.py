"""Several app processes, one deployment: nginx in front of two replicas (``deploy/run-local.sh``), and the shared
model store behind them (the training lock, the racing saves), on the loopback only.

The proxy's tests need Debian's nginx (``scripts/test.sh`` installs it) and are skipped without it; the store's
tests run everywhere. Helper processes run this file as a script (``python tests/test_deploy.py hold|save|list``):
another process is what another replica is to the store.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from loops import run_in_own_loop

REPO = Path(__file__).resolve().parent.parent
RUN_LOCAL = REPO / "deploy" / "run-local.sh"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
SESSIONS = 10
HELPER_SECONDS = 240


# -- helper processes -----------------------------------------------------------------------------------------------

class FakeJob:
    """A job with the outside view ``JobManager`` needs, that "trains" until cancelled."""

    def __init__(self, name: str) -> None:
        from advdemo.training.jobs import Snapshot, State

        self.request = SimpleNamespace(name=name, evaluation_n=0, train_config=SimpleNamespace(epochs=3))
        self.owner = f"session-of-{name}"
        self._snapshot = Snapshot(name, self.owner, State.TRAINING, started=time.time(), epochs=3,
                                  eta_seconds=600.0, message="training")
        self._state = State

    def snapshot(self):
        return self._snapshot

    def start(self):
        return self

    def cancel(self) -> None:
        import dataclasses

        self._snapshot = dataclasses.replace(self._snapshot, state=self._state.CANCELLED, message="cancelled")

    def join(self, timeout=None):
        return self._snapshot


def _hold(name: str) -> None:
    """Starts a (fake) training through a JobManager and keeps it until it is cancelled or this process is killed."""
    from advdemo.training.jobs import JobManager

    job = JobManager().start(FakeJob(name))
    print("holding", flush=True)
    while not job.snapshot().state.finished:
        time.sleep(0.2)
    time.sleep(3)  # the keeper thread writes the end and lets the lock go
    print("ended", flush=True)


def _save(name: str, go: str, tag: str) -> None:
    """Saves a tiny model as ``name`` as soon as the file ``go`` exists; prints ``saved`` or ``refused: <message>``."""
    import keras

    from advdemo.models import registry

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    try:
        registry.save_user_model(model, {"summary": f"saved by {tag}", "by": tag}, name)
        print("saved", flush=True)
    except registry.ModelExistsError as error:
        print(f"refused: {error}", flush=True)


def _list() -> None:
    from advdemo.models import registry

    print(" ".join(registry.list_models().names), flush=True)


def helper(*args: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "ADVDEMO_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, __file__, *args], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def wait_line(process: subprocess.Popen, expected: str) -> str:
    line = process.stdout.readline().strip()
    assert line.startswith(expected), f"the helper process said {line!r} (exit code {process.poll()})"
    return line


# -- the shared store: one training at a time, racing saves, one roster --------------------------------------------

def test_a_training_held_by_another_process_is_refused_shown_and_freed_when_its_process_dies(tmp_path):
    from advdemo.training.jobs import Busy, JobManager, RemoteJob, State

    holder = helper("hold", "teachers-model", home=tmp_path)
    try:
        wait_line(holder, "holding")
        manager = JobManager(home=tmp_path)  # this process is another replica
        with pytest.raises(Busy, match=r'training "teachers-model" \(since \d\d:\d\d, about 1\d min left\)'):
            manager.start(FakeJob("mine"))
        shown = manager.current()  # every replica's status line: the other replica's job
        assert isinstance(shown, RemoteJob) and shown.snapshot().name == "teachers-model"
        assert shown.snapshot().state is State.TRAINING and shown.owner == "session-of-teachers-model"
        assert manager.current() is shown  # one object per job: the page keys its reruns on it
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        stale = manager.current()  # the kernel released the flock: the job is reported as stopped
        assert stale.snapshot().state is State.FAILED and "stopped" in stale.snapshot().message
        mine = manager.start(FakeJob("mine"))
        assert manager.current() is mine
        with pytest.raises(Busy, match='"mine"'):
            JobManager(home=tmp_path).start(FakeJob("third"))
        mine.cancel()
    finally:
        holder.kill()
        holder.wait(30)


def test_a_training_can_be_cancelled_from_another_process(tmp_path):
    from advdemo.training.jobs import JobManager, State

    holder = helper("hold", "teachers-model", home=tmp_path)
    try:
        wait_line(holder, "holding")
        remote = JobManager(home=tmp_path).current()
        remote.cancel()  # a request file; the owner's keeper polls it every second
        assert remote.join(30).state is State.CANCELLED
        wait_line(holder, "ended")
        assert holder.wait(30) == 0
    finally:
        holder.kill()
        holder.wait(30)


def test_a_page_of_another_replica_shows_the_training_and_turns_train_off(tmp_path, monkeypatch):
    """The sidebar of a session on this process (a replica) while another process (another replica) trains."""
    from apptest_support import APP, TIMEOUT, needs_models, rerun
    from streamlit.testing.v1 import AppTest

    from advdemo.ui import training

    if needs_models.args[0]:
        pytest.skip(needs_models.kwargs["reason"])
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path))
    holder = helper("hold", "teachers-model", home=tmp_path)
    try:
        wait_line(holder, "holding")
        training.job_manager.clear()
        at = rerun(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
        assert at.sidebar.button(key="train_start").disabled
        assert any(caption.value.startswith('Another session is training "teachers-model"') and
                   "Only that session can cancel it" in caption.value for caption in at.sidebar.caption)
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        rerun(at)  # its replica is gone: Train is on again, and the line says what became of that training
        assert not at.sidebar.button(key="train_start").disabled
        assert any("teachers-model" in caption.value and "stopped" in caption.value for caption in at.sidebar.caption)
    finally:
        holder.kill()
        holder.wait(30)
        training.job_manager.clear()


def test_two_processes_saving_the_same_name_leave_one_complete_model_and_another_process_lists_it(tmp_path):
    import keras

    from advdemo.models import load_model

    go = tmp_path / "go"
    savers = [helper("save", "race", str(go), tag, home=tmp_path) for tag in ("a", "b")]
    try:
        for saver in savers:
            wait_line(saver, "ready")
        go.touch()
        outcomes = [saver.stdout.readline().strip() for saver in savers]
    finally:
        for saver in savers:
            saver.kill()
            saver.wait(30)
    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["refused", "saved"], outcomes
    refused = next(outcome for outcome in outcomes if outcome.startswith("refused"))
    assert "'race'" in refused and "choose" in refused
    winner = "ab"[outcomes.index("saved")]
    users = tmp_path / "models"
    assert sorted(path.name for path in users.iterdir()) == ["race.json", "race.keras"]  # no staging folder left
    assert f'"by": "{winner}"' in (users / "race.json").read_text()  # the card of the model that was saved
    assert isinstance(load_model(users / "race.keras"), keras.Model)
    lister = helper("list", home=tmp_path)  # another replica's roster on its next run
    assert "race" in lister.communicate(timeout=HELPER_SECONDS)[0].split()


def test_a_save_that_loses_the_race_at_the_last_moment_moves_nothing(tmp_path, monkeypatch):
    """The other replica's save lands between this save's check and its commit."""
    import keras

    from advdemo.models import registry

    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path))
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    real_save = registry.save_model

    def save_while_another_lands(model, path):
        saved = real_save(model, path)
        other = tmp_path / "other"
        other.mkdir(exist_ok=True)
        real_save(model, other / "race.keras").rename(registry.user_dir() / "race.keras")
        return saved

    monkeypatch.setattr(registry, "save_model", save_while_another_lands)
    with pytest.raises(registry.ModelExistsError, match="saved by another session a moment ago"):
        registry.save_user_model(model, {"summary": "mine"}, "race")
    assert sorted(path.name for path in registry.user_dir().iterdir()) == ["race.keras"]  # theirs, untouched


# -- the proxy -----------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_pair() -> int:
    """A port P with P and P+1 free (the two replicas)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def get(url: str, cookie: str = "") -> tuple[int, dict[str, str], str]:
    """(status, headers with lower-case names, every Set-Cookie joined by newlines, body) of a GET."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})

    def headers_of(message) -> dict[str, str]:
        headers = {name.lower(): value for name, value in message.items()}
        headers["set-cookie"] = "\n".join(message.get_all("Set-Cookie") or [])
        return headers

    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, headers_of(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, headers_of(error.headers), ""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (scripts/test.sh installs it: apt-get install nginx)")
    run = tmp_path_factory.mktemp("deploy-run")
    port, base = free_port(), free_pair()
    env = {**os.environ, "ADVDEMO_PORT": str(port), "ADVDEMO_REPLICA_BASE_PORT": str(base),
           "ADVDEMO_RUN_DIR": str(run), "ADVDEMO_HOME": str(tmp_path_factory.mktemp("deploy-home")),
           "PYTHON": sys.executable, "TF_CPP_MIN_LOG_LEVEL": "2", "ADVDEMO_HEALTH_TIMEOUT": "180"}
    started = subprocess.run([str(RUN_LOCAL), "2"], env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, f"run-local.sh failed:\n{started.stdout}\n{started.stderr}"
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", ports={"r0": base, "r1": base + 1}, run=run, env=env)
    finally:
        stopped = subprocess.run([str(RUN_LOCAL), "stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert not list(run.glob("*.pid"))


def replica_cookie(headers: dict[str, str]) -> str:
    found = re.search(r"advdemo_replica=(r\d+)", headers.get("set-cookie", ""))
    assert found, f"no affinity cookie in {headers}"
    return found.group(1)


async def _open_session(url: str, replica: str, xsrf: str, index: int, attempt: int):
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://") + f"/_stcore/stream?test_session={index}&attempt={attempt}"
    socket_ = await connect(ws_url, subprotocols=["streamlit", xsrf],
                            additional_headers={"Cookie": f"advdemo_replica={replica}; _streamlit_xsrf={xsrf}"})
    return socket_, socket_.response.headers.get("X-Advdemo-Replica")


async def _sessions(url: str, cookies: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Opens every session's WebSocket (all open at once), closes them, then reconnects each with its cookie, as a
    browser does after a network blip; the replica the proxy names each time."""
    seen = []
    first = [await _open_session(url, replica, xsrf, index, 1) for index, (replica, xsrf) in enumerate(cookies)]
    await asyncio.sleep(1)
    for socket_, _ in first:
        await socket_.close()
    second = [await _open_session(url, replica, xsrf, index, 2) for index, (replica, xsrf) in enumerate(cookies)]
    for (socket_, again), (_, before) in zip(second, first, strict=True):
        seen.append((before, again))
        await socket_.close()
    return seen


def test_sessions_spread_over_both_replicas_and_keep_theirs(deployment):
    cookies = []
    # New browsers until there are SESSIONS of them and both replicas have some (random assignment: 64 draws that
    # all land on one replica have probability 2^-63; 10 would have 2/1024).
    while len(cookies) < SESSIONS or len({replica for replica, _ in cookies}) < 2:
        assert len(cookies) < 64, f"64 new browsers all went to one replica: {cookies[0][0]}"
        status, headers, body = get(deployment.url + "/_stcore/health")
        assert (status, body) == (200, "ok")
        replica = replica_cookie(headers)
        assert headers["x-advdemo-replica"] == replica
        xsrf = re.search(r"_streamlit_xsrf=([^;]+)", headers["set-cookie"]).group(1)
        for _ in range(3):  # its later requests: the same replica, no new cookie
            status, again, _ = get(deployment.url + "/_stcore/health", f"advdemo_replica={replica}")
            assert status == 200 and again["x-advdemo-replica"] == replica and "advdemo_replica" not in again.get(
                "set-cookie", "")
        cookies.append((replica, xsrf))
    seen = run_in_own_loop(_sessions(deployment.url, cookies))
    assert [before for before, _ in seen] == [replica for replica, _ in cookies]
    assert [again for _, again in seen] == [replica for replica, _ in cookies]
    # Which replica really served each WebSocket: nginx's access log names the upstream (written when it closes).
    served: dict[int, set[int]] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(len(ports) > 0 for ports in served.values()) < len(cookies):
        time.sleep(0.3)
        served = {}
        for line in (deployment.run / "access.log").read_text().splitlines():
            found = re.search(r'stream\?test_session=(\d+)&attempt=\d HTTP/1.1" 101 .* upstream=127.0.0.1:(\d+)', line)
            if found:
                served.setdefault(int(found.group(1)), set()).add(int(found.group(2)))
    assert len(served) == len(cookies)
    for index, (replica, _) in enumerate(cookies):
        assert served[index] == {deployment.ports[replica]}, f"session {index} moved: {served[index]}"
    per_replica = {name: sum(served[index] == {port} for index in served) for name, port in deployment.ports.items()}
    assert all(per_replica.values()), f"every session landed on one replica: {per_replica}"


def test_metrics_are_not_public_but_health_and_the_page_are(deployment):
    assert get(deployment.url + "/_stcore/metrics")[0] == 404
    assert get(deployment.url + "/_stcore/metrics", "advdemo_replica=r1")[0] == 404
    assert get(f"http://127.0.0.1:{deployment.ports['r0']}/_stcore/metrics")[0] == 200  # the replica's own port
    status, headers, body = get(deployment.url + "/", "advdemo_replica=r1")
    assert status == 200 and "<html" in body.lower() and headers["x-advdemo-replica"] == "r1"


def test_a_cookie_naming_no_replica_gets_a_real_one(deployment):
    for stale in ("r7", "r0x", "../r1", ""):
        status, headers, _ = get(deployment.url + "/_stcore/health", f"advdemo_replica={stale}")
        assert status == 200 and replica_cookie(headers) in deployment.ports


def test_a_replica_that_is_down_hands_its_browsers_to_another(deployment):
    """Last in this file: it stops replica r1 (run-local.sh stop still ends everything)."""
    pid = int((deployment.run / "replica-1.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            time.sleep(0.2)
        except ProcessLookupError:
            break
    status, headers, body = get(deployment.url + "/_stcore/health", "advdemo_replica=r1")
    assert (status, body) == (200, "ok")  # served by r0, the backup of r1's upstream
    assert get(deployment.url + "/_stcore/health", "advdemo_replica=r0")[0] == 200


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"hold": _hold, "save": _save, "list": _list}[command](*arguments)
