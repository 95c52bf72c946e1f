"""What storage holds, as the sandbox knows it: the index, kept true by asking storage.

Two modes:

* **Sole writer** (the bundled storage, started by the sandbox on its own data directory):
  storage has exactly one door, the S3 gateway, and its credentials are the sandbox's own
  (DESIGN.md, "Storage has exactly one door"). Every object in it was therefore written
  through a URL the sandbox signed and reserved (:mod:`._reservations`), or deleted by the
  sandbox itself (the index forgets the key first, so a failed or interrupted delete never
  leaves an indexed key that is gone). So a key the index holds is stored (confirmed
  once, when storage showed it), and a key it does not hold is absent unless a URL was
  issued for it: only those keys (the *unsettled* ones) are asked of storage. A
  reservation is forgotten only after that question (settling), so no landing goes
  unseen. Listings come from the index; an ``existing`` answer is still confirmed by a
  HEAD of its key during the call. Storage is tied to the index by a *mark*, an object
  put when the index was rebuilt from it and named in the index: every call answered
  from the index needs the mark to answer (:class:`~._heartbeat.Heartbeat`), so storage
  emptied or replaced while the sandbox runs is refused (503), not described. At start
  the index is rebuilt when it is lost, corrupt or older, when storage is new, after a
  reboot (storage may have lost writes), or when the mark is missing. A single object
  removed out of band (with storage's keys, or in its data directory) stays listed until
  the sandbox touches its key (a delete, a connector reading it, an upload request for
  its bytes, a listing probing near it) or rebuilds the index.
* **Shared** (any other S3 endpoint, which other programs may write): the index is only a
  hint; every answer is confirmed with storage (HEAD) and listings come from storage.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

from alloy_nb.sandbox._index import FileIndex, Listed, boot_id, listing_time
from alloy_nb.sandbox._names import is_user_id, user_prefix
from alloy_nb.sandbox._storage import Storage, StorageUnavailable, StoredObject

log = logging.getLogger("alloy_nb.sandbox.files")

#: Most keys asked of storage per listing request while probing unsettled keys.
PROBE_PAGE = 1000


def mark_key(mark: str) -> str:
    """The object that ties storage to the index built from it: no ``{userId}_`` prefix,
    so no listing, index or user ever sees it."""
    return f".alloy-sandbox-index-{mark}"


def listed(obj: StoredObject) -> Listed:
    return Listed(obj.key, obj.md5_hex, obj.size, listing_time(obj.last_modified))


def owner_of(s3_key: str) -> str | None:
    user_id = s3_key.split("_", 1)[0]
    return user_id if "_" in s3_key and is_user_id(user_id) else None


@dataclass(frozen=True)
class Confirmed:
    """What storage said, just now, of a key the index gave for some bytes."""

    key: str
    obj: StoredObject | None

    def holds(self, md5_hex: str) -> bool:
        return self.obj is not None and self.obj.md5_hex == md5_hex


class StoredView:
    def __init__(self, storage: Storage, index: FileIndex, *, sole_writer: bool) -> None:
        self.storage = storage
        self.index = index
        self.sole_writer = sole_writer

    def needs_rebuild(self, *, storage_created: bool) -> str | None:
        """Why the index cannot be trusted as it is, or None."""
        if not self.index.built:
            return "no index built from this storage yet"
        if not self.sole_writer:
            return None
        if storage_created:
            return "storage is new (empty)"
        if self.index.boot != boot_id():
            return "the machine restarted: storage may have lost writes not yet on disk"
        mark = self.index.mark
        if mark is None or self.storage.head(mark_key(mark)) is None:
            return "storage is not the one the index was built from (its mark is missing)"
        return None

    def rebuild(self) -> int:
        """Record every object under a user prefix, read from storage, and mark storage
        as the one this index describes (sole writer)."""

        def rows() -> Iterable[tuple[str, Listed]]:
            for obj in self.storage.iter_all():
                user_id = owner_of(obj.key)
                if user_id is not None:
                    yield user_id, listed(obj)

        old, mark = self.index.mark, secrets.token_hex(12)
        if self.sole_writer:
            self.storage.put_small(mark_key(mark), b"")  # before the index names it
        n = self.index.rebuild(rows(), mark=mark if self.sole_writer else None)
        if old is not None and old != mark:
            with suppress(StorageUnavailable):
                self.storage.delete(mark_key(old))
        log.info("file index rebuilt from storage: %d objects", n)
        return n

    def ping(self) -> None:
        """Proof that storage answers and is still the storage the index describes: its
        mark is there (gone: emptied or replaced while the sandbox ran; every answer
        from the index is refused until a restart rebuilds it)."""
        mark = self.index.mark
        if not self.sole_writer or mark is None:
            self.storage.quick_ping()
        elif self.storage.head(mark_key(mark)) is None:
            raise StorageUnavailable(
                "storage no longer holds this sandbox's mark: it was emptied or replaced "
                "while the sandbox ran; restart the sandbox (its index is rebuilt from storage)"
            )

    def confirm(self, user_id: str, md5_hex: str) -> Confirmed | None:
        """Ask storage about the first key the index holds for the user's ``md5_hex``
        (None if it holds none). Learns nothing: that is done under the user's lock."""
        keys = self.index.keys_for(user_id, md5_hex)
        return Confirmed(keys[0], self.storage.head(keys[0])) if keys else None

    def md5_of(self, s3_key: str, *, unsettled: bool) -> str | None:
        """The MD5 of the bytes stored under ``s3_key`` (``""`` if storage does not tell),
        None if nothing is. ``unsettled``: a URL was issued for the key that the index has
        not seen land; then (and always when storage is shared) storage is asked."""
        if self.sole_writer and not unsettled:
            return self.index.md5_of(s3_key)
        obj = self.head(s3_key)
        return None if obj is None else (obj.md5_hex or "")

    def head(self, s3_key: str) -> StoredObject | None:
        """Ask storage about one key; the index learns the answer."""
        obj = self.storage.head(s3_key)
        self.learn_one(s3_key, obj)
        return obj

    def learn_one(self, s3_key: str, obj: StoredObject | None) -> None:
        user_id = owner_of(s3_key)
        if user_id is None:
            return
        if obj is None:
            self.index.learn(user_id, (), [s3_key])
        else:
            self.index.learn(user_id, [listed(obj)])

    def probe(self, user_id: str, keys: list[str]) -> None:
        """Ask storage which of the user's ``keys`` (sorted) it holds; the index learns.

        One listing request covers a run of keys with no indexed key between them, so a
        burst of never-used URLs costs a request or two, not a HEAD each. Objects met on
        the way that the index lacks are learned too.
        """
        prefix = user_prefix(user_id)
        wanted = set(keys)
        seen: dict[str, Listed] = {}
        i, done_upto = 0, ""  # every key <= done_upto has been answered
        while i < len(keys):
            start = max(self.index.before(user_id, keys[i]), done_upto)
            items, more = self.storage.list(
                prefix, start_after=start, max_keys=min(PROBE_PAGE, len(keys) - i + 1)
            )
            for obj in items:
                if obj.key in wanted or self.index.md5_of(obj.key) != (obj.md5_hex or ""):
                    seen[obj.key] = listed(obj)
            if not items and more:  # never read "absent" into a listing that stalled
                raise StorageUnavailable("storage sent an empty listing page that says more follow")
            if not more:
                break  # storage holds nothing more after start: the rest are absent
            done_upto = items[-1].key
            while i < len(keys) and keys[i] <= done_upto:
                i += 1
        self.index.learn(user_id, seen.values(), [k for k in keys if k not in seen])

    def storage_page(
        self, user_id: str, after: str, limit: int | None
    ) -> tuple[list[Listed], bool]:
        """Shared storage: the page straight from storage."""
        prefix = user_prefix(user_id)
        if limit is None:
            return [listed(o) for o in self.storage.iter_all(prefix, start_after=after)], False
        items, more = self.storage.list(prefix, start_after=after, max_keys=limit)
        return [listed(o) for o in items], more
