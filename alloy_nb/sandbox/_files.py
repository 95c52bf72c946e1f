"""The File Management logic: upload requests with dedup, listings, deletes.

Invariants (see DESIGN.md):

* ``existing`` is answered only when storage, asked during that call (a HEAD), holds
  the caller's bytes with that MD5 under the key returned; the index (:mod:`._stored`)
  only says which key to ask about.
* A key is handed out for an MD5 only if storage holds no other bytes under it and no
  URL issued for it that may still be valid signs another MD5 (:mod:`._reservations`,
  kept across restarts and index rebuilds). Every URL handed out, ``existing`` ones
  included, is reserved first. Since every URL signs ``Content-MD5``, two different
  files under one name never overwrite each other, not even through a replayed URL.
* A file is listed only once storage has shown it, so a requested but never uploaded
  file is never listed: a listing asks storage about the keys in its range that URLs
  were issued for and the index has not yet seen land.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

from alloy_nb._md5 import MD5
from alloy_nb.sandbox._heartbeat import Heartbeat
from alloy_nb.sandbox._index import FileIndex, Listed
from alloy_nb.sandbox._names import candidate_keys, filename_of, user_prefix
from alloy_nb.sandbox._reservations import Reservations
from alloy_nb.sandbox._storage import Storage, StorageBusy
from alloy_nb.sandbox._stored import Confirmed, StoredView

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
    files: list[Listed]
    next_cursor: str | None


class FileService:
    def __init__(
        self,
        storage: Storage,
        index: FileIndex,
        reservations: Reservations,
        *,
        url_ttl: int,
        sole_writer: bool = False,
    ) -> None:
        self.storage = storage
        self.index = index
        self.reservations = reservations
        self.url_ttl = url_ttl
        self.stored = StoredView(storage, index, sole_writer=sole_writer)
        self.heartbeat = Heartbeat(self.stored.ping)
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

    def open_index(self, *, storage_created: bool = False) -> None:
        """At start: rebuild the index if it cannot be trusted, then settle expired URLs."""
        reason = self.stored.needs_rebuild(storage_created=storage_created)
        if reason:
            log.info("rebuilding the file index from storage: %s", reason)
            self.rebuild_index()
        self.settle_expired()

    def rebuild_index(self) -> int:
        """Record every stored object under a user prefix in the index."""
        return self.stored.rebuild()

    def settle_expired(self) -> int:
        """Ask storage about keys whose URLs expired unseen, then forget those URLs."""
        before = self.reservations.cutoff()
        by_user: dict[str, set[str]] = {}
        for user_id, key, md5_hex in self.reservations.expired(before):
            if self.index.md5_of(key) != md5_hex:
                by_user.setdefault(user_id, set()).add(key)
        if self.stored.sole_writer:
            for user_id, keys in by_user.items():
                with self._locked(user_id):
                    self.stored.probe(user_id, sorted(keys))
        return self.reservations.prune(before)

    def _storage_answers(self) -> None:
        """Calls answered from the index still refuse (503) while storage is down."""
        if self.stored.sole_writer:
            self.heartbeat.check()

    def request_upload(self, user_id: str, filename: str, mime_type: str, md5: MD5) -> Ticket:
        # Sole writer: storage confirms an `existing` answer now (one HEAD, outside the user
        # lock); anything else needs proof that storage answers and is still the indexed one.
        confirmed = self.stored.confirm(user_id, md5.hex) if self.stored.sole_writer else None
        if confirmed is None or not confirmed.holds(md5.hex):
            self._storage_answers()
        with self._locked(user_id):
            key, kind = self._choose_key(user_id, filename, md5.hex, confirmed)
            held = self.reservations.hold(user_id, key, md5.hex, time.time() + self.url_ttl + 1)
        # Durable before the URL exists; written together with concurrent calls' (one fsync).
        # Until then the hold is visible, so no other call can give the key to other bytes.
        self.reservations.commit(held)
        url = self.storage.presign_put(key, mime_type, md5.base64, self.url_ttl)
        return Ticket(url, md5.base64, key, kind)

    def _choose_key(
        self, user_id: str, filename: str, md5_hex: str, confirmed: Confirmed | None = None
    ) -> tuple[str, Literal["new", "existing"]]:
        """The key for these bytes, under the user's lock. The reservation made for the
        URL (``existing`` too) lasts the URL's lifetime; SigV4 truncates the signing time
        to the second, hence the extra second. ``confirmed``: what storage just said of
        the key the index gave for these bytes (:meth:`StoredView.confirm`)."""
        # Used only if the index still holds what it held then: else the sandbox itself
        # changed that key meanwhile (a delete), and the answer is stale.
        if confirmed is not None and self.index.md5_of(confirmed.key) == md5_hex:
            if confirmed.holds(md5_hex):
                return confirmed.key, "existing"
            self.stored.learn_one(confirmed.key, confirmed.obj)  # the index was wrong
        for key in self.index.keys_for(user_id, md5_hex):
            if self.stored.md5_of(key, unsettled=True) == md5_hex:
                return key, "existing"  # storage says so now
        pending = None
        for key, live in self.reservations.issued(user_id, md5_hex).items():
            stored = self.stored.md5_of(key, unsettled=True)  # did that upload land?
            if stored == md5_hex:
                return key, "existing"
            if live and stored is None and not self.reservations.held_for_other(key, md5_hex):
                pending = pending or key  # a live URL will put these same bytes there
        if pending is not None:  # same bytes in flight: share the key, never a twin
            return pending, "new"
        after = self.reservations.cutoff()
        for key in candidate_keys(user_id, filename, md5_hex):
            urls = self.reservations.on_key(key)
            if any(m != md5_hex and until > after for m, until in urls):
                continue  # a live URL may still write other bytes here
            stored = self.stored.md5_of(key, unsettled=bool(urls))
            if stored == md5_hex:  # stored but not found above (e.g. shared storage)
                return key, "existing"
            if stored is None:
                return key, "new"
        raise AssertionError("unreachable: candidate_keys ends by raising")  # pragma: no cover

    def list_files(self, user_id: str, *, limit: int | None, cursor: str | None) -> FilePage:
        prefix = user_prefix(user_id)
        after = _decode_cursor(cursor, prefix) if cursor else ""
        if not self.stored.sole_writer:
            items, more = self.stored.storage_page(user_id, after, limit)
            return FilePage(items, _encode_cursor(items[-1].key) if more and items else None)
        self._storage_answers()
        probed: set[str] = set()
        while True:
            rows = self.index.page(user_id, after, None if limit is None else limit + 1)
            more = limit is not None and len(rows) > limit
            rows = rows[:limit] if more else rows
            upto = rows[-1].key if more else None
            indexed = {r.key: r.md5_hex for r in rows}
            # Keys in this page's range whose URLs were issued but not seen to land.
            before = self.reservations.cutoff()
            urls = [
                (k, until)
                for k, m, until in self.reservations.of_user(user_id, after, upto)
                if indexed.get(k) != m and k not in probed
            ]
            if not urls:
                return FilePage(rows, _encode_cursor(upto) if upto else None)
            unsettled = {k for k, _ in urls}
            with self._locked(user_id):
                self.stored.probe(user_id, sorted(unsettled))
            expired = {k for k, until in urls if until <= before}
            if expired:  # settled now that storage was asked: forget those URLs
                self.reservations.prune(before, keys=expired)
            probed |= unsettled

    def open_file(self, user_id: str, s3_key: str) -> Any:
        """A streaming body of one of the caller's files; NotFound for anyone else's."""
        _check_key(user_id, s3_key)
        body = self.storage.open(s3_key)
        if body is None:
            with self._locked(user_id):  # learnt under the lock, like every storage answer
                self.stored.head(s3_key)
            raise NotFound(s3_key)
        return body

    def delete_file(self, user_id: str, s3_key: str) -> None:
        _check_key(user_id, s3_key)
        with self._locked(user_id):
            if self.stored.head(s3_key) is None:
                raise NotFound(s3_key)
            # Forgotten first: a crash or a failed delete may leave a stored file unlisted
            # (asked again on the next delete), never an indexed file that is gone. Only
            # the file goes: URLs issued for this key stay reserved until they expire.
            self.stored.learn_one(s3_key, None)
            try:
                self.storage.delete(s3_key)
            except BaseException:
                with suppress(Exception):
                    self.stored.head(s3_key)  # still there: listed again
                raise


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


def listing_json(files: list[Listed], next_cursor: str | None) -> bytes:
    """A page in the documented listing shape, encoded straight from the index rows
    (no per-row model: a page can hold 100,000 files)."""
    entries = [
        {"s3Key": k, "filename": filename_of(k), "size": size, "lastModified": modified}
        for k, _md5, size, modified in files
    ]
    page: dict[str, object] = {"files": entries}
    if next_cursor:
        page["nextCursor"] = next_cursor
    return json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
