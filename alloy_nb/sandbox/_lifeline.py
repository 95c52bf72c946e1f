"""Storage dies with its owner: ``weed mini`` runs under a small launcher tied to the owner.

The owner (the process that called ``sandbox.start()``) keeps the write end of a pipe; the
launcher, this file run as a script, holds the read end and is weed's parent. The kernel
closes the write end however the owner ends (``stop()``, SIGTERM without atexit, SIGKILL,
the OOM killer), and the launcher then reads EOF: it stops weed (SIGTERM, a grace period,
SIGKILL), removes weed's sockets and, for a temporary sandbox, the directory. If the
launcher itself is killed, weed gets SIGKILL from the kernel (``PR_SET_PDEATHSIG``, set by
the launcher, which has a single thread, so the signal is tied to the right thread).

Run by path with ``python -I`` and the standard library only, so it starts fast and small;
its instructions (weed's command line, environment, ports) arrive on stdin as JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# What the owner may write down the pipe. EOF with neither before it means the owner died.
_STOP = b"S"  # a deliberate stop: stop weed gracefully, keep the directory
_KILL = b"K"  # SIGKILL weed at once (fault tests), keep the directory
_SOCKET_KINDS = ("master", "volume", "filer", "s3", "admin")
_GRPC_OFFSET = 10000  # as _ports.GRPC_OFFSET (this script imports no alloy_nb)
_open_write_ends: set[int] = set()


def remove_sockets(ports: list[int]) -> None:
    """weed's gRPC unix sockets for these ports (weed puts them in /tmp whatever TMPDIR
    says, and leaves them behind when killed)."""
    dirs = {Path(tempfile.gettempdir()), Path("/tmp")}  # noqa: S108
    for port in ports:
        for kind in _SOCKET_KINDS:
            for d in dirs:
                for p in (port, port + _GRPC_OFFSET):
                    (d / f"seaweedfs-{kind}-grpc-{p}.sock").unlink(missing_ok=True)


# ------------------------------------------------------------------------------- owner side


def _close_in_forked_child() -> None:
    # A child forked without exec (multiprocessing) must not keep storage alive.
    for fd in list(_open_write_ends):
        with contextlib.suppress(OSError):
            os.close(fd)
    _open_write_ends.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_forked_child)


class LaunchError(RuntimeError):
    """The launcher could not start weed."""


@dataclass
class Lifeline:
    """The owner's handle: the launcher process, weed's pid, and the pipe's write end."""

    proc: subprocess.Popen[bytes]
    weed_pid: int
    _fd: int | None

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float) -> None:
        """Ask the launcher to stop weed gracefully and wait for it."""
        self._send(_STOP)
        self._close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # weed follows through PR_SET_PDEATHSIG
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL weed at once, then wait for the launcher to clean up and exit."""
        self._send(_KILL)
        self.stop(timeout=15)

    def _send(self, command: bytes) -> None:
        if self._fd is not None and self.running():
            with contextlib.suppress(OSError):  # the launcher is gone already
                os.write(self._fd, command)

    def _close(self) -> None:
        if self._fd is not None:
            _open_write_ends.discard(self._fd)
            os.close(self._fd)
            self._fd = None


def launch(spec: dict[str, object], timeout: float = 30.0) -> Lifeline:
    """Start weed under a launcher; ``spec`` as read by :func:`main`."""
    read_end, write_end = os.pipe()  # both non-inheritable (PEP 446)
    _open_write_ends.add(write_end)
    try:
        script = str(Path(__file__).resolve())
        proc = subprocess.Popen(
            [sys.executable, "-I", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(read_end,),
            start_new_session=True,  # a Ctrl-C in a notebook must not kill storage mid-write
        )
        assert proc.stdin is not None
        with proc.stdin:  # not on the command line, where every user's ps shows it
            proc.stdin.write(json.dumps(spec | {"fd": read_end}).encode())
    except BaseException:
        _open_write_ends.discard(write_end)
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    assert proc.stdout is not None
    line = b""
    if select.select([proc.stdout], [], [], timeout)[0]:
        line = proc.stdout.readline()
    proc.stdout.close()
    if not line.strip().isdigit():
        lifeline = Lifeline(proc, 0, write_end)
        lifeline.stop(timeout=15)
        raise LaunchError(line.decode(errors="replace").strip() or "the storage launcher failed")
    return Lifeline(proc, int(line), write_end)


# ---------------------------------------------------------------------------- launcher side


class _Stop(Exception):
    pass


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop


def _die_with_parent(parent: int) -> None:
    """In weed, before exec: SIGKILL when the launcher dies; files private to the user."""
    os.umask(0o077)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the launcher died before prctl took effect
        os._exit(1)


def _wait_for_owner(fd: int, weed: subprocess.Popen[bytes]) -> bytes | None:
    """Block until the owner's pipe says something (EOF is b"") or weed exits (None)."""
    try:
        pidfd: int | None = os.pidfd_open(weed.pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while weed.poll() is None:
            watched = [fd] if pidfd is None else [fd, pidfd]
            ready = select.select(watched, [], [], 0.5 if pidfd is None else None)[0]
            if fd in ready:
                data = os.read(fd, 64)
                if not data or _KILL in data or _STOP in data:
                    return data
        return None
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _stop(weed: subprocess.Popen[bytes], grace: float) -> None:
    if weed.poll() is None:
        weed.send_signal(signal.SIGTERM)
        try:
            weed.wait(grace)
        except subprocess.TimeoutExpired:
            weed.kill()
    weed.wait()


def main() -> int:
    spec = json.loads(sys.stdin.buffer.read())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    parent = os.getpid()
    try:
        weed = subprocess.Popen(
            spec["cmd"],
            cwd=spec["cwd"],
            env=spec["env"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: _die_with_parent(parent),  # safe: this process has one thread
        )
    except OSError as e:
        print(f"could not start {spec['cmd'][0]}: {e}", flush=True)
        return 127
    print(weed.pid, flush=True)
    said: bytes | None = None
    try:
        said = _wait_for_owner(spec["fd"], weed)
    except _Stop:  # SIGTERM to the launcher: stop weed, keep the directory
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if said and _KILL in said:
            weed.kill()
        _stop(weed, spec["grace"])
        remove_sockets(spec["ports"])
        if said == b"" and spec.get("remove"):  # the owner died: nobody else will
            shutil.rmtree(spec["remove"], ignore_errors=True)
    return weed.returncode


if __name__ == "__main__":
    sys.exit(main())
