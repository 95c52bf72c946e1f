"""The dedup index (``index.sqlite3``): which keys hold, or were issued for, which bytes.

Every row is a hint, confirmed with storage (HEAD, ETag) before it is used, so the index
is derived state: a lost or corrupt file is rebuilt from storage at the next start. What
must not be lost (which URLs may still write where) is kept in the registry instead
(:mod:`._reservations`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from alloy_nb.sandbox._db import _Database, _now_iso

_BUILT = "built-2"  # schema generation: an index built by an older sandbox is rebuilt


class FileIndex(_Database):
    """``(user, md5) -> keys``, never a scan of a user's files."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS keys (
        s3_key TEXT NOT NULL,
        md5_hex TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (s3_key, md5_hex)
    );
    CREATE INDEX IF NOT EXISTS keys_by_md5 ON keys (user_id, md5_hex);
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, self._SCHEMA)

    @property
    def built(self) -> bool:
        return bool(self._query("SELECT 1 FROM meta WHERE k = ?", (_BUILT,)))

    def rebuild(self, stored: Iterable[tuple[str, str, str]]) -> int:
        """Replace the index with ``(user_id, s3_key, md5_hex)`` of every stored object."""
        n = 0
        with self._writing() as conn:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM keys")
            for user_id, key, md5_hex in stored:
                conn.execute("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", (key, md5_hex, user_id))
                n += 1
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_BUILT, _now_iso()))
            conn.execute("COMMIT")
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
            "SELECT s3_key FROM keys WHERE user_id = ? AND md5_hex = ? ORDER BY s3_key",
            (user_id, md5_hex),
        )
        return [str(k) for (k,) in rows]

    def add(self, user_id: str, s3_key: str, md5_hex: str) -> None:
        self._query("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", (s3_key, md5_hex, user_id))

    def forget(self, s3_key: str, md5_hex: str | None = None) -> None:
        if md5_hex is None:
            self._query("DELETE FROM keys WHERE s3_key = ?", (s3_key,))
        else:
            self._query("DELETE FROM keys WHERE s3_key = ? AND md5_hex = ?", (s3_key, md5_hex))
