"""The sandbox's small persistent state, in SQLite files inside the data directory.

:class:`Registry` (``registry.sqlite3``) holds workspaces (one per API key, stored as a
SHA-256 hash, never in clear), their users, connector credentials and the upload URLs
issued (:mod:`._reservations`). None of it can be derived from storage, so it is written
with ``synchronous=FULL``. The dedup index (:mod:`._index`) is derived and lives apart.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
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


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite gives its -wal and
    -shm files the database file's mode)."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class _Database:
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
            for reader in [*self._readers, self._conn]:
                reader.close()

    def _reader(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            reader.execute("PRAGMA query_only = 1")
            with self._lock:
                self._readers.append(reader)
            return reader


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
        super().__init__(path, self._SCHEMA, synchronous="FULL")

    def register_key(self, api_key: str) -> Workspace:
        """The workspace of ``api_key``, created (with a default user) on first sight."""
        key_hash = hash_api_key(api_key)
        with self._writing() as conn:
            row = conn.execute(
                "SELECT workspace_id, default_user_id FROM workspaces WHERE key_hash = ?",
                (key_hash,),
            ).fetchone()
            if row:
                return Workspace(row[0], row[1])
            ws, user = new_object_id(), new_object_id()
            now = _now_iso()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO workspaces VALUES (?, ?, ?, ?)", (ws, key_hash, user, now))
            conn.execute("INSERT INTO users VALUES (?, ?, 'default', NULL, ?)", (user, ws, now))
            conn.execute("COMMIT")
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
