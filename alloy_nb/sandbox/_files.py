"""The File Management logic: upload requests with dedup, listings, deletes.

Invariants (see DESIGN.md):

* ``existing`` is answered only when the caller's stored bytes with that MD5 are
  confirmed in storage (HEAD, ETag), never from the index alone.
* A key is handed out for an MD5 only if storage holds no other bytes under it and no
  unexpired URL for it signs another MD5. Since every URL signs ``Content-MD5``, two
  different files under one name can never overwrite each other.
* Listings come from storage, so a requested but never uploaded file is never listed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from alloy_nb._md5 import MD5
from alloy_nb.sandbox._db import FileIndex
from alloy_nb.sandbox._names import candidate_keys, filename_of, is_user_id, user_prefix
from alloy_nb.sandbox._storage import Storage, StoredObject

log = logging.getLogger("alloy_nb.sandbox.files")

MAX_PAGE = 1000


class NotFound(LookupError):
    """The key is not one of the caller's stored files."""


class BadCursor(ValueError):
    """The listing cursor was not issued for this caller."""


@dataclass(frozen=True)
class Ticket:
    presigned_url: str
    md5_base64: str
    s3_key: str
    type: Literal["new", "existing"]


@dataclass(frozen=True)
class FilePage:
    files: list[StoredObject]
    next_cursor: str | None


class FileService:
    def __init__(self, storage: Storage, index: FileIndex, *, url_ttl: int) -> None:
        self.storage = storage
        self.index = index
        self.url_ttl = url_ttl
        # Striped per-user locks: key choice and promise must be atomic per user.
        self._locks = [threading.Lock() for _ in range(64)]

    def _lock(self, user_id: str) -> threading.Lock:
        return self._locks[zlib.crc32(user_id.encode()) % len(self._locks)]

    def rebuild_index(self) -> int:
        """Record every stored single-PUT object's MD5 (from its ETag) in the index."""

        def rows() -> list[tuple[str, str, str]]:
            out = []
            for obj in self.storage.iter_all():
                user_id = obj.key.split("_", 1)[0]
                if obj.md5_hex and is_user_id(user_id) and "_" in obj.key:
                    out.append((user_id, obj.key, obj.md5_hex))
            return out

        n = self.index.rebuild(rows())
        log.info("dedup index rebuilt from storage: %d objects", n)
        return n

    def request_upload(self, user_id: str, filename: str, mime_type: str, md5: MD5) -> Ticket:
        with self._lock(user_id):
            pending = None
            for key, expires_at in self.index.keys_for(user_id, md5.hex):
                stored = self._stored_md5(key)
                if stored == md5.hex:
                    return self._ticket(key, mime_type, md5, "existing")
                if stored is None and expires_at > time.time():
                    pending = pending or key  # a live URL will put these same bytes there
                else:
                    self.index.forget_expired(key, md5.hex)
            if pending is not None:  # same bytes in flight: share the key, never a twin
                self.index.promise(user_id, pending, md5.hex, time.time() + self.url_ttl)
                return self._ticket(pending, mime_type, md5, "new")
            for key in candidate_keys(user_id, filename, md5.hex):
                if self.index.promised_elsewhere(key, md5.hex):
                    continue
                stored = self._stored_md5(key)
                if stored == md5.hex:  # stored but unknown to the index (e.g. index lost)
                    self.index.promise(user_id, key, md5.hex, 0)
                    return self._ticket(key, mime_type, md5, "existing")
                if stored is None:
                    break
            self.index.promise(user_id, key, md5.hex, time.time() + self.url_ttl)
            return self._ticket(key, mime_type, md5, "new")

    def _stored_md5(self, key: str) -> str | None:
        """The MD5 of the bytes stored under ``key``, ``""`` if unknown, None if absent."""
        obj = self.storage.head(key)
        if obj is None:
            return None
        return obj.md5_hex or ""

    def _ticket(
        self, key: str, mime_type: str, md5: MD5, kind: Literal["new", "existing"]
    ) -> Ticket:
        # For "existing" the URL is still given: it can only ever write these same bytes.
        url = self.storage.presign_put(key, mime_type, md5.base64, self.url_ttl)
        return Ticket(url, md5.base64, key, kind)

    def list_files(self, user_id: str, *, limit: int | None, cursor: str | None) -> FilePage:
        prefix = user_prefix(user_id)
        after = _decode_cursor(cursor, prefix) if cursor else ""
        if limit is None:
            return FilePage(list(self.storage.iter_all(prefix, start_after=after)), None)
        items, more = self.storage.list(prefix, start_after=after, max_keys=limit)
        next_cursor = _encode_cursor(items[-1].key) if more and items else None
        return FilePage(items, next_cursor)

    def open_file(self, user_id: str, s3_key: str) -> Any:
        """A streaming body of one of the caller's files; NotFound for anyone else's."""
        _check_key(user_id, s3_key)
        body = self.storage.open(s3_key)
        if body is None:
            raise NotFound(s3_key)
        return body

    def delete_file(self, user_id: str, s3_key: str) -> None:
        _check_key(user_id, s3_key)
        with self._lock(user_id):
            if self.storage.head(s3_key) is None:
                raise NotFound(s3_key)
            self.storage.delete(s3_key)
            self.index.forget_expired(s3_key)


def _check_key(user_id: str, s3_key: str) -> None:
    """Only keys this service could have issued to this user reach storage; anything else
    (another user's prefix, path separators, control characters, over-long) is not found."""
    if (
        not s3_key.startswith(user_prefix(user_id))
        or "/" in s3_key
        or "\\" in s3_key
        or len(s3_key.encode("utf-8", errors="replace")) > 1024
        or any(unicodedata.category(ch) in ("Cc", "Cs") for ch in s3_key)
    ):
        raise NotFound(s3_key)


def listing_entry(obj: StoredObject) -> dict[str, object]:
    """One file as the documented listing shape."""
    ts = obj.last_modified.astimezone().utctimetuple()
    millis = obj.last_modified.microsecond // 1000
    return {
        "s3Key": obj.key,
        "filename": filename_of(obj.key),
        "size": obj.size,
        "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S", ts) + f".{millis:03d}Z",
    }


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, prefix: str) -> str:
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(cursor) from None
    if not key.startswith(prefix):
        raise BadCursor(cursor)
    return key
