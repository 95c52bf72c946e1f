"""An emulated Google Drive per credential, persisted in the data directory.

Blobs live in ``drive/<credentialId>/<fileId>`` (written to a temporary name and renamed,
so a file is never half there); metadata in ``drive/drive.sqlite3``. Directories are 0700
and files 0600. A write that fails for lack of space raises :class:`DiskFull`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alloy_nb.sandbox._db import DiskFull, create_private, is_disk_full

DEFAULT_FIELDS = ("kind", "id", "name", "mimeType")


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    size: int
    md5: str
    created: str

    def as_json(self, fields: Iterable[str] | None = None) -> dict[str, Any]:
        full: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": self.parents or ["root"],
            "size": str(self.size),  # Drive sends int64 values as strings
            "md5Checksum": self.md5,
            "createdTime": self.created,
        }
        wanted = list(fields) if fields is not None else list(DEFAULT_FIELDS)
        return {k: full[k] for k in wanted if k in full}


class DriveStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        create_private(root / "drive.sqlite3")
        self._db = sqlite3.connect(root / "drive.sqlite3", check_same_thread=False,
                                   isolation_level=None)  # fmt: skip
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (credential_id TEXT NOT NULL, id TEXT PRIMARY KEY,"
            " name TEXT NOT NULL, mime_type TEXT NOT NULL, parents TEXT NOT NULL,"
            " size INTEGER NOT NULL, md5 TEXT NOT NULL, created TEXT NOT NULL)"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self,
        credential_id: str,
        name: str,
        mime_type: str,
        parents: list[str],
        chunks: Iterable[bytes],
    ) -> DriveFile:
        """Stream ``chunks`` into a new Drive file; nothing is recorded if streaming fails."""
        file_id = "1" + secrets.token_urlsafe(24)
        folder = self.root / credential_id
        folder.mkdir(mode=0o700, exist_ok=True)
        tmp = folder / f".{file_id}.partial"
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    md5.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
            created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            drive_file = DriveFile(file_id, name, mime_type, parents, size, md5.hexdigest(),
                                   created)  # fmt: skip
            with self._lock:  # recorded first, then made visible: never a file without a row
                self._db.execute(
                    "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (credential_id, file_id, name, mime_type, json.dumps(parents), size,
                     drive_file.md5, created),
                )  # fmt: skip
            try:
                os.replace(tmp, folder / file_id)
            except OSError:
                with self._lock:
                    self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
                raise
        except (OSError, sqlite3.OperationalError) as e:
            if is_disk_full(e):
                raise DiskFull(self.root) from e
            raise
        finally:
            tmp.unlink(missing_ok=True)
        return drive_file

    def list(self, credential_id: str) -> list[DriveFile]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, mime_type, parents, size, md5, created FROM files "
                "WHERE credential_id = ? ORDER BY created, id",
                (credential_id,),
            ).fetchall()
        return [DriveFile(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]
