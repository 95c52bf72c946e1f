"""Find or start the OS user's shared sandbox, or stop it: for ``connect()``, tests and the CLI.

Standard library only, so finding a running sandbox costs a kernel no heavy imports. Every
step runs under the home's ``connect.lock``: two kernels connecting at once get one sandbox,
and a sandbox stopping for idleness (which takes the same lock) is never handed out.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alloy_nb.sandbox._activity import STATUS_PATH
from alloy_nb.sandbox._datadir_lock import is_owned, read_owner
from alloy_nb.sandbox._home import (
    DEMO_KEY_FILE,
    LOG_FILE,
    SharedSandboxError,
    SharedState,
    connect_lock,
    ensure_home,
    get_json,
    health,
    is_shared_sandbox,
    read_state,
    remove_state,
    running,
    sandbox_home,
    terminate,
)

log = logging.getLogger("alloy_nb.sandbox.shared")

START_TIMEOUT = 90.0
STOP_GRACE = 30.0  # the sandbox stops the API, then storage (weed may take 12 s)
_MAX_LOG_BYTES = 5 * 1024**2


@dataclass(frozen=True)
class Found:
    """The shared sandbox connect() uses, and how it came to be running."""

    state: SharedState
    how: Literal["started", "reused", "restarted", "adopted"]


def find_or_start(home: Path | None = None, *, timeout: float = START_TIMEOUT) -> Found:
    """The running shared sandbox of ``home`` if healthy; else a fresh one on the same data.

    A recorded sandbox whose storage failed (``/health`` is not ok) is stopped first, but
    only after checking that its pid still runs ``alloy_nb.sandbox serve`` on this home.
    """
    home = ensure_home(home or sandbox_home())
    # another kernel may hold the lock while it stops a broken sandbox and starts one
    with connect_lock(home, timeout=timeout + STOP_GRACE + 20):
        how: Literal["started", "restarted"] = "started"
        state = read_state(home)
        if state is not None:
            if health(state.url) == "ok":
                return Found(state, "reused")
            if running(state.pid) and is_shared_sandbox(state.pid, home):
                log.info("the shared sandbox pid %d is unhealthy; restarting it", state.pid)
                terminate(state.pid, grace=STOP_GRACE, wait_for=10)
                how = "restarted"
            remove_state(home, state.pid)
        if is_owned(home):
            return Found(_adopt(home), "adopted")
        proc, log_start = _launch(home)
        return Found(_wait_ready(home, proc, log_start, timeout), how)


def stop_shared_sandbox(home: Path | None = None, *, timeout: float = STOP_GRACE) -> bool:
    """Stop the shared sandbox of ``home`` (default: this user's) and wait until it is gone.

    Returns whether one was running. Tests call this at teardown on their temporary home.
    """
    home = Path(home) if home else sandbox_home()
    if not home.is_dir():
        return False
    with connect_lock(home, timeout=timeout + 10):
        pid = _shared_pid(home)
        if pid is None:
            return False
        terminate(pid, grace=timeout, wait_for=10)
        remove_state(home, pid)
        return True


def _shared_pid(home: Path) -> int | None:
    """The pid of the home's serve process: from the state file, else from the owner lock
    (a serve process that was stopped between taking the lock and writing its state)."""
    state = read_state(home)
    if state is not None:
        if is_shared_sandbox(state.pid, home):
            return state.pid
        remove_state(home, state.pid)
    owner = read_owner(home) or {}
    pid = owner.get("pid")
    if isinstance(pid, int) and is_owned(home) and is_shared_sandbox(pid, home):
        return pid
    return None


def _adopt(home: Path) -> SharedState:
    """Use a sandbox someone started by hand on this home, if it takes the home's demo key."""
    owner = read_owner(home) or {}
    pid, url = owner.get("pid"), owner.get("url")
    who = f"the sandbox pid {pid}" + (f" at {url}" if url else " (still starting)")
    key_file = home / DEMO_KEY_FILE
    if url and key_file.exists():
        key = key_file.read_text().strip()
        try:
            status, _ = get_json(url, STATUS_PATH, key)
        except OSError:
            status = 0
        if status == 200:
            return SharedState(
                pid=int(pid or 0),
                url=str(url),
                api_key=key,
                user_id="",
                data_dir=str(home),
                started=float(owner.get("started") or time.time()),
                idle_timeout=0.0,
                log="",
            )
    raise SharedSandboxError(
        f"the sandbox home {home} is in use by {who}, which does not take its demo key; "
        "stop it, or set ALLOY_NB_SANDBOX_HOME to another directory"
    )


def _launch(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m alloy_nb.sandbox serve`` in its own session, output to the log file."""
    log_path = home / LOG_FILE
    try:
        if log_path.stat().st_size > _MAX_LOG_BYTES:
            os.replace(log_path, log_path.with_name(LOG_FILE + ".1"))
    except FileNotFoundError:
        pass
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        start = os.fstat(fd).st_size
        proc = subprocess.Popen(
            [sys.executable, "-m", "alloy_nb.sandbox", "serve", f"--home={home}"],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            cwd=home,
            # its own session: it outlives the kernel, and a Ctrl-C or a kernel interrupt
            # sent to the notebook's process group does not reach it
            start_new_session=True,
        )
    finally:
        os.close(fd)
    return proc, start


def _wait_ready(
    home: Path, proc: subprocess.Popen[bytes], log_start: int, timeout: float
) -> SharedState:
    """Until the new process records itself (it does so once storage and API are up)."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(home)
        if state is not None and state.pid == proc.pid:
            # reap it when it exits, so a sandbox stopped while this kernel lives leaves
            # no zombie; once the kernel is gone, init adopts it
            threading.Thread(target=proc.wait, name="alloy-sandbox-reaper", daemon=True).start()
            return state
        try:
            code = proc.wait(0.05)
        except subprocess.TimeoutExpired:
            if time.monotonic() < deadline:
                continue
            terminate(proc.pid, grace=STOP_GRACE, wait_for=10)
            proc.wait()
            raise SharedSandboxError(
                f"the local sandbox did not start within {timeout:.0f} s; "
                f"see its log: {home / LOG_FILE}"
            ) from None
        reason = _last_line(home / LOG_FILE, log_start)
        raise SharedSandboxError(
            f"the local sandbox failed to start (exit code {code})"
            + (f": {reason}" if reason else "")
            + f"; see its log: {home / LOG_FILE}"
        )


def _last_line(path: Path, offset: int) -> str:
    """The last non-empty line this launch wrote to the log (its error, usually)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            lines = [ln.strip() for ln in f.read(64 * 1024).decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else ""
