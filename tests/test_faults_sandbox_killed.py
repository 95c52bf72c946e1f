"""The sandbox process SIGKILLed (``kill -9``, the OOM killer) mid-upload or alone: a restart on
the same data directory serves every complete file, shows no phantom, and replaces the orphaned
storage process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client
from alloy_nb.sandbox import S3Settings

from .helpers import random_bytes
from .invariants import assert_invariants

OWN_KEY = "fault-key"
MiB = 1024 * 1024


@dataclass
class CliSandbox:
    proc: subprocess.Popen[bytes]
    base_url: str
    user_id: str
    weed: psutil.Process
    data_dir: Path

    @property
    def storage(self) -> S3Settings:
        creds = json.loads((self.data_dir / "s3" / "s3-credentials.json").read_text())
        [port] = [int(a.split("=")[1]) for a in self.weed.cmdline() if a.startswith("-s3.port=")]
        return S3Settings(
            f"http://127.0.0.1:{port}",
            creds["accessKey"],
            creds["secretKey"],
            "alloy-user-files",
        )

    def sigkill(self) -> None:
        """SIGKILL the sandbox and its (then orphaned) weed; wait until both are gone."""
        self.proc.kill()
        self.proc.wait(10)
        with contextlib.suppress(psutil.NoSuchProcess):
            self.weed.kill()
            self.weed.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(psutil.NoSuchProcess):
            if self.weed.is_running():
                self.weed.kill()
                self.weed.wait(10)


_READY = re.compile(rb"alloy sandbox ready base_url=(http://127\.0\.0\.1:\d+)\n")
_KEY_LINE = re.compile(rb"api_key=\S+ user_id=([0-9a-f]{24})\n")


def start_cli(data_dir: Path, log: Path, key: str = OWN_KEY) -> CliSandbox:
    """``python -m alloy_nb.sandbox`` on a free port; waits (bounded) for its ready lines."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    with open(log, "ab") as err:
        cmd = ["-m", "alloy_nb.sandbox", "--port", "0", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(
            [sys.executable, *cmd, "--api-key", key],
            stdout=subprocess.PIPE,
            stderr=err,
            env=environ,
        )
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + 60
    while not (_READY.search(out) and _KEY_LINE.search(out)):
        left = deadline - time.monotonic()
        ready = select.select([proc.stdout], [], [], max(0.0, left))[0] if left > 0 else []
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"no ready lines: {out!r} {log.read_text()[-2000:]}")
        out += chunk
    ready_m, key_m = _READY.search(out), _KEY_LINE.search(out)
    assert ready_m
    assert key_m
    # weed runs under a launcher that ties it to this sandbox (alloy_nb/sandbox/_lifeline.py)
    children = psutil.Process(proc.pid).children(recursive=True)
    [weed] = [c for c in children if "weed" in c.name()]
    return CliSandbox(proc, ready_m.group(1).decode(), key_m.group(1).decode(), weed, data_dir)


@pytest.fixture
def cli_sandboxes(tmp_path: Path) -> Iterator[Callable[[], CliSandbox]]:
    started: list[CliSandbox] = []

    def start() -> CliSandbox:
        c = start_cli(tmp_path / "data", tmp_path / "sandbox.log")
        started.append(c)
        return c

    try:
        yield start
    finally:
        for c in started:
            ports = weed_ports(c.weed)
            c.close()
            _remove_grpc_sockets(ports)


def weed_ports(weed: psutil.Process) -> list[int]:
    """The ports a weed mini process was told to use (none once it is gone)."""
    try:
        args = weed.cmdline()
    except psutil.Error:
        return []
    return [int(a.split("=")[1]) for a in args if re.fullmatch(r"-\w+\.port=\d+", a)]


def _remove_grpc_sockets(ports: list[int]) -> None:
    """A SIGKILLed weed leaves its gRPC unix sockets in /tmp; tidy those of its ports only."""
    for port in ports:
        for kind in ("master", "volume", "filer", "s3", "admin"):
            for p in (port, port + 10000):
                Path(f"/tmp/seaweedfs-{kind}-grpc-{p}.sock").unlink(missing_ok=True)


def test_sandbox_sigkilled_mid_upload_restarts_on_the_same_data_dir(
    cli_sandboxes: Callable[[], CliSandbox], sleeps: list[float]
) -> None:
    first = cli_sandboxes()
    killed_ports = weed_ports(first.weed)
    early_blobs = [random_bytes(50_000 + i) for i in range(3)]
    big = random_bytes(6 * MiB)
    with Client(OWN_KEY, base_url=first.base_url, timeout=5, max_retries=1) as c:
        early = [
            c.upload(b, filename=f"early{i}.bin", progress=False) for i, b in enumerate(early_blobs)
        ]

        def kill_mid_body(done: int, total: int) -> None:
            if done > 2 * MiB and first.proc.poll() is None:
                first.sigkill()

        with pytest.raises(alloy_nb.APIConnectionError):
            c.upload(big, filename="big.bin", progress=False, on_progress=kill_mid_body)
    assert first.proc.returncode == -signal.SIGKILL
    assert not first.weed.is_running()
    _remove_grpc_sockets(killed_ports)

    second = cli_sandboxes()
    assert second.user_id == first.user_id
    with Client(OWN_KEY, base_url=second.base_url, max_retries=1) as c:
        listed = assert_invariants(c, second.storage, early, [*early_blobs, big])
        assert set(listed) == {r.s3_key for r in early}  # no phantom for the cut upload
        for r, b in zip(early, early_blobs, strict=True):
            again = c.upload(b, filename=r.filename, progress=False)
            assert (again.type, again.s3_key) == ("existing", r.s3_key)
        done = c.upload(big, filename="big.bin", progress=False)
        assert (done.type, done.s3_key) == ("new", f"{second.user_id}_big.bin")
        assert assert_invariants(c, second.storage, [*early, done])[done.s3_key] == len(big)


def test_sandbox_sigkilled_alone_its_orphaned_storage_is_replaced_on_restart(
    cli_sandboxes: Callable[[], CliSandbox],
) -> None:
    """SIGKILL (the OOM killer, ``kill -9``) of the sandbox: its weed, which sits in a session
    of its own so a notebook's Ctrl-C cannot kill storage, is stopped by its launcher. A
    restart on the same data directory at once, while that weed may still be stopping, must
    stop it instead of failing on its locks."""
    first = cli_sandboxes()
    orphan = first.weed
    with Client(OWN_KEY, base_url=first.base_url, max_retries=1) as c:
        kept = c.upload(random_bytes(40_000), filename="kept.bin", progress=False)
    first.proc.kill()
    first.proc.wait(10)

    second = cli_sandboxes()
    with contextlib.suppress(psutil.TimeoutExpired):
        orphan.wait(15)
    assert not orphan.is_running()
    assert second.weed.pid != orphan.pid
    with Client(OWN_KEY, base_url=second.base_url, max_retries=1) as c:
        assert assert_invariants(c, second.storage, [kept]) == {kept.s3_key: kept.size}
        fresh = c.upload(random_bytes(30_000), filename="fresh.bin", progress=False)
        assert fresh.type == "new"
        assert_invariants(c, second.storage, [kept, fresh])
