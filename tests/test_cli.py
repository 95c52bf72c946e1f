"""`python -m alloy_nb.sandbox`: ready lines, loopback-only storage, clean stop, docs client."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

READY = re.compile(r"alloy sandbox ready base_url=(http://127\.0\.0\.1:\d+)")
KEY_LINE = re.compile(r"api_key=(\S+) user_id=([0-9a-f]{24})")


@dataclass
class Cli:
    proc: subprocess.Popen[str]
    base_url: str
    keys: list[tuple[str, str]]

    @property
    def weed(self) -> psutil.Process:
        children = psutil.Process(self.proc.pid).children(recursive=True)  # under a launcher
        [child] = [c for c in children if "weed" in c.name()]
        return child

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        rc = self.proc.wait(30)
        return rc, self.proc.stderr.read() if self.proc.stderr else ""


def start_cli(
    data_dir: Path, *args: str, n_keys: int = 1, env: dict[str, str] | None = None
) -> Cli:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    environ.update(env or {})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alloy_nb.sandbox",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    first = proc.stdout.readline()
    m = READY.fullmatch(first.strip())
    if not m or time.monotonic() > deadline:
        proc.kill()
        raise AssertionError(
            f"no ready line: {first!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    keys = []
    for _ in range(n_keys):
        line = proc.stdout.readline()
        km = KEY_LINE.fullmatch(line.strip())
        assert km, f"unexpected line {line!r}"
        keys.append((km.group(1), km.group(2)))
    return Cli(proc, m.group(1), keys)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    c = start_cli(
        tmp_path_factory.mktemp("cli"), "--api-key", "cli-key-1", "--api-key", "cli-key-2", n_keys=2
    )
    yield c
    if c.proc.poll() is None:
        c.stop()


def test_ready_line_then_one_line_per_key(cli: Cli) -> None:
    assert [k for k, _ in cli.keys] == ["cli-key-1", "cli-key-2"]
    assert len({u for _, u in cli.keys}) == 2
    assert httpx.get(cli.base_url + "/health").json() == {"status": "ok"}


def test_storage_listens_on_loopback_only_with_telemetry_off(cli: Cli) -> None:
    weed = cli.weed
    assert "-master.telemetry=false" in weed.cmdline()
    listening = [c for c in weed.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 6
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}


def test_a_client_written_from_the_public_docs_works_unchanged(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("written by a client that only read Alloy's guide\n")
    script = Path(__file__).parent / "js" / "docs_client.mjs"
    out = subprocess.run(
        ["node", str(script), cli.base_url, "cli-key-1", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout)
    user_id = cli.keys[0][1]
    assert result["first"] == {"s3Key": f"{user_id}_notes.txt", "type": "new"}
    assert result["putStatus"] == 200
    assert [(e["s3Key"], e["size"]) for e in result["list"]] == [
        (f"{user_id}_notes.txt", f.stat().st_size)
    ]
    assert result["second"] == {"s3Key": f"{user_id}_notes.txt", "type": "existing"}
    assert result["delete"] == {"success": True, "message": "File deleted successfully"}
    assert result["after"] == []


def test_sigterm_stops_api_and_storage_and_removes_sockets(tmp_path: Path) -> None:
    c = start_cli(tmp_path, "--api-key", "k")
    weed = c.weed
    ports = [int(a.split("=")[1]) for a in weed.cmdline() if re.fullmatch(r"-\w+\.port=\d+", a)]
    assert len(ports) == 5
    started = time.monotonic()
    rc, _ = c.stop(signal.SIGTERM)
    assert rc == 0
    assert time.monotonic() - started < 30
    assert not psutil.pid_exists(weed.pid) or weed.status() == psutil.STATUS_ZOMBIE
    leftovers = [
        p
        for d in {Path(tempfile.gettempdir()), Path("/tmp")}  # weed ignores TMPDIR for these
        for p in d.glob("seaweedfs-*-grpc-*.sock")
        if int(p.stem.rsplit("-", 1)[1]) - 10000 in ports
    ]
    assert leftovers == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(c.base_url + "/health")


def test_demo_key_is_printed_reused_and_never_stored_in_clear(tmp_path: Path) -> None:
    c = start_cli(tmp_path)
    [(key, user_id)] = c.keys
    rc, stderr = c.stop(signal.SIGINT)
    assert rc == 0
    again = start_cli(tmp_path)
    assert again.keys == [(key, user_id)]
    _, stderr2 = again.stop()
    registry = (tmp_path / "registry.sqlite3").read_bytes()
    assert key.encode() not in registry
    assert hashlib.sha256(key.encode()).hexdigest().encode() in registry
    for text in (
        stderr,
        stderr2,
        *(p.read_text(errors="replace") for p in tmp_path.rglob("*.log")),
    ):
        assert key not in text


def test_keys_from_environment(tmp_path: Path) -> None:
    c = start_cli(tmp_path, n_keys=2, env={"ALLOY_SANDBOX_API_KEYS": "env-key-1, env-key-2"})
    c.stop()
    assert [k for k, _ in c.keys] == ["env-key-1", "env-key-2"]
