"""Google Drive, emulated offline per credential: its store and its action handlers.

Blobs live in ``drive/<credentialId>/<fileId>`` (written to a temporary name and renamed,
so a file is never half there); metadata in ``drive/drive.sqlite3``. Directories are 0700
and files 0600. A write that fails for lack of space raises :class:`DiskFull`.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alloy_nb.sandbox._errors import HTTPProblem
from alloy_nb.sandbox._files import FileService, NotFound
from alloy_nb.sandbox._names import filename_of
from alloy_nb.sandbox._sqlite import Database, DiskFull, is_disk_full, now_iso

DEFAULT_FIELDS = ("kind", "id", "name", "mimeType")
DRIVE_FIELDS = ("kind", "id", "name", "mimeType", "parents", "size", "md5Checksum", "createdTime")
UPLOAD_TYPES = ("media", "multipart", "resumable")


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


class DriveStore(Database):
    """Every credential's Drive files: metadata in SQLite, bytes in files beside it."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS files (
        credential_id TEXT NOT NULL,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        parents TEXT NOT NULL,
        size INTEGER NOT NULL,
        md5 TEXT NOT NULL,
        created TEXT NOT NULL
    );
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        super().__init__(root / "drive.sqlite3", self._SCHEMA, synchronous="FULL")

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
            new = DriveFile(file_id, name, mime_type, parents, size, md5.hexdigest(), now_iso())
            row = (credential_id, file_id, name, mime_type, json.dumps(parents), size)
            # Recorded first, then made visible: never a file without a row.
            self._query(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*row, new.md5, new.created)
            )
            try:
                os.replace(tmp, folder / file_id)
            except OSError:
                self._query("DELETE FROM files WHERE id = ?", (file_id,))
                raise
        except OSError as e:
            if is_disk_full(e) and not isinstance(e, DiskFull):
                raise DiskFull(self.root) from e
            raise
        finally:
            tmp.unlink(missing_ok=True)
        return new

    def list(self, credential_id: str) -> list[DriveFile]:
        rows = self._query(
            "SELECT id, name, mime_type, parents, size, md5, created FROM files "
            "WHERE credential_id = ? ORDER BY created, id",
            (credential_id,),
        )
        return [_drive_file(*map(str, r)) for r in rows]


def _drive_file(
    id: str, name: str, mime: str, parents: str, size: str, md5: str, created: str
) -> DriveFile:
    return DriveFile(id, name, mime, json.loads(parents), int(size), md5, created)


@dataclass(frozen=True)
class DriveCall:
    """One Drive action as the caller sent it, with the credential it runs under."""

    user_id: str
    credential_id: str
    request_body: dict[str, Any]
    query: dict[str, Any]


def _fields(call: DriveCall) -> list[str] | None:
    raw = call.query.get("fields")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise HTTPProblem(400, "queryParameters.fields must be a comma-separated string")
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in DRIVE_FIELDS and f != "*"]
    if unknown:
        known = ", ".join(DRIVE_FIELDS)
        raise HTTPProblem(
            400, f"queryParameters.fields: unknown field(s) {', '.join(unknown)}; known: {known}"
        )
    return list(DRIVE_FIELDS) if "*" in wanted else wanted


def _text(where: str, value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HTTPProblem(400, f"{where} must be a non-empty string")
    return value


def upload_file(call: DriveCall, files: FileService, drive: DriveStore) -> dict[str, Any]:
    """``googleDrive/uploadFile``: copy one of the caller's stored files into the Drive."""
    rb = call.request_body
    key_field = next((k for k in ("s3Key", "file", "media", "content") if k in rb), "s3Key")
    s3_key = _text(f"requestBody.{key_field}", rb.get(key_field), required=True)
    assert s3_key is not None
    metadata = rb.get("metadata")
    if metadata is None:  # lenient: metadata fields at the requestBody's top level
        metadata = {k: rb[k] for k in ("name", "mimeType", "parents") if k in rb}
    if not isinstance(metadata, dict):
        raise HTTPProblem(400, "requestBody.metadata must be an object {name, mimeType, parents}")
    name = _text("requestBody.metadata.name", metadata.get("name"), required=False)
    mime = _text("requestBody.metadata.mimeType", metadata.get("mimeType"), required=False)
    parents = metadata.get("parents", [])
    if not isinstance(parents, list) or not all(isinstance(p, str) and p for p in parents):
        raise HTTPProblem(400, "requestBody.metadata.parents must be a list of folder ids")
    upload_type = call.query.get("uploadType")
    if upload_type not in UPLOAD_TYPES:
        raise HTTPProblem(
            400, f"queryParameters.uploadType must be one of {', '.join(UPLOAD_TYPES)}"
        )
    fields = _fields(call)
    name = name or filename_of(s3_key)
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        body = files.open_file(call.user_id, s3_key)
    except NotFound:
        raise HTTPProblem(
            404, "File not found: the s3Key is not one of this user's files"
        ) from None
    try:
        drive_file = drive.add(
            call.credential_id, name, mime, parents, body.iter_chunks(1024 * 1024)
        )
    finally:
        body.close()
    return drive_file.as_json(fields)


def list_files(call: DriveCall, files: FileService, drive: DriveStore) -> dict[str, Any]:
    """``googleDrive/listFiles``: what this credential's Drive holds, with md5 and size."""
    fields = _fields(call) or list(DRIVE_FIELDS)
    held = drive.list(call.credential_id)
    return {"kind": "drive#fileList", "files": [f.as_json(fields) for f in held]}


DriveHandler = Callable[[DriveCall, FileService, DriveStore], dict[str, Any]]
HANDLERS: dict[str, DriveHandler] = {"uploadFile": upload_file, "listFiles": list_files}
STORAGE_BOUND = {"uploadFile"}  # these read stored files, so they run behind the storage gate
