"""One local sandbox per OS user: shared by kernels, healed, idle-stopped, one owner per data dir.

Real processes only. Every test has its own ``ALLOY_NB_SANDBOX_HOME`` (a fresh temp dir), and
its teardown stops the shared sandbox there and checks that no process is left on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb.sandbox._datadir_lock import DataDirInUse, is_owned
from alloy_nb.sandbox._home import health, read_state
from alloy_nb.sandbox._shared import stop_shared_sandbox
from tests.helpers import cmdline_of
from tests.test_cli import start_cli

CONNECT_LINE = re.compile(r"alloy_nb: no ALLOY_API_KEY set; (.*) at (http://127\.0\.0\.1:\d+)")


def _on(home: Path) -> list[psutil.Process]:
    """Live processes whose command line names ``home`` (the sandbox and its weed)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        args = p.info["cmdline"] or []
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(str(home) in a for a in args):
            found.append(p)
    return found


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated sandbox home; whatever ran on it is stopped and checked gone afterwards."""
    for name in list(os.environ):
        if name.startswith("ALLOY_"):
            monkeypatch.delenv(name)
    # short: weed puts unix sockets in the data dir (108-byte path limit)
    d = Path(tempfile.mkdtemp(prefix="alloy-home-"))
    monkeypatch.setenv("ALLOY_NB_SANDBOX_HOME", str(d))
    try:
        yield d
    finally:
        stop_shared_sandbox(d)
        leftovers = _on(d)
        for p in leftovers:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
        assert not leftovers, f"left running on {d}: {[cmdline_of(p) for p in leftovers]}"


def _env() -> dict[str, str]:
    return dict(os.environ)  # the fixture already scrubbed ALLOY_* and set the home


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.1)


def _serve_processes(home: Path) -> list[psutil.Process]:
    return [
        p for p in _on(home) if "serve" in cmdline_of(p) and "alloy_nb.sandbox" in cmdline_of(p)
    ]


def _weed_of(pid: int) -> psutil.Process:
    [weed] = [c for c in psutil.Process(pid).children(recursive=True) if c.name() == "weed"]
    return weed


def _gone(p: psutil.Process) -> bool:
    """Exited (a zombie not yet reaped by its parent counts: it holds nothing)."""
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill(p: psutil.Process) -> None:
    p.kill()
    _wait(lambda: _gone(p), 10, "killed")


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alloy_nb.sandbox", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


class Kernel:
    """A separate Python process standing in for a notebook kernel, driven line by line."""

    SCRIPT = """
import json, sys
import alloy_nb
print("ready", flush=True)
name = sys.stdin.readline().strip()
c = alloy_nb.connect()
c.upload(name.encode(), filename=name + ".txt", progress=False)
print(json.dumps({"url": c.base_url}), flush=True)
sys.stdin.readline()
print(json.dumps(sorted(c.list_files()["filename"])), flush=True)
"""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))

    def line(self, timeout: float = 120) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output in {timeout} s; stderr: {self.stderr()}") from None

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        return self.proc.stderr.read() if self.proc.stderr else ""


def test_two_kernels_connecting_at_once_get_one_sandbox_and_see_each_others_files(
    home: Path,
) -> None:
    """Both get the same sandbox (one started, one reused); each lists both uploads."""
    kernels = [Kernel(), Kernel()]
    try:
        for k in kernels:
            assert k.line() == "ready"
        for k, name in zip(kernels, ("a", "b"), strict=True):
            k.send(name)  # both connect now, racing for the home's lock
        connect_lines = [CONNECT_LINE.fullmatch(k.line()) for k in kernels]
        urls = [json.loads(k.line())["url"] for k in kernels]
        assert all(connect_lines), connect_lines
        assert sorted(m.group(1) for m in connect_lines if m) == [
            "started a local sandbox (shared by your notebooks)",
            "using your local sandbox",
        ]
        assert urls[0] == urls[1] == connect_lines[0].group(2)  # type: ignore[union-attr]
        assert len(_serve_processes(home)) == 1
        for k in kernels:
            k.send("list")
        assert [json.loads(k.line()) for k in kernels] == [["a.txt", "b.txt"]] * 2
        for k in kernels:
            assert k.proc.wait(30) == 0
            assert k.stderr() == ""
    finally:
        for k in kernels:
            if k.proc.poll() is None:
                k.proc.kill()
    state = read_state(home)
    assert state is not None
    assert state.url == urls[0]
    assert (home / "shared-sandbox.json").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700


def test_a_sandbox_whose_storage_died_is_restarted_by_the_next_connect(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """weed SIGKILLed: /health says so; the next connect() restarts it; files are all there."""
    first = alloy_nb.connect()
    kept = first.upload(b"kept across the restart", filename="kept.txt", progress=False)
    state = read_state(home)
    assert state is not None
    old_sandbox = psutil.Process(state.pid)
    _kill(_weed_of(state.pid))
    assert health(state.url) == "storage"
    capsys.readouterr()

    healed = alloy_nb.connect()
    line = capsys.readouterr().out.strip()
    assert line.startswith("alloy_nb: no ALLOY_API_KEY set; restarted your local sandbox")
    new_state = read_state(home)
    assert new_state is not None
    assert new_state.pid != state.pid
    assert _gone(old_sandbox)
    assert healed.list_files()["s3_key"].tolist() == [kept.s3_key]
    assert healed.base_url == first.base_url, "the last port is reused when free"
    assert first.list_files()["s3_key"].tolist() == [kept.s3_key], "old clients work again"
    assert len(_serve_processes(home)) == 1


def test_shared_sandbox_output_goes_to_its_log_not_the_kernel(home: Path) -> None:
    """A kernel's output is its one connect line; the sandbox's warnings are in its log."""
    code = "import alloy_nb; c = alloy_nb.connect(); print(len(c.list_files()))"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert run.returncode == 0, run.stderr
    state = read_state(home)
    assert state is not None
    weed = _weed_of(state.pid)
    _kill(weed)
    run = subprocess.run(  # this one heals it: the dying sandbox logs storage failures
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert run.returncode == 0, run.stderr
    [line, count] = run.stdout.splitlines()
    assert CONNECT_LINE.fullmatch(line)
    assert "restarted" in line
    assert (count, run.stderr) == ("0", "")
    log = (home / "sandbox.log").read_text()
    assert "storage unavailable" in log
    assert log.count("alloy sandbox ready base_url=") == 2
    assert state.api_key not in log


def test_an_idle_sandbox_stops_itself_and_status_does_not_keep_it_alive(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept alive while used; stops (storage too) once idle for the configured time."""
    monkeypatch.setenv("ALLOY_NB_SANDBOX_IDLE_TIMEOUT", "3")
    client = alloy_nb.connect()
    state = read_state(home)
    assert state is not None
    assert state.idle_timeout == 3
    weed = _weed_of(state.pid)
    used_until = time.monotonic() + 6  # twice the idle timeout, in use all along
    while time.monotonic() < used_until:
        client.list_files()
        time.sleep(0.5)
    assert psutil.pid_exists(state.pid)
    assert health(state.url) == "ok"
    status = f"{state.url}/sandbox/status"
    auth = {"Authorization": f"Bearer {state.api_key}"}

    def stopped() -> bool:
        with contextlib.suppress(httpx.TransportError):  # asking must not count as use
            httpx.get(status, headers=auth, timeout=5).raise_for_status()
        return not _on(home)

    _wait(stopped, 60, "stopped when idle")
    assert _gone(weed)
    assert read_state(home) is None
    assert not is_owned(home)
    assert "stopped after 3 s without requests" in (home / "sandbox.log").read_text()


def test_status_and_stop_subcommands(home: Path) -> None:
    """status shows URL, pid, data dir, uptime, idle; stop ends it and waits until gone."""
    alloy_nb.connect()
    state = read_state(home)
    assert state is not None
    out = _cli("status")
    assert out.returncode == 0, out.stderr
    for expected in (state.url, str(state.pid), str(home), "uptime", "idle", "storage   ok"):
        assert expected in out.stdout
    assert state.api_key not in out.stdout
    url = f"{state.url}/sandbox/status"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(url, headers={"Authorization": f"Bearer {state.api_key}"})
    assert ok.json()["pid"] == state.pid
    assert ok.json()["dataDir"] == str(home)
    weed = _weed_of(state.pid)

    out = _cli("stop")
    assert out.returncode == 0, out.stderr
    assert f"stopped the shared sandbox at {state.url} (pid {state.pid})" in out.stdout
    assert not _on(home)
    assert _gone(weed)
    out = _cli("status")
    assert (out.returncode, out.stdout.strip()) == (
        3,
        f"no shared sandbox is running (home: {home})",
    )
    assert _cli("stop").stdout.startswith("no shared sandbox is running")


def test_a_second_sandbox_on_a_data_dir_in_use_refuses_and_leaves_the_first_alone(
    home: Path, tmp_path: Path
) -> None:
    """CLI and start() refuse naming the owner (pid, URL); the first keeps its storage."""
    alloy_nb.connect()
    state = read_state(home)
    assert state is not None
    weed = _weed_of(state.pid)
    refused = _cli("--port", "0", "--data-dir", str(home), timeout=60)
    assert refused.returncode == 1
    assert f"in use by the sandbox pid {state.pid} at {state.url}" in refused.stderr
    with pytest.raises(DataDirInUse, match=f"pid {state.pid} at {re.escape(state.url)}"):
        alloy_nb.sandbox.start(data_dir=home)
    assert weed.is_running()
    assert health(state.url) == "ok"
    assert len(_serve_processes(home)) == 1

    data = tmp_path / "d"  # two plain CLIs: the case that used to kill the first one's weed
    first = start_cli(data, "--api-key", "k")
    try:
        first_weed = first.weed
        second = _cli("--port", "0", "--data-dir", str(data), "--api-key", "k", timeout=60)
        assert second.returncode == 1
        assert f"pid {first.proc.pid} at {first.base_url}" in second.stderr
        assert first_weed.is_running()
        assert health(first.base_url) == "ok"
        out = _cli("stop", "--data-dir", str(data))
        assert out.returncode == 0
        assert f"stopped the sandbox pid {first.proc.pid}" in out.stdout
        assert first.proc.wait(5) == 0
        assert not is_owned(data)
    finally:
        if first.proc.poll() is None:
            first.stop()


def test_connect_uses_a_sandbox_started_by_hand_on_the_home(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CLI sandbox already owning the home is used, not fought over."""
    cli = start_cli(home)
    try:
        client = alloy_nb.connect()
        out = capsys.readouterr().out
        assert f"using the local sandbox running at {cli.base_url}" in out
        client.upload(b"x", filename="x.txt", progress=False)
        assert client.list_files()["filename"].tolist() == ["x.txt"]
        assert _serve_processes(home) == []
    finally:
        cli.stop()


def test_start_failure_points_to_the_log(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox that cannot start: the error says why and where its log is."""
    monkeypatch.setenv("ALLOY_NB_SANDBOX_IDLE_TIMEOUT", "soon")
    with pytest.raises(alloy_nb.AlloyError) as e:
        alloy_nb.connect()
    message = str(e.value)
    assert "ALLOY_NB_SANDBOX_IDLE_TIMEOUT must be a number of seconds" in message
    assert message.endswith(f"see its log: {home / 'sandbox.log'}")


def test_missing_sandbox_extra_is_named(home: Path) -> None:
    """Without the sandbox extra, connect() says which install line to run."""
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "import alloy_nb\n"
        "try:\n    alloy_nb.connect()\n"
        "except alloy_nb.MissingDependencyError as e:\n    print(e)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert "needs the sandbox extra (boto3 missing): pip install 'alloy_nb[sandbox]'" in run.stdout
    assert not _on(home)
