"""The upload pipeline asks the hash cache only for files it opened from a path."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import alloy_nb
from alloy_nb import _hashcache
from alloy_nb.sandbox import Sandbox


def _client(sandbox: Sandbox, **kw: object) -> alloy_nb.Client:
    return alloy_nb.Client(sandbox.api_key, base_url=sandbox.base_url, **kw)  # type: ignore[arg-type]


def _aged(path: Path, data: bytes) -> Path:
    """A file whose timestamps are older than the racy margin, as files at rest are."""
    path.write_bytes(data)
    old = time.time_ns() - 10 * _hashcache.RACY_MARGIN_NS
    os.utime(path, ns=(old, old))
    time.sleep(_hashcache.RACY_MARGIN_NS / 1e9 + 0.1)  # the ctime (set by utime) ages too
    return path


def test_an_unchanged_path_is_hashed_once_across_uploads(sandbox: Sandbox, tmp_path: Path) -> None:
    """A second upload of an unchanged path is answered from the cache, not hashed again."""
    path = _aged(tmp_path / "report.csv", os.urandom(200_000))
    with _client(sandbox) as client:
        first = client.upload(path, progress=False)
        before = _hashcache.stats()
        again = client.upload(path, progress=False)
        after = _hashcache.stats()
    assert (first.type, again.type, again.md5_hex) == ("new", "existing", first.md5_hex)
    assert after.hits == before.hits + 1
    assert after.hashed == before.hashed


def test_a_changed_path_is_hashed_again_and_uploaded(sandbox: Sandbox, tmp_path: Path) -> None:
    """Changed bytes under the same path give their true MD5 and a new upload."""
    path = _aged(tmp_path / "data.bin", b"a" * 50_000)
    with _client(sandbox) as client:
        first = client.upload(path, progress=False)
        with open(path, "r+b") as f:  # same size, mtime put back: only the ctime tells
            f.write(b"b")
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        second = client.upload(path, progress=False)
    assert second.type == "new"
    assert second.md5_hex != first.md5_hex
    assert second.md5_hex == alloy_nb.md5_file(path, cache=False).hex


def test_file_objects_and_bytes_never_use_the_cache(sandbox: Sandbox, tmp_path: Path) -> None:
    """File objects and bytes are always hashed; the cache is not asked."""
    path = _aged(tmp_path / "f.bin", os.urandom(10_000))
    with _client(sandbox) as client:
        client.upload(path, progress=False)  # now in the cache
        before = _hashcache.stats()
        with open(path, "rb") as f:
            client.upload(f, progress=False)
        client.upload(path.read_bytes(), filename="f.bin", progress=False)
        client.upload(io.BytesIO(path.read_bytes()), filename="f.bin", progress=False)
        after = _hashcache.stats()
    assert after.hits == before.hits


def test_hash_cache_false_hashes_every_time(sandbox: Sandbox, tmp_path: Path) -> None:
    """Client(hash_cache=False) never asks the cache."""
    path = _aged(tmp_path / "g.bin", os.urandom(10_000))
    with _client(sandbox, hash_cache=False) as client:
        client.upload(path, progress=False)
        before = _hashcache.stats()
        client.upload(path, progress=False)
        after = _hashcache.stats()
    assert (after.hits, after.stored) == (before.hits, before.stored)
