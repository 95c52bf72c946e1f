"""The File Management logic: upload requests with dedup, listings, deletes.

Invariants (see DESIGN.md):

* ``existing`` is answered only when the caller's stored bytes with that MD5 are
  confirmed in storage (HEAD, ETag), never from the index alone.
* A key is handed out for an MD5 only if storage holds no other bytes under it and no
  URL issued for it that may still be valid signs another MD5 (:mod:`._reservations`,
  kept across restarts and index rebuilds). Every URL handed out, ``existing`` ones
  included, is reserved first. Since every URL signs ``Content-MD5``, two different
  files under one name never overwrite each other, not even through a replayed URL.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from alloy_nb._md5 import MD5
from alloy_nb.sandbox._index import FileIndex
from alloy_nb.sandbox._names import candidate_keys, filename_of, is_user_id, user_prefix
from alloy_nb.sandbox._reservations import Reservations
from alloy_nb.sandbox._storage import Storage, StorageBusy, StoredObject

log = logging.getLogger("alloy_nb.sandbox.files")

MAX_PAGE = 1000
#: How long a call waits for an earlier one of the same user (which may be stuck on a
#: slow storage) before it gives up with 503.
USER_LOCK_WAIT_SECONDS = 3.0


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
    def __init__(
        self, storage: Storage, index: FileIndex, reservations: Reservations, *, url_ttl: int
    ) -> None:
        self.storage = storage
        self.index = index
        self.reservations = reservations
        self.url_ttl = url_ttl
        # Striped per-user locks: choosing a key and reserving it must be atomic per user.
        self._locks = [threading.Lock() for _ in range(64)]

    @contextmanager
    def _locked(self, user_id: str) -> Iterator[None]:
        lock = self._locks[zlib.crc32(user_id.encode()) % len(self._locks)]
        if not lock.acquire(timeout=USER_LOCK_WAIT_SECONDS):
            raise StorageBusy("storage is slow: an earlier call for this user still waits on it")
        try:
            yield
        finally:
            lock.release()

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
        with self._locked(user_id):
            live = self.reservations.pending(user_id, md5.hex)
            pending = None
            for key in dict.fromkeys([*self.index.keys_for(user_id, md5.hex), *live]):
                stored = self._stored_md5(key)
                if stored == md5.hex:
                    return self._issue(user_id, key, mime_type, md5, "existing")
                if (
                    stored is None
                    and key in live
                    and not self.reservations.held_for_other(key, md5.hex)
                ):
                    pending = pending or key  # a live URL will put these same bytes there
                else:
                    self.index.forget(key, md5.hex)
            if pending is not None:  # same bytes in flight: share the key, never a twin
                return self._issue(user_id, pending, mime_type, md5, "new")
            for key in candidate_keys(user_id, filename, md5.hex):
                if self.reservations.held_for_other(key, md5.hex):
                    continue
                stored = self._stored_md5(key)
                if stored == md5.hex:  # stored but unknown to the index (e.g. index lost)
                    return self._issue(user_id, key, mime_type, md5, "existing")
                if stored is None:
                    break
            return self._issue(user_id, key, mime_type, md5, "new")

    def _stored_md5(self, key: str) -> str | None:
        """The MD5 of the bytes stored under ``key``, ``""`` if unknown, None if absent."""
        obj = self.storage.head(key)
        if obj is None:
            return None
        return obj.md5_hex or ""

    def _issue(
        self, user_id: str, key: str, mime_type: str, md5: MD5, kind: Literal["new", "existing"]
    ) -> Ticket:
        """Reserve ``key`` for these bytes for the URL's lifetime, then sign the URL.

        The reservation is durable before the URL exists. For ``existing`` the URL is still
        given (the contract has one), and reserved like any other. SigV4 truncates the
        signing time to the second, hence the extra second.
        """
        self.reservations.reserve(user_id, key, md5.hex, time.time() + self.url_ttl + 1)
        self.index.add(user_id, key, md5.hex)
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
        with self._locked(user_id):
            if self.storage.head(s3_key) is None:
                raise NotFound(s3_key)
            self.storage.delete(s3_key)
            # Only the hint goes: URLs issued for this key stay reserved until they expire.
            self.index.forget(s3_key)


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
