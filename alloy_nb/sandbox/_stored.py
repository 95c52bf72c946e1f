"""What storage holds, as the sandbox knows it: the index, kept true by asking storage.

Two modes:

* **Sole writer** (the bundled storage, started by the sandbox on its own data directory):
  storage has exactly one door, the S3 gateway, and its credentials are the sandbox's own
  (DESIGN.md, "Storage has exactly one door"). Every object in it was therefore written
  through a URL the sandbox signed and reserved (:mod:`._reservations`), or deleted by the
  sandbox itself. So a key the index holds is stored (confirmed once, when storage showed
  it), and a key the index does not hold is absent unless a URL was issued for it: only
  those keys (the *unsettled* ones) are asked of storage. A reservation is forgotten only
  after that question (settling), so no landing goes unseen. Where the index could be
  wrong it is rebuilt from storage at start: lost, corrupt, storage emptied, or a reboot.
  Storage changed behind the sandbox's back (files deleted in its data directory) is
  learned when the sandbox next touches the key: a delete, a connector reading the file,
  a listing probing that range, or the next rebuild.
* **Shared** (any other S3 endpoint, which other programs may write): the index is only a
  hint; every answer is confirmed with storage (HEAD) and listings come from storage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from alloy_nb.sandbox._index import FileIndex, Listed, boot_id, listing_time
from alloy_nb.sandbox._names import is_user_id, user_prefix
from alloy_nb.sandbox._storage import Storage, StorageUnavailable, StoredObject

log = logging.getLogger("alloy_nb.sandbox.files")

#: Most keys asked of storage per listing request while probing unsettled keys.
PROBE_PAGE = 1000


def listed(obj: StoredObject) -> Listed:
    return Listed(obj.key, obj.md5_hex, obj.size, listing_time(obj.last_modified))


def owner_of(s3_key: str) -> str | None:
    user_id = s3_key.split("_", 1)[0]
    return user_id if "_" in s3_key and is_user_id(user_id) else None


class StoredView:
    def __init__(self, storage: Storage, index: FileIndex, *, sole_writer: bool) -> None:
        self.storage = storage
        self.index = index
        self.sole_writer = sole_writer

    def needs_rebuild(self, *, storage_created: bool) -> str | None:
        """Why the index cannot be trusted as it is, or None."""
        if not self.index.built:
            return "no index built from this storage yet"
        if self.sole_writer and storage_created:
            return "storage is new (empty)"
        if self.sole_writer and self.index.boot != boot_id():
            return "the machine restarted: storage may have lost writes not yet on disk"
        return None

    def rebuild(self) -> int:
        """Record every object under a user prefix, read from storage."""

        def rows() -> Iterable[tuple[str, Listed]]:
            for obj in self.storage.iter_all():
                user_id = owner_of(obj.key)
                if user_id is not None:
                    yield user_id, listed(obj)

        n = self.index.rebuild(rows())
        log.info("file index rebuilt from storage: %d objects", n)
        return n

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
