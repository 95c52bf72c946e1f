"""A persistent cache from a regular file's identity to its MD5: an unchanged file is hashed once.

The key is ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` from ``os.fstat`` of the very
descriptor that is then hashed, so what is hashed is what is keyed. The ctime is what makes it
safe: user space can put an mtime back (``os.utime``, ``cp -p``, ``rsync -t``) but not a ctime,
which the kernel sets to "now" on every write, truncate, chmod, link and rename.

Git's "racy" rule: an entry is stored, and trusted, only when both timestamps are older than the
moment hashing started by more than ``RACY_MARGIN_NS``; a write in the same timestamp tick as the
hash would otherwise leave the key unchanged. An fstat that changes while the file is read also
means nothing is stored.

Only for files alloy_nb opens itself from a path, never for file objects, pipes, bytes or
DataFrames. POSIX only: Windows reports the creation time as ``st_ctime``, which would miss a
rewrite whose mtime was put back. The SQLite side is in :mod:`alloy_nb._hashcache_db`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from alloy_nb._constants import ENV_CACHE_DIR, ENV_HASH_CACHE, HASH_CACHE_MAX_ENTRIES
from alloy_nb._hashcache_db import TOUCH_AFTER_NS, Stats, Store
from alloy_nb._md5 import CHUNK_SIZE, MD5, hash_stream, md5_stream

__all__ = [
    "HashCache",
    "Stats",
    "cache_dir",
    "cache_enabled",
    "cached_md5",
    "default_cache",
    "md5_file",
    "md5_path",
    "stats",
]

# 2 s: FAT and exFAT keep mtimes in 2-second steps (the coarsest in common use); ext4, XFS, btrfs
# and APFS stamp files from a coarse kernel clock that lags time.time_ns() by up to a scheduler
# tick; and a network file system's server clock may be a little off ours.
RACY_MARGIN_NS = 2_000_000_000
DB_NAME = "md5-v1.sqlite3"
_OFF = ("0", "false", "no", "off")
_fstat = os.fstat  # one name, so tests can model file systems with coarser timestamps than theirs


class HashCache(Store):
    """The racy rule and the file checks on top of the SQLite store."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_entries: int = HASH_CACHE_MAX_ENTRIES,
        racy_margin_ns: int = RACY_MARGIN_NS,
        touch_after_ns: int = TOUCH_AFTER_NS,
    ) -> None:
        super().__init__(path, max_entries=max_entries, touch_after_ns=touch_after_ns)
        self.racy_margin_ns = racy_margin_ns

    def md5_of(
        self,
        f: BinaryIO,
        *,
        on_progress: Callable[[int], None] | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> MD5:
        """MD5 of ``f``, which must come from ``open(path, "rb")`` and be at position 0.

        Anything else (a wrapper, another position, a pipe or device) is hashed like
        ``md5_stream`` hashes a file object, without the cache. A hit reports the whole size to
        ``on_progress`` at once; ``f`` is left at position 0 either way.
        """
        started = time.time_ns()
        st = _plain_file_stat(f)
        if st is None:
            self.count("hashed")
            return md5_stream(f, chunk_size=chunk_size, on_progress=on_progress)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        settled = max(st.st_mtime_ns, st.st_ctime_ns) < started - self.racy_margin_ns
        if settled:
            digest = self.get(key)
            if digest is not None:
                self.count("hits")
                if on_progress is not None and st.st_size:
                    on_progress(st.st_size)
                return MD5(digest)
        self.count("hashed")
        md5 = hash_stream(f, chunk_size, on_progress)
        read = f.tell()
        f.seek(0)
        after = _fstat(f.fileno())
        unchanged = (after.st_size, after.st_mtime_ns, after.st_ctime_ns) == key[2:]
        if settled and unchanged and read == st.st_size:
            if self.put(key, md5.digest):
                self.count("stored")
        else:
            self.count("racy")
        return md5


def _plain_file_stat(f: object) -> os.stat_result | None:
    """fstat of an ``open(path, "rb")`` file at position 0, if it is a regular file."""
    # Exact types only: a subclass or wrapper (gzip, a decoder) may read bytes other than the
    # descriptor's, and must not key the descriptor's identity to them.
    if type(f) is not io.BufferedReader or not isinstance(f, io.BufferedReader):
        return None
    if type(f.raw) is not io.FileIO or f.raw.mode != "rb" or f.closed:
        return None
    st = _fstat(f.fileno())
    return st if stat.S_ISREG(st.st_mode) and f.tell() == 0 else None


def cache_enabled(enabled: bool | None = None) -> bool:
    """An explicit ``enabled`` wins; ``None`` reads ``ALLOY_NB_HASH_CACHE`` (default on)."""
    if os.name != "posix":
        return False
    if enabled is not None:
        return enabled
    return os.environ.get(ENV_HASH_CACHE, "1").strip().lower() not in _OFF


def cache_dir() -> Path:
    """``$ALLOY_NB_CACHE_DIR``, else ``$XDG_CACHE_HOME/alloy_nb``, else ``~/.cache/alloy_nb``."""
    explicit = os.environ.get(ENV_CACHE_DIR, "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "alloy_nb"


def default_cache() -> HashCache:
    """The cache in :func:`cache_dir`, one per process and directory."""
    path = cache_dir() / DB_NAME
    with _defaults_lock:
        cache = _defaults.get(path)
        if cache is None:
            cache = _defaults[path] = HashCache(path)
        return cache


def stats() -> Stats:
    """A copy of the default cache's counters."""
    cache = default_cache()
    with cache._lock:
        return dataclasses.replace(cache.stats)


def cached_md5(
    f: BinaryIO,
    *,
    on_progress: Callable[[int], None] | None = None,
    enabled: bool | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> MD5:
    """MD5 of a file alloy_nb opened itself with ``open(path, "rb")``, at position 0.

    Pass ``enabled=False`` for every other source (a file object the caller passed in, a
    spooled pipe, a DataFrame's temporary file): the cache is for files named by a path.
    """
    if cache_enabled(enabled):
        try:
            cache = default_cache()
        except RuntimeError:  # no home directory to put the cache in
            pass
        else:
            return cache.md5_of(f, on_progress=on_progress, chunk_size=chunk_size)
    return md5_stream(f, chunk_size=chunk_size, on_progress=on_progress)


def md5_path(
    path: str | os.PathLike[str],
    *,
    cache: bool | None = None,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> MD5:
    """MD5 of the file at ``path``, from the cache when the file is regular and unchanged."""
    with open(path, "rb") as f:
        return cached_md5(f, on_progress=on_progress, enabled=cache, chunk_size=chunk_size)


_defaults: dict[Path, HashCache] = {}
_defaults_lock = threading.Lock()


def _new_lock_in_child() -> None:
    global _defaults_lock
    _defaults_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def md5_file(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
    cache: bool | None = None,
) -> MD5:
    """Hash a path or a binary file object in chunks, in constant memory.

    A file object is read from its current position to the end and then rewound to
    where it started, so it can be uploaded next. ``on_progress`` receives the number
    of bytes read by each chunk.

    A path to a regular file is answered from the MD5 cache when the file is unchanged
    (then ``on_progress`` receives the whole size at once). ``cache=False`` always reads
    the file; ``None`` follows ``ALLOY_NB_HASH_CACHE``. File objects are always read.

    >>> import io
    >>> md5_file(io.BytesIO(b"hello")).hex
    '5d41402abc4b2a76b9719d911017c592'
    """
    if isinstance(source, str | os.PathLike):
        return md5_path(source, cache=cache, chunk_size=chunk_size, on_progress=on_progress)
    return md5_stream(source, chunk_size=chunk_size, on_progress=on_progress)
