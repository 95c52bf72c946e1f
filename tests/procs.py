"""Processes the browser harness starts (JupyterLab, Chromium): tied to this process, and
stopped together with everything they started.

Each program is exec'd from a tiny launcher that first asks the kernel for a signal when this
process dies (``PR_SET_PDEATHSIG``), so a pytest run that is SIGKILLed or OOM-killed leaves no
JupyterLab or Chromium behind. The signal is tied to the thread that starts the program:
start them from the main thread (fixtures and scripts do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import IO

import psutil

_TIED = """
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(1, int(sys.argv[2]))  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):  # the owner died before prctl took effect
    sys.exit(70)
os.execvp(sys.argv[3], sys.argv[3:])
"""


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stderr: IO[bytes] | None = None,
    on_owner_death: signal.Signals = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, sent ``on_owner_death`` if this process dies."""
    command = list(argv)
    if sys.platform.startswith("linux"):
        command = [
            sys.executable,
            "-I",
            "-c",
            _TIED,
            str(os.getpid()),
            str(int(on_owner_death)),
            *command,
        ]
    return subprocess.Popen(
        command,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM (JupyterLab shuts its kernels down, Chromium its helpers), SIGKILL after
    ``grace`` seconds; then whatever it started that is still alive, in or out of its
    process group (kernels run in sessions of their own)."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(family, timeout=5)
    for straggler in alive:
        with suppress(psutil.Error):
            straggler.kill()
    psutil.wait_procs(alive, timeout=10)
