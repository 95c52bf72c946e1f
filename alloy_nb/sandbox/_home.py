"""Where the OS user's shared sandbox lives, what it records there, and the checks on it.

Standard library only (no FastAPI, boto3 or uvicorn), so that ``connect()`` can find and
check a running sandbox without importing them into the kernel.

The home is also the sandbox's data directory::

    <home>/shared-sandbox.json  pid, URL, key of the running shared sandbox (0600)
    <home>/sandbox.log          its stdout and stderr, never the notebook's
    <home>/connect.lock         held around find-or-start, so two kernels get one sandbox
    <home>/owner.lock           held by the sandbox for its lifetime (see _datadir_lock.py)
    <home>/last-port            the API port it last served on, tried first next time
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from alloy_nb._constants import ENV_SANDBOX_HOME
from alloy_nb.sandbox._activity import PROBE_HEADER

STATE_FILE = "shared-sandbox.json"
LOG_FILE = "sandbox.log"
CONNECT_LOCK = "connect.lock"
LAST_PORT_FILE = "last-port"
DEMO_KEY_FILE = "demo-api-key"  # written by _server.resolve_api_keys


class SharedSandboxError(RuntimeError):
    """The shared sandbox could not be found, started or stopped."""


def sandbox_home() -> Path:
    """``$ALLOY_NB_SANDBOX_HOME``, else ``$XDG_DATA_HOME/alloy_nb/sandbox``, else
    ``~/.local/share/alloy_nb/sandbox``."""
    explicit = os.environ.get(ENV_SANDBOX_HOME)
    if explicit:
        return Path(explicit).expanduser().absolute()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser().absolute() / "alloy_nb" / "sandbox"


def ensure_home(home: Path) -> Path:
    """Create the home, mode 0700 (it holds keys and every stored file). An existing
    directory keeps its mode: it may be one the user chose and shares on purpose; the
    files holding keys are 0600 anyway."""
    if not home.is_dir():
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(home, 0o700)  # exactly, whatever the umask
    return home


@dataclass(frozen=True)
class SharedState:
    """What a running shared sandbox records about itself."""

    pid: int
    url: str
    api_key: str
    user_id: str
    data_dir: str
    started: float
    idle_timeout: float
    log: str

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"SharedState(pid={self.pid}, url={self.url!r}, data_dir={self.data_dir!r})"


def read_state(home: Path) -> SharedState | None:
    try:
        raw = json.loads((home / STATE_FILE).read_text())
        return SharedState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def write_state(home: Path, state: SharedState) -> None:
    """Atomically, mode 0600 from the first byte (it holds the API key)."""
    tmp = home / f".{STATE_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(state), f)
    os.replace(tmp, home / STATE_FILE)


def remove_state(home: Path, pid: int) -> None:
    """Remove the state file if it still describes ``pid`` (never a successor's)."""
    state = read_state(home)
    if state is not None and state.pid == pid:
        (home / STATE_FILE).unlink(missing_ok=True)


@contextlib.contextmanager
def connect_lock(home: Path, *, timeout: float, blocking: bool = True) -> Iterator[bool]:
    """Hold ``connect.lock``; yields False at once when not ``blocking`` and it is busy.

    Raises :class:`SharedSandboxError` if it stays busy for ``timeout`` seconds.
    """
    fd = os.open(home / CONNECT_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking:
                    yield False
                    return
                if time.monotonic() > deadline:
                    raise SharedSandboxError(
                        f"another process held {home / CONNECT_LOCK} for {timeout:.0f} s "
                        "(a sandbox starting or stopping); try again"
                    ) from None
                time.sleep(0.05)  # flock has no timeout; poll the lock
        yield True
    finally:
        os.close(fd)


Health = Literal["ok", "storage", "down"]


def health(url: str, timeout: float = 15.0, *, probe: bool = False) -> Health:
    """``ok``; ``storage`` when the API answers but its storage does not (or it hangs);
    ``down`` when nothing answers at ``url``. A ``probe`` does not count as activity."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", "/health", headers={PROBE_HEADER: "1"} if probe else {})
        status = conn.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        return "down"
    except TimeoutError:
        return "storage"
    except OSError:
        return "down"
    finally:
        conn.close()
    return "ok" if status == 200 else "storage"


def get_json(url: str, path: str, key: str, timeout: float = 10.0) -> tuple[int, object]:
    """GET ``path`` with the bearer key; (status, parsed body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, None


def cmdline(pid: int) -> list[str] | None:
    """The process's arguments, or None if it is gone (or a zombie)."""
    if Path("/proc/self").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        # a zombie has an empty cmdline: it has exited and holds nothing
        return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")] if raw else None
    out = subprocess.run(  # no /proc (macOS): ask ps; arguments split on spaces
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    args = out.stdout.split()
    return None if out.returncode or not args or "<defunct>" in out.stdout else args


def is_shared_sandbox(pid: int, home: Path) -> bool:
    """Whether ``pid`` is a ``serve`` process on this home (not a reused pid)."""
    args = cmdline(pid) or []
    return "alloy_nb.sandbox" in args and "serve" in args and f"--home={home}" in args


def is_sandbox_process(pid: int) -> bool:
    """Whether ``pid`` runs ``python -m alloy_nb.sandbox`` (in any mode)."""
    return "alloy_nb.sandbox" in (cmdline(pid) or [])


def running(pid: int) -> bool:
    return cmdline(pid) is not None


def terminate(pid: int, *, grace: float, wait_for: float) -> None:
    """SIGTERM, up to ``grace`` seconds for a graceful stop, then SIGKILL; waits until gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + wait_for
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    if running(pid):
        raise SharedSandboxError(f"the sandbox pid {pid} did not exit")
