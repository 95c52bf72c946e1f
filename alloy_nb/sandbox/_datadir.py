"""The data directory: created private, its databases opened, checked and repaired.

* A directory the sandbox creates is 0700 and the files it writes are 0600; a directory
  holding a registry from an earlier run is tightened to 0700.
* ``index.sqlite3`` is derived: a corrupt one is moved aside (logged with both paths) and
  rebuilt from storage.
* ``registry.sqlite3`` is not: a corrupt one stops the start, naming the file and the fix.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._drive import DriveStore
from alloy_nb.sandbox._index import FileIndex
from alloy_nb.sandbox._reservations import CLOCK_SKEW_SECONDS, Reservations
from alloy_nb.sandbox._sqlite import CorruptDatabase

log = logging.getLogger("alloy_nb.sandbox")

REGISTRY_FILE = "registry.sqlite3"
INDEX_FILE = "index.sqlite3"
DRIVE_DIR = "drive"


class DataDirError(RuntimeError):
    """The data directory cannot be used as it is; the message says why and what to do."""


def prepare_data_dir(root: Path) -> None:
    """Create ``root`` with mode 0700, or tighten a sandbox data directory left open."""
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700, exist_ok=True)
        os.chmod(root, 0o700)  # exact, whatever the umask
    elif (root / REGISTRY_FILE).exists() and stat.S_IMODE(root.stat().st_mode) & 0o077:
        os.chmod(root, 0o700)
        log.info("data directory %s was readable by others: now 0700", root)


@dataclass
class State:
    """The sandbox's databases, open."""

    registry: Registry
    index: FileIndex
    reservations: Reservations
    drive: DriveStore
    closers: list[Callable[[], None]] = field(default_factory=list)


def open_state(root: Path, *, clock_skew: float = CLOCK_SKEW_SECONDS) -> State:
    """Open (creating if needed) every database in the data directory ``root``.

    ``clock_skew``: how far storage's clock may lag this one (:mod:`._reservations`).
    """
    registry = open_registry(root / REGISTRY_FILE)
    closers: list[Callable[[], None]] = [registry.close]
    try:
        index = open_index(root / INDEX_FILE)
        closers.append(index.close)
        reservations = Reservations(registry, skew=clock_skew)
        reservations.adopt(index.take_legacy_promises())
        drive = DriveStore(root / DRIVE_DIR)
        closers.append(drive.close)
    except BaseException:
        for close in closers:
            close()
        raise
    return State(registry, index, reservations, drive, closers)


def open_registry(path: Path) -> Registry:
    try:
        return Registry(path)
    except CorruptDatabase as e:
        raise DataDirError(
            f"the sandbox registry {path} is unreadable ({e.reason}). It holds the API keys, "
            "users, credentials and issued upload URLs, and cannot be rebuilt from storage. "
            f"Restore it from a backup; or move it aside (mv '{path}' '{path}.bad') to start "
            "with a new registry: stored files stay in storage, but users and credentials "
            "must be created again and old users' files are no longer reachable."
        ) from None


def open_index(path: Path) -> FileIndex:
    """The dedup index; a corrupt one is moved aside and a fresh one (to rebuild) returned."""
    try:
        return FileIndex(path)
    except CorruptDatabase as e:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{path}{suffix}")
            if part.exists():
                part.rename(f"{aside}{suffix}")
        log.warning(
            "dedup index %s is corrupt (%s): moved it to %s; rebuilding it from storage",
            path,
            e.reason,
            aside,
        )
        return FileIndex(path)
