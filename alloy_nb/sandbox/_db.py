"""The sandbox's small persistent state, in SQLite files inside the data directory.

* :class:`Registry` (``registry.sqlite3``): workspaces (one per API key, stored as a
  SHA-256 hash, never in clear) and their users.
* :class:`FileIndex` (``index.sqlite3``): which key was promised to which MD5, and until
  when. It is derived state: deleting the file and restarting rebuilds it from storage.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


def new_object_id() -> str:
    """A random 24-hex id, shaped like the MongoDB ObjectIds Alloy uses."""
    return secrets.token_hex(12)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Database:
    def __init__(self, path: Path, schema: str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(schema)

    def _query(self, sql: str, args: Iterable[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass(frozen=True)
class User:
    user_id: str
    workspace_id: str
    username: str
    full_name: str | None
    created_at: str


@dataclass(frozen=True)
class Workspace:
    workspace_id: str
    default_user_id: str


class Registry(_Database):
    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS workspaces (
        workspace_id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        default_user_id TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS users (
        user_id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(workspace_id),
        username TEXT NOT NULL,
        full_name TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (workspace_id, username)
    );
    CREATE TABLE IF NOT EXISTS credentials (
        credential_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id),
        connector_id TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_id, connector_id);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, self._SCHEMA)

    def register_key(self, api_key: str) -> Workspace:
        """The workspace of ``api_key``, created (with a default user) on first sight."""
        key_hash = hash_api_key(api_key)
        with self._lock:
            row = self._conn.execute(
                "SELECT workspace_id, default_user_id FROM workspaces WHERE key_hash = ?",
                (key_hash,),
            ).fetchone()
            if row:
                return Workspace(row[0], row[1])
            ws, user = new_object_id(), new_object_id()
            now = _now_iso()
            self._conn.execute("BEGIN")
            self._conn.execute(
                "INSERT INTO workspaces VALUES (?, ?, ?, ?)", (ws, key_hash, user, now)
            )
            self._conn.execute(
                "INSERT INTO users VALUES (?, ?, 'default', NULL, ?)", (user, ws, now)
            )
            self._conn.execute("COMMIT")
            return Workspace(ws, user)

    def authenticate(self, api_key: str) -> Workspace | None:
        key_hash = hash_api_key(api_key)
        rows = self._query(
            "SELECT workspace_id, default_user_id, key_hash FROM workspaces WHERE key_hash = ?",
            (key_hash,),
        )
        for ws, user, stored in rows:
            if hmac.compare_digest(str(stored), key_hash):
                return Workspace(str(ws), str(user))
        return None

    def user_in_workspace(self, user_id: str, workspace_id: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM users WHERE user_id = ? AND workspace_id = ?",
                (user_id, workspace_id),
            )
        )

    def create_user(self, workspace_id: str, username: str, full_name: str | None) -> User | None:
        """The new user, or None when the username is taken in this workspace."""
        user = User(new_object_id(), workspace_id, username, full_name, _now_iso())
        try:
            self._query(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                (user.user_id, workspace_id, username, full_name, user.created_at),
            )
        except sqlite3.IntegrityError:
            return None
        return user

    def users(self, workspace_id: str) -> list[User]:
        rows = self._query(
            "SELECT user_id, workspace_id, username, full_name, created_at FROM users "
            "WHERE workspace_id = ? ORDER BY created_at, user_id",
            (workspace_id,),
        )
        return [User(*(None if v is None else str(v) for v in r)) for r in rows]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Credential:
    credential_id: str
    user_id: str
    connector_id: str
    name: str
    type: str
    created_at: str
    updated_at: str

    def as_json(self) -> dict[str, str]:
        return {
            "credentialId": self.credential_id,
            "name": self.name,
            "type": self.type,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


class Credentials:
    """Connector credentials, each owned by one user; kept in the registry database."""

    def __init__(self, registry: Registry) -> None:
        self._db = registry

    def create(self, user_id: str, connector_id: str, name: str, kind: str) -> Credential:
        now = _now_iso()
        cred = Credential(new_object_id(), user_id, connector_id, name, kind, now, now)
        self._db._query(
            "INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cred.credential_id, user_id, connector_id, name, kind, now, now),
        )
        return cred

    def of_user(self, user_id: str, connector_id: str) -> list[Credential]:
        rows = self._db._query(
            "SELECT * FROM credentials WHERE user_id = ? AND connector_id = ? "
            "ORDER BY created_at, credential_id",
            (user_id, connector_id),
        )
        return [Credential(*map(str, r)) for r in rows]

    def get(self, credential_id: str, user_id: str, connector_id: str) -> Credential | None:
        """The credential only if it is this user's and for this connector."""
        rows = self._db._query(
            "SELECT * FROM credentials WHERE credential_id = ? AND user_id = ? "
            "AND connector_id = ?",
            (credential_id, user_id, connector_id),
        )
        return Credential(*map(str, rows[0])) if rows else None


class FileIndex(_Database):
    """``(user, md5) -> keys`` and ``key -> promised md5s``, never a scan of a user's files."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS promises (
        s3_key TEXT NOT NULL,
        md5_hex TEXT NOT NULL,
        user_id TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (s3_key, md5_hex)
    );
    CREATE INDEX IF NOT EXISTS promises_by_md5 ON promises (user_id, md5_hex);
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, self._SCHEMA)

    @property
    def built(self) -> bool:
        return bool(self._query("SELECT 1 FROM meta WHERE k = 'built'"))

    def rebuild(self, stored: Iterable[tuple[str, str, str]]) -> int:
        """Record ``(user_id, s3_key, md5_hex)`` for every stored object; return the count."""
        n = 0
        with self._lock:
            self._conn.execute("BEGIN")
            for user_id, key, md5_hex in stored:
                self._conn.execute(
                    "INSERT OR IGNORE INTO promises VALUES (?, ?, ?, 0)", (key, md5_hex, user_id)
                )
                n += 1
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('built', ?)", (_now_iso(),))
            self._conn.execute("COMMIT")
        return n

    def keys_for(self, user_id: str, md5_hex: str) -> list[tuple[str, float]]:
        """``(s3_key, expires_at)`` of every key promised to (or holding) these bytes."""
        rows = self._query(
            "SELECT s3_key, expires_at FROM promises WHERE user_id = ? AND md5_hex = ? "
            "ORDER BY s3_key",
            (user_id, md5_hex),
        )
        return [(str(k), float(e)) for k, e in rows]  # type: ignore[arg-type]

    def promised_elsewhere(self, s3_key: str, md5_hex: str) -> bool:
        """True while an unexpired URL for ``s3_key`` may still write other bytes."""
        return bool(
            self._query(
                "SELECT 1 FROM promises WHERE s3_key = ? AND md5_hex != ? AND expires_at > ?",
                (s3_key, md5_hex, time.time()),
            )
        )

    def promise(self, user_id: str, s3_key: str, md5_hex: str, expires_at: float) -> None:
        self._query(
            "INSERT INTO promises VALUES (?, ?, ?, ?) ON CONFLICT (s3_key, md5_hex) "
            "DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
            (s3_key, md5_hex, user_id, expires_at),
        )

    def forget_expired(self, s3_key: str, md5_hex: str | None = None) -> None:
        """Drop promises for ``s3_key`` whose URLs can no longer write."""
        sql = "DELETE FROM promises WHERE s3_key = ? AND expires_at <= ?"
        args: list[object] = [s3_key, time.time()]
        if md5_hex is not None:
            sql += " AND md5_hex = ?"
            args.append(md5_hex)
        self._query(sql, args)
