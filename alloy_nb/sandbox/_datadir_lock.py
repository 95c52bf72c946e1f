"""One live sandbox per data directory: an OS file lock its owner holds for its lifetime.

The lock (``flock`` on ``owner.lock``) is released by the kernel when its holder exits, also
on SIGKILL, so a stale lock cannot exist. The holder writes its pid and URL into the file so
that a second sandbox on the same directory can refuse with a message naming it; it never
touches the first one's storage. The file itself is never deleted: removing a lock file
while another process waits on it would let two owners in.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_FILE = "owner.lock"


class DataDirInUse(RuntimeError):
    """Another live sandbox owns this data directory."""

    def __init__(self, data_dir: Path, info: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.pid: int | None = info.get("pid")
        self.url: str | None = info.get("url")
        who = f"pid {self.pid}" if self.pid else "another process"
        where = f" at {self.url}" if self.url else " (still starting)"
        super().__init__(
            f"the data directory {data_dir} is in use by the sandbox {who}{where}; "
            "use that one, or stop it first (python -m alloy_nb.sandbox stop "
            f"--data-dir {data_dir})"
        )


@dataclass
class Owner:
    """This process's claim on a data directory; :meth:`release` ends it (idempotent)."""

    data_dir: Path
    _fd: int | None
    started: float

    def publish(self, url: str, **extra: Any) -> None:
        """Record where this owner serves, for whoever is refused or asks for status."""
        self._write({"pid": os.getpid(), "url": url, "started": self.started, **extra})

    def _write(self, info: dict[str, Any]) -> None:
        if self._fd is None:
            return
        data = json.dumps(info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)  # the next reader sees no owner rather than a dead one
            os.close(fd)  # closing the only descriptor drops the lock


def _open(data_dir: Path) -> int:
    return os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def claim(data_dir: Path) -> Owner:
    """Become the owner of ``data_dir`` or raise :class:`DataDirInUse` at once."""
    fd = _open(data_dir)
    # is_owned() holds a shared lock for a few microseconds; a brief retry tells such a
    # probe from an owner, which holds the lock for its whole life.
    deadline = time.monotonic() + 1.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            os.close(fd)
            raise DataDirInUse(data_dir, read_owner(data_dir) or {}) from None
        except BaseException:
            os.close(fd)
            raise
    owner = Owner(data_dir, fd, time.time())
    owner._write({"pid": os.getpid(), "url": None, "started": owner.started})
    return owner


def read_owner(data_dir: Path) -> dict[str, Any] | None:
    """What the current owner wrote about itself, or None (no owner, or mid-write)."""
    try:
        info = json.loads((data_dir / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_owned(data_dir: Path) -> bool:
    """Whether a live process holds the data directory's owner lock."""
    if not (data_dir / LOCK_FILE).exists():
        return False
    fd = _open(data_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
