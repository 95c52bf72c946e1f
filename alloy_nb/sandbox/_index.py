"""The file index (``index.sqlite3``): every object storage was seen to hold.

A row enters only once storage showed the object (a HEAD, a listing, or a rebuild from
storage), so a requested but never uploaded file is never in it. It is derived state: a
lost or corrupt file, storage that was emptied, or a reboot (storage may lose writes that
had not reached the disk) rebuild it from storage at the next start. What must not be
lost (which URLs may still write where) is kept in the registry (:mod:`._reservations`).
Written with ``synchronous=FULL``: a row must be on disk before the reservation that
covered it is forgotten (writes are rare: the learning of a fact, not every request).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from alloy_nb.sandbox._sqlite import Database, now_iso

_BUILT = "built-3"  # schema generation: an index built by an older sandbox is rebuilt
_BOOT = "boot"
_MARK = "storage-mark"


class Listed(NamedTuple):
    """One stored object as the index knows it (``modified`` already in listing form);
    a tuple, so a page of 100,000 rows costs little to build."""

    key: str
    md5_hex: str | None  # None when storage does not tell (a multipart ETag)
    size: int
    modified: str


def listing_time(when: datetime) -> str:
    """``2026-11-30T07:53:44.123Z`` (UTC, milliseconds), as Alloy lists ``lastModified``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def boot_id() -> str:
    """Identifies this boot of the machine (Linux); elsewhere an estimate of the boot time
    that may change after a sleep, which only costs one extra rebuild."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return f"~{round((time.time() - time.monotonic()) / 600)}"


class FileIndex(Database):
    """``user -> stored keys`` in key order and ``(user, md5) -> keys``, never a scan."""

    _SCHEMA = """
    DROP TABLE IF EXISTS keys;
    CREATE TABLE IF NOT EXISTS files (
        s3_key TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        md5_hex TEXT,
        size INTEGER NOT NULL,
        modified TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS files_by_md5 ON files (user_id, md5_hex);
    CREATE INDEX IF NOT EXISTS files_by_user ON files (user_id, s3_key);
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, self._SCHEMA, synchronous="FULL")
        rows = self._query("SELECT v FROM meta WHERE k = ?", (_MARK,))
        self._mark = str(rows[0][0]) if rows else None  # asked per call: kept in memory

    @property
    def built(self) -> bool:
        return bool(self._query("SELECT 1 FROM meta WHERE k = ?", (_BUILT,)))

    @property
    def boot(self) -> str | None:
        """The boot during which the index was last rebuilt."""
        rows = self._query("SELECT v FROM meta WHERE k = ?", (_BOOT,))
        return str(rows[0][0]) if rows else None

    @property
    def mark(self) -> str | None:
        """The mark put in storage when the index was last rebuilt from it."""
        return self._mark

    def rebuild(self, stored: Iterable[tuple[str, Listed]], *, mark: str | None = None) -> int:
        """Replace the index with ``(user_id, object)`` of every stored object."""
        n = 0
        with self._writing() as conn:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM files")
            for user_id, o in stored:
                conn.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                    (o.key, user_id, o.md5_hex, o.size, o.modified),
                )
                n += 1
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_BUILT, now_iso()))
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_BOOT, boot_id()))
            conn.execute("DELETE FROM meta WHERE k = ?", (_MARK,))
            if mark is not None:
                conn.execute("INSERT INTO meta VALUES (?, ?)", (_MARK, mark))
            conn.execute("COMMIT")
        self._mark = mark
        return n

    def take_legacy_promises(self) -> list[tuple[str, str, str, float]]:
        """``(s3_key, md5_hex, user_id, expires_at)`` of URLs an older sandbox recorded
        here (before reservations moved to the registry); the old table is dropped."""
        with self._writing() as conn:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'promises'"
            ).fetchone():
                return []
            rows = conn.execute(
                "SELECT s3_key, md5_hex, user_id, expires_at FROM promises WHERE expires_at > ?",
                (time.time() - 86400,),
            ).fetchall()
            conn.execute("DROP TABLE promises")
        return [(str(k), str(m), str(u), float(e)) for k, m, u, e in rows]

    def keys_for(self, user_id: str, md5_hex: str) -> list[str]:
        rows = self._query(
            "SELECT s3_key FROM files WHERE user_id = ? AND md5_hex = ? ORDER BY s3_key",
            (user_id, md5_hex),
        )
        return [str(k) for (k,) in rows]

    def md5_of(self, s3_key: str) -> str | None:
        """The stored MD5 under ``s3_key``: ``""`` if storage does not tell, None if no row."""
        rows = self._query("SELECT md5_hex FROM files WHERE s3_key = ?", (s3_key,))
        return None if not rows else str(rows[0][0] or "")

    def page(self, user_id: str, after: str, limit: int | None) -> list[Listed]:
        """The user's stored objects with keys after ``after``, in key order."""
        rows = self._query(
            "SELECT s3_key, md5_hex, size, modified FROM files WHERE user_id = ? AND s3_key > ? "
            "ORDER BY s3_key LIMIT ?",
            (user_id, after, -1 if limit is None else limit),
        )
        return list(map(Listed._make, rows))  # the columns are the fields, typed by schema

    def before(self, user_id: str, s3_key: str) -> str:
        """The user's greatest indexed key below ``s3_key`` (``""`` if none)."""
        rows = self._query(
            "SELECT max(s3_key) FROM files WHERE user_id = ? AND s3_key < ?", (user_id, s3_key)
        )
        return str(rows[0][0] or "")

    def learn(self, user_id: str, seen: Iterable[Listed], gone: Iterable[str] = ()) -> None:
        """Record what storage just showed: objects ``seen``, keys ``gone`` (absent).
        Only changes are written (a listing that finds nothing new costs no fsync)."""
        seen, gone = list(seen), list(gone)
        known = self._rows([*(o.key for o in seen), *gone])
        new = [o for o in seen if known.get(o.key) != o]
        drop = [k for k in gone if k in known]
        if not new and not drop:
            return
        with self._writing() as conn:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(o.key, user_id, o.md5_hex, o.size, o.modified) for o in new],
            )
            conn.executemany("DELETE FROM files WHERE s3_key = ?", [(k,) for k in drop])
            conn.execute("COMMIT")

    def _rows(self, keys: list[str]) -> dict[str, Listed]:
        out: dict[str, Listed] = {}
        for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT s3_key, md5_hex, size, modified FROM files WHERE s3_key IN ({marks})"  # noqa: S608 - placeholders only
            rows = self._query(sql, chunk)
            out.update((r.key, r) for r in map(Listed._make, rows))
        return out
