"""The sandbox's SQLite base: one connection per file, WAL, a write lock, and errors that
name the file (:class:`DiskFull`, :class:`CorruptDatabase`). Every database (the registry,
the dedup index, the emulated Drive) builds on :class:`Database`.
"""

from __future__ import annotations

import errno
import os
import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26


class DiskFull(OSError):
    """A write failed because the data directory's disk (or quota) is full."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no space left for {path}")
        self.path = path


class CorruptDatabase(Exception):
    """A database file is not a readable SQLite database."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is corrupt ({reason})")
        self.path = path
        self.reason = reason


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is a write refused for lack of space (disk or quota)."""
    if isinstance(error, sqlite3.OperationalError):
        return getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def new_object_id() -> str:
    """A random 24-hex id, shaped like the MongoDB ObjectIds Alloy uses."""
    return secrets.token_hex(12)


def now_iso() -> str:
    """Now, as the millisecond UTC timestamps Alloy sends."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite gives its -wal and
    -shm files the database file's mode)."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Database:
    """One SQLite file, opened (created 0600 if new), checked and given its schema."""

    def __init__(self, path: Path, schema: str, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        #: True after a write failed for lack of space, until a write succeeds again.
        self.full = False
        self._lock = threading.Lock()
        create_private(path)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            check = str(self._conn.execute("PRAGMA quick_check").fetchone()[0])
            if check != "ok":
                raise CorruptDatabase(path, check)
            self._conn.executescript(schema)
        except sqlite3.DatabaseError as e:
            self._conn.close()
            if getattr(e, "sqlite_errorcode", None) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                raise CorruptDatabase(path, str(e)) from None
            raise
        except BaseException:
            self._conn.close()
            raise
        # Reads use pooled connections of their own: in WAL mode no commit (fsync) blocks them.
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._readers: list[sqlite3.Connection] = []

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, for statements that may write: a failed
        transaction is rolled back, and lack of space becomes :class:`DiskFull`."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as e:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if is_disk_full(e):
                    self.full = True
                    raise DiskFull(self.path) from e
                raise
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self.full = False

    def _query(self, sql: str, args: Iterable[object] = ()) -> list[tuple[object, ...]]:
        if sql.lstrip()[:6].upper() == "SELECT":
            reader = self._reader()
            try:
                return reader.execute(sql, tuple(args)).fetchall()
            finally:
                self._idle.put(reader)
        with self._writing() as conn:
            return conn.execute(sql, tuple(args)).fetchall()

    def close(self) -> None:
        with self._lock:
            for conn in [*self._readers, self._conn]:
                conn.close()

    def _reader(self) -> sqlite3.Connection:
        """An idle read-only connection, or a new one (threads come and go; all are closed
        by :meth:`close`)."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            reader.execute("PRAGMA query_only = 1")
            with self._lock:
                self._readers.append(reader)
            return reader
