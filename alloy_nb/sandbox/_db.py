"""The sandbox's small persistent state, in SQLite files inside the data directory.

:class:`Registry` (``registry.sqlite3``) holds workspaces (one per API key, stored as a
SHA-256 hash, never in clear), their users, connector credentials and the upload URLs
issued (:mod:`._reservations`). None of it can be derived from storage, so it is written
with ``synchronous=FULL``. The dedup index (:mod:`._index`) is derived and lives apart;
all share the base in :mod:`._sqlite`.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alloy_nb.sandbox._sqlite import Database, new_object_id, now_iso


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


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


class Registry(Database):
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
        # Hashes of the keys this sandbox was started with. Workspaces outlive their keys'
        # place in the configuration (their files stay), but a key left out at a restart
        # (rotated, revoked) no longer opens its workspace.
        self._active: set[str] = set()

    def register_key(self, api_key: str) -> Workspace:
        """The workspace of ``api_key``, created (with a default user) on first sight; the
        key authenticates from now on, in this process."""
        key_hash = hash_api_key(api_key)
        self._active.add(key_hash)
        with self._writing() as conn:
            row = conn.execute(
                "SELECT workspace_id, default_user_id FROM workspaces WHERE key_hash = ?",
                (key_hash,),
            ).fetchone()
            if row:
                return Workspace(row[0], row[1])
            ws, user = new_object_id(), new_object_id()
            now = now_iso()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO workspaces VALUES (?, ?, ?, ?)", (ws, key_hash, user, now))
            conn.execute("INSERT INTO users VALUES (?, ?, 'default', NULL, ?)", (user, ws, now))
            conn.execute("COMMIT")
            return Workspace(ws, user)

    def authenticate(self, api_key: str) -> Workspace | None:
        """The workspace of a key registered by this process (:meth:`register_key`)."""
        key_hash = hash_api_key(api_key)
        if key_hash not in self._active:
            return None
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
        user = User(new_object_id(), workspace_id, username, full_name, now_iso())
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
        now = now_iso()
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
