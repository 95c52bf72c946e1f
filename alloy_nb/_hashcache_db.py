"""The MD5 cache's SQLite file: short transactions, and never an error for the caller.

One connection per store, behind a lock, shared by threads; other processes are kept apart by
SQLite's own locks (WAL mode: readers never wait, writers wait up to ``BUSY_TIMEOUT_S``). A
locked, unwritable or foreign-owned database makes a call answer "nothing" (so the file is
hashed) and the store rests for ``RETRY_AFTER_S``; a corrupt file is deleted and made again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alloy_nb._constants import HASH_CACHE_MAX_ENTRIES

BUSY_TIMEOUT_S = 1.0  # writers hold the lock for microseconds; a longer wait means one is stuck
RETRY_AFTER_S = 30.0  # after a failure, hash without the cache for a while, not wait on each file
TOUCH_AFTER_NS = 3600 * 10**9  # hits refresh 'used' at most hourly, so reads stay reads

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS md5 (dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
    " digest BLOB NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (dev, ino))",
    "CREATE INDEX IF NOT EXISTS md5_by_use ON md5 (used)",
)
_READ = (
    "SELECT digest, used FROM md5"
    " WHERE dev = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?"
)
_TOUCH = "UPDATE md5 SET used = ? WHERE dev = ? AND ino = ?"
_WRITE = "INSERT OR REPLACE INTO md5 VALUES (?, ?, ?, ?, ?, ?, ?)"
_PRUNE = "DELETE FROM md5 WHERE rowid IN (SELECT rowid FROM md5 ORDER BY used, rowid LIMIT ?)"
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB

Key = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns
T = TypeVar("T")


@dataclass
class Stats:
    """What a cache did (counts, not timings), for tests and benchmarks."""

    hits: int = 0  # answered from the cache; the file was not read
    hashed: int = 0  # read and hashed
    stored: int = 0
    racy: int = 0  # not stored: timestamps too recent, or the file changed while it was read
    errors: int = 0  # the database could not be used for a call; the file was hashed instead
    replaced: int = 0  # corrupt database files replaced by an empty one


class Store:
    """Digests by file identity in one SQLite file, least recently used pruned first."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_entries: int = HASH_CACHE_MAX_ENTRIES,
        touch_after_ns: int = TOUCH_AFTER_NS,
    ) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self.touch_after_ns = touch_after_ns
        self.stats = Stats()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._skip_until = 0.0
        self._added = 0  # rows stored since the last size check
        self._checked = False
        _stores.add(self)

    def get(self, key: Key) -> bytes | None:
        """The digest stored for exactly this key, or None (also when the database fails)."""

        def read(db: sqlite3.Connection) -> tuple[object, int] | None:
            row = db.execute(_READ, _sql(key)).fetchone()
            return None if row is None else (row[0], row[1])

        def touch(db: sqlite3.Connection) -> None:
            db.execute(_TOUCH, (now, *_sql(key)[:2]))

        row = self._run(read, None)
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != 16:
            return None
        now = time.time_ns()
        if row[1] < now - self.touch_after_ns:
            self._run(touch, None)
        return row[0]

    def put(self, key: Key, digest: bytes) -> bool:
        """Store ``digest`` for ``key`` (replacing the inode's old entry); False if it failed."""

        def write(db: sqlite3.Connection) -> bool:
            db.execute(_WRITE, (*_sql(key), digest, time.time_ns()))
            self._added += 1
            # COUNT(*) walks the table, so the size is checked on the first write and then once
            # per max/16 writes: the file stays within about max_entries * 17/16 rows.
            if not self._checked or self._added >= max(1, self.max_entries // 16):
                (rows,) = db.execute("SELECT count(*) FROM md5").fetchone()
                if rows > self.max_entries:
                    db.execute(_PRUNE, (rows - self.max_entries,))
                self._added, self._checked = 0, True
            return True

        return self._run(write, False)

    def count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _run(self, fn: Callable[[sqlite3.Connection], T], default: T) -> T:
        """``fn(connection)``, or ``default`` when the database can't be used right now."""
        with self._lock:
            if time.monotonic() < self._skip_until:
                self.stats.errors += 1
                return default
            try:
                return fn(self._connect())
            except sqlite3.DatabaseError as e:
                self.stats.errors += 1
                if _corrupt(e):
                    self._replace()
                else:
                    self._back_off()
            except (sqlite3.Error, OSError, OverflowError):
                self.stats.errors += 1
                self._back_off()
            return default

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(self.path.parent)
            db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")  # a lost last entry only costs a hash
                for sql in _SCHEMA:
                    db.execute(sql)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _back_off(self) -> None:
        self._drop()
        self._skip_until = time.monotonic() + RETRY_AFTER_S

    def _replace(self) -> None:
        """Delete a corrupt database; the next call creates an empty one."""
        self._drop()
        try:
            # The WAL first: a stale one must never be replayed into the new file.
            for suffix in ("-wal", "-shm", "-journal", ""):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}{suffix}")
        except OSError:
            self._back_off()
        else:
            self.stats.replaced += 1

    def _drop(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def _after_fork(self) -> None:
        # A forked child must not close its parent's connection: closing checkpoints and can
        # delete the WAL the parent is using. Keep the object alive and start afresh.
        self._lock = threading.Lock()
        if self._db is not None:
            _abandoned.append(self._db)
            self._db = None


def _sql(key: Key) -> Key:
    """SQLite integers are signed 64-bit; device and inode numbers may use all 64 bits."""
    dev, ino, size, mtime_ns, ctime_ns = key
    return (_signed(dev), _signed(ino), size, mtime_ns, ctime_ns)


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def _corrupt(e: sqlite3.DatabaseError) -> bool:
    code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF in _CORRUPT_CODES
    text = str(e)
    return "malformed" in text or "not a database" in text


def _check_private(directory: Path) -> None:
    # Whoever can write here can plant a wrong digest, and a wrong digest makes an upload
    # answer "existing" for bytes that were never sent.
    st = os.stat(directory)
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise PermissionError(f"{directory} is writable by others; the MD5 cache is not used")


_stores: weakref.WeakSet[Store] = weakref.WeakSet()
_abandoned: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
