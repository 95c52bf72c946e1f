"""alloy_nb._hashcache: an unchanged file is hashed once, a changed one is never answered from it.

The property test runs the real mechanism (fstat of real files on this file system) with a 30 ms
racy margin instead of 2 s, so time can pass between steps cheaply; 30 ms is still far above a
kernel timestamp tick. The other tests use the shipped 2 s margin on files made once and aged.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from alloy_nb import _hashcache, md5_file
from alloy_nb._hashcache import DB_NAME, RACY_MARGIN_NS, HashCache, cached_md5, md5_path
from alloy_nb._hashcache_db import BUSY_TIMEOUT_S, Stats, Store

MARGIN_NS = 30_000_000
NOBODY = 65534
AS_ROOT = os.geteuid() == 0


def true_md5(path: str | os.PathLike[str]) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def wait_past(margin_ns: int, *paths: Path) -> None:
    """Sleep until every path's mtime and ctime is older than ``margin_ns``: the rule itself."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths)
    delay = (newest + margin_ns + 10_000_000 - time.time_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


def hash_with(cache: HashCache, path: Path, seen: list[int] | None = None) -> str:
    with open(path, "rb") as f:
        md5 = cache.md5_of(f, on_progress=None if seen is None else seen.append)
        assert f.tell() == 0
    return md5.hex


def current() -> Stats:
    return _hashcache.stats()


# ---- the property: every history of changes gives the true MD5 ----

NAMES = st.sampled_from(["a", "b", "c"])
DATA = st.binary(max_size=48)
_seen = Stats()


class FileHistory(RuleBasedStateMachine):
    """Changes to three names in one directory; every hash must equal hashlib's of the bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="alloy-nb-hashcache-"))
        self.cache = HashCache(
            self.dir / "cache" / DB_NAME, racy_margin_ns=MARGIN_NS, max_entries=6
        )

    def path(self, name: str) -> Path:
        return self.dir / name

    def check(self, name: str) -> None:
        p = self.path(name)
        seen: list[int] = []
        assert hash_with(self.cache, p, seen) == true_md5(p)
        assert sum(seen) == p.stat().st_size

    def flipped(self, p: Path) -> bytes:
        return bytes(b ^ 0x5A for b in p.read_bytes())

    @rule(name=NAMES)
    def hash(self, name: str) -> None:
        if self.path(name).exists():
            self.check(name)

    @rule()
    def time_passes(self) -> None:
        time.sleep(MARGIN_NS * 1.5 / 1e9)

    @rule(name=NAMES)
    def hash_after_a_while(self, name: str) -> None:
        if self.path(name).exists():
            wait_past(MARGIN_NS, self.path(name))
            self.check(name)
            self.check(name)

    @rule(name=NAMES)
    def hash_again(self, name: str) -> None:
        self.hash(name)

    @rule(name=NAMES, data=DATA)
    def write(self, name: str, data: bytes) -> None:
        self.path(name).write_bytes(data)

    @rule(name=NAMES, data=DATA)
    def append(self, name: str, data: bytes) -> None:
        with open(self.path(name), "ab") as f:
            f.write(data)

    @rule(name=NAMES, size=st.integers(0, 64))
    def truncate(self, name: str, size: int) -> None:
        if self.path(name).exists():
            os.truncate(self.path(name), size)

    @rule(name=NAMES, at=st.integers(0, 63))
    def rewrite_in_place_keeping_mtime(self, name: str, at: int) -> None:
        p = self.path(name)
        if not p.exists() or p.stat().st_size == 0:
            return
        before = p.stat()
        with open(p, "r+b") as f:
            f.seek(at % before.st_size)
            byte = f.read(1)[0]
            f.seek(at % before.st_size)
            f.write(bytes([byte ^ 0xFF]))
        os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))

    @rule(src=NAMES, dst=NAMES)
    def rename(self, src: str, dst: str) -> None:
        if self.path(src).exists() and src != dst:
            os.replace(self.path(src), self.path(dst))

    @rule(src=NAMES, dst=NAMES)
    def hard_link(self, src: str, dst: str) -> None:
        if self.path(src).exists() and src != dst:
            self.path(dst).unlink(missing_ok=True)
            os.link(self.path(src), self.path(dst))

    @rule(src=NAMES, dst=NAMES)
    def copy_keeping_mtime(self, src: str, dst: str) -> None:
        s, d = self.path(src), self.path(dst)
        if s.exists() and not (d.exists() and os.path.samefile(s, d)):
            shutil.copy2(s, d)  # into d's inode if d exists, then d gets s's mtime

    @rule(name=NAMES, same_size=st.booleans(), data=DATA)
    def replace_by_rename_keeping_mtime(self, name: str, same_size: bool, data: bytes) -> None:
        p, new = self.path(name), self.dir / "new.tmp"
        if not p.exists():
            return
        before = p.stat()
        new.write_bytes(self.flipped(p) if same_size else data)
        os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(new, p)

    @rule(name=NAMES, same_size=st.booleans(), data=DATA)
    def delete_and_recreate_keeping_mtime(self, name: str, same_size: bool, data: bytes) -> None:
        p = self.path(name)  # the file system is free to reuse the inode number
        if not p.exists():
            return
        before, content = p.stat(), self.flipped(p) if same_size else data
        p.unlink()
        p.write_bytes(content)
        os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))

    @rule(name=NAMES)
    def write_right_after_hashing(self, name: str) -> None:
        p = self.path(name)  # the racy case: same size, mtime put back, within one tick
        if not p.exists():
            return
        self.check(name)
        before, content = p.stat(), self.flipped(p)
        with open(p, "r+b") as f:
            f.write(content)
        os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.check(name)

    def teardown(self) -> None:
        for field in dataclasses.fields(Stats):
            setattr(
                _seen,
                field.name,
                getattr(_seen, field.name) + getattr(self.cache.stats, field.name),
            )
        self.cache.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class _Coarse:
    """A stat result whose timestamps are truncated to ``grain_ns``, like FAT's or a kernel's."""

    def __init__(self, st: os.stat_result, grain_ns: int) -> None:
        self._st, self.st_mtime_ns, self.st_ctime_ns = (
            st,
            st.st_mtime_ns // grain_ns * grain_ns,
            st.st_ctime_ns // grain_ns * grain_ns,
        )

    def __getattr__(self, name: str) -> object:
        return getattr(self._st, name)


@pytest.mark.parametrize("grain_ms", [0, 20], ids=["this file system", "20 ms timestamps"])
def test_every_history_of_changes_gives_the_true_md5(
    monkeypatch: pytest.MonkeyPatch, grain_ms: int
) -> None:
    """any mix of writes, truncates, renames, links and copies with mtimes put back: true MD5s"""
    # This kernel gives a fresh fine-grained ctime to a change after a stat, so the racy case
    # cannot happen here; coarse timestamps (below the 30 ms margin) model the file systems
    # where it does: a write in the same tick as the hash leaves the key as it was.
    if grain_ms:
        monkeypatch.setattr(
            _hashcache, "_fstat", lambda fd: _Coarse(os.fstat(fd), grain_ms * 1_000_000)
        )
    for field in dataclasses.fields(Stats):
        setattr(_seen, field.name, 0)
    run_state_machine_as_test(
        FileHistory, settings=settings(max_examples=60, stateful_step_count=30, deadline=None)
    )
    # The histories must have used the cache, or they proved nothing about it.
    assert _seen.hits > 0
    assert _seen.stored > 0
    assert _seen.errors == 0


# ---- the shipped 2 s margin, on files aged past it ----


@pytest.fixture(scope="module")
def aged() -> Iterator[list[Path]]:
    """40 files of assorted sizes and a .gz, older than the 2 s racy margin."""
    d = Path(tempfile.mkdtemp(prefix="alloy-nb-aged-"))
    files = [d / f"f{i:02}.bin" for i in range(40)]
    for i, p in enumerate(files):
        p.write_bytes(os.urandom(i * 997 + (1 << 18 if i % 8 == 0 else 0)))
    gz = d / "data.gz"
    gz.write_bytes(gzip.compress(os.urandom(5000)))
    wait_past(RACY_MARGIN_NS, *files, gz)
    yield [*files, gz]
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = tmp_path / "cache"
    monkeypatch.setenv("ALLOY_NB_CACHE_DIR", str(d))
    monkeypatch.delenv("ALLOY_NB_HASH_CACHE", raising=False)
    yield d
    _hashcache.default_cache().close()


def test_an_unchanged_file_is_read_once(aged: list[Path], cache_dir: Path) -> None:
    """an unchanged file is read once; later calls are hits that report its whole size at once"""
    p = aged[8]
    seen: list[int] = []
    first = md5_file(p)
    again = md5_file(p, on_progress=seen.append)
    third = md5_path(str(p))
    assert first.hex == again.hex == third.hex == true_md5(p)
    assert seen == [p.stat().st_size]
    s = current()
    assert (s.hashed, s.stored, s.hits, s.errors) == (1, 1, 2, 0)
    assert (cache_dir / DB_NAME).exists()


def test_a_just_written_file_is_never_stored(tmp_path: Path, cache_dir: Path) -> None:
    """racy rule: a file changed less than 2 s before hashing is read every time, never stored"""
    p = tmp_path / "fresh.txt"
    p.write_bytes(b"one")
    assert md5_file(p).hex == true_md5(p)
    before = p.stat()
    p.write_bytes(b"two")
    os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert md5_file(p).hex == true_md5(p)
    s = current()
    assert (s.hashed, s.stored, s.hits, s.racy) == (2, 0, 0, 2)


def test_a_file_changed_while_it_is_read_is_not_stored(tmp_path: Path) -> None:
    """a file that changes while it is hashed is not stored, so the next call reads it again"""
    cache = HashCache(tmp_path / "c" / DB_NAME, racy_margin_ns=MARGIN_NS)
    p = tmp_path / "big.bin"
    p.write_bytes(os.urandom(3 << 20))
    wait_past(MARGIN_NS, p)

    def change_it(n: int) -> None:
        with open(p, "r+b") as w:  # the first MiB, already read: the digest is of the old bytes
            w.write(b"changed")

    with open(p, "rb") as f:
        cache.md5_of(f, on_progress=change_it, chunk_size=1 << 20)
    assert (cache.stats.stored, cache.stats.racy) == (0, 1)
    wait_past(MARGIN_NS, p)
    assert hash_with(cache, p) == true_md5(p)
    assert hash_with(cache, p) == true_md5(p)
    assert (cache.stats.hashed, cache.stats.stored, cache.stats.hits) == (2, 1, 1)
    cache.close()


def test_file_objects_pipes_and_devices_never_use_the_cache(
    aged: list[Path], cache_dir: Path, tmp_path: Path
) -> None:
    """file objects, wrappers, other positions, pipes and devices are always read, never stored"""
    p, gz = aged[1], aged[-1]
    data = p.read_bytes()
    for _ in range(2):
        with open(p, "rb") as f:
            assert md5_file(f).hex == true_md5(p)
        with open(p, "rb") as f:
            f.seek(5)
            assert cached_md5(f).hex == hashlib.md5(data[5:]).hexdigest()
            assert f.tell() == 5
        with open(p, "rb", buffering=0) as raw:
            assert cached_md5(raw).hex == true_md5(p)
        assert cached_md5(io.BytesIO(data)).hex == true_md5(p)
        with gzip.open(gz, "rb") as unzipped:  # its fileno() is the .gz file's, its bytes are not
            unzipped_md5 = hashlib.md5(gzip.decompress(gz.read_bytes())).hexdigest()
            # typeshed's GzipFile is not a BinaryIO, though it behaves as one here
            assert cached_md5(unzipped).hex == unzipped_md5  # type: ignore[arg-type]
        assert md5_path("/dev/null").hex == hashlib.md5(b"").hexdigest()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(b"through a pipe",))
    writer.start()
    assert md5_path(fifo).hex == hashlib.md5(b"through a pipe").hexdigest()
    writer.join()
    s = current()
    assert (s.stored, s.hits) == (0, 0)
    assert md5_path(gz).hex == true_md5(gz)  # the compressed bytes, not the cached inner ones


@pytest.mark.parametrize("value", ["0", "false", "No", " off "])
def test_the_environment_variable_turns_the_cache_off(
    aged: list[Path], cache_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """ALLOY_NB_HASH_CACHE=0 (false, no, off): files are always read and no cache file is made"""
    monkeypatch.setenv("ALLOY_NB_HASH_CACHE", value)
    for _ in range(3):
        assert md5_file(aged[2]).hex == true_md5(aged[2])
    assert not cache_dir.exists()


def test_cache_false_turns_it_off_and_an_explicit_argument_wins(
    aged: list[Path], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """md5_file(path, cache=False) never touches the cache; cache=True wins over the variable"""
    for _ in range(2):
        assert md5_file(aged[3], cache=False).hex == true_md5(aged[3])
    assert not cache_dir.exists()
    monkeypatch.setenv("ALLOY_NB_HASH_CACHE", "0")
    for _ in range(2):
        assert md5_file(aged[3], cache=True).hex == true_md5(aged[3])
    assert (current().stored, current().hits) == (1, 1)


def _damage(db: Path, how: str) -> None:
    db.parent.mkdir(mode=0o700)
    if how == "garbage":
        db.write_bytes(b"not a database " * 1000)
        return
    filler = Store(db)  # a real cache file with many entries, then cut short
    for i in range(3000):
        filler.put((1, i, 1, 1, 1), bytes(16))
    filler.close()
    with open(db, "r+b") as f:
        f.truncate(2 * 4096)


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_corrupt_cache_file_is_replaced(aged: list[Path], cache_dir: Path, how: str) -> None:
    """a corrupt cache file is replaced by an empty one; the answer is still the file's MD5"""
    db = cache_dir / DB_NAME
    _damage(db, how)
    for _ in range(3):
        assert md5_file(aged[9]).hex == true_md5(aged[9])
    s = current()
    assert (s.replaced, s.stored, s.hits) == (1, 1, 2)
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


_CHILD = """
import json, sys, time
from alloy_nb import _hashcache, md5_file
started = time.monotonic()
md5s = [md5_file(p).hex for p in sys.argv[1:] for _ in range(2)]
s = _hashcache.stats()
print(json.dumps({"md5": md5s, "seconds": time.monotonic() - started, "stats": vars(s)}))
"""
UNUSABLE = [
    "read-only directory",
    "a file in its place",
    "writable by others",
    *(["owned by another user"] if AS_ROOT else []),
]


# Root may write anywhere: its child runs without the capabilities that override permissions.
AS_ORDINARY_USER = (
    [
        "setpriv",
        "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search",
    ]
    if AS_ROOT
    else []
)


@pytest.mark.parametrize("case", UNUSABLE)
def test_an_unusable_cache_directory_degrades_to_hashing(
    aged: list[Path], tmp_path: Path, case: str
) -> None:
    """a cache directory that can't be written or isn't private: files are hashed, nothing fails"""
    if AS_ROOT and not shutil.which("setpriv"):
        pytest.skip("running as root needs setpriv (util-linux) to drop DAC override")
    d = tmp_path / "cache"
    if case == "a file in its place":
        d.write_bytes(b"")
    else:
        d.mkdir()
        d.chmod({"read-only directory": 0o500, "writable by others": 0o777}.get(case, 0o700))
        if case == "owned by another user":
            os.chown(d, NOBODY, NOBODY)
    out = subprocess.run(
        [*AS_ORDINARY_USER, sys.executable, "-c", _CHILD, *map(str, aged[10:15])],
        env={**os.environ, "ALLOY_NB_CACHE_DIR": str(d)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["md5"] == [true_md5(p) for p in aged[10:15] for _ in range(2)]
    assert result["stats"]["hits"] == result["stats"]["stored"] == 0
    assert result["stats"]["errors"] >= 1
    assert result["seconds"] < 10
    assert not (d.is_dir() and (d / DB_NAME).exists())


def test_a_locked_cache_costs_at_most_one_busy_timeout(aged: list[Path], cache_dir: Path) -> None:
    """another process holding the cache locked: files are hashed after at most one 1 s wait"""
    files = aged[16:24]
    for p in files:
        md5_file(p)
    _hashcache.default_cache().close()
    holder = sqlite3.connect(cache_dir / DB_NAME, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("DELETE FROM md5")  # even readers must wait now
        started = time.monotonic()
        assert [md5_file(p).hex for p in files] == [true_md5(p) for p in files]
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    s = current()
    assert s.hits == 0
    assert s.errors >= len(files)
    # Without the rest after a failure this would be len(files) busy timeouts.
    assert elapsed < 3 * BUSY_TIMEOUT_S


_WORKER = """
import json, random, sys
from alloy_nb import _hashcache, md5_file
expected = json.loads(sys.argv[1])
paths = list(expected)
order = [p for _ in range(3) for p in random.sample(paths, len(paths))]
bad = [p for p in order if md5_file(p).hex != expected[p]]
print(json.dumps({"bad": bad, "stats": vars(_hashcache.stats())}))
"""


def test_threads_and_processes_share_one_cache(aged: list[Path], cache_dir: Path) -> None:
    """8 threads and 2 processes hash the same and different files at once: true MD5s, no errors"""
    expected = {str(p): true_md5(p) for p in aged[:40]}
    shared = list(expected)[:20]
    own = list(expected)[20:]

    def part(i: int, of: int) -> dict[str, str]:
        return {p: expected[p] for p in shared + own[i::of]}

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, json.dumps(part(i, 4))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    try:

        def work(i: int) -> list[str]:
            mine = part(2 + i % 2, 4)
            return [p for _ in range(3) for p in mine if md5_file(p).hex != mine[p]]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(work, range(8))) == [[]] * 8
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    children = [json.loads(out) for out, _ in outs]
    assert [c["bad"] for c in children] == [[], []], [err for _, err in outs]
    assert [c["stats"]["errors"] for c in children] == [0, 0]
    s = current()
    assert s.errors == 0
    assert s.hits > 0
    assert sum(c["stats"]["hits"] for c in children) > 0


def _hash_in_child(path: str, expected: str) -> None:
    assert md5_file(path).hex == expected
    assert md5_file(path).hex == expected
    assert current().errors == 0


def test_a_forked_child_opens_its_own_connection(aged: list[Path], cache_dir: Path) -> None:
    """after a fork the child uses its own connection; the parent then sees the child's entry"""
    md5_file(aged[25])
    md5_file(aged[25])  # the parent's connection is open
    child = multiprocessing.get_context("fork").Process(
        target=_hash_in_child, args=(str(aged[26]), true_md5(aged[26]))
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert md5_file(aged[26]).hex == true_md5(aged[26])
    s = current()
    assert (s.hashed, s.hits, s.errors) == (1, 2, 0)


def test_least_recently_used_entries_are_pruned_first(tmp_path: Path) -> None:
    """a cache of 10 keeps 10 files, and the least recently used ones go first"""
    cache = HashCache(
        tmp_path / "c" / DB_NAME, max_entries=10, racy_margin_ns=MARGIN_NS, touch_after_ns=0
    )
    files = [tmp_path / f"{i}.txt" for i in range(15)]
    for i, p in enumerate(files):
        p.write_text(f"file {i}")
    wait_past(MARGIN_NS, *files)
    for p in files[:10]:
        hash_with(cache, p)
    hash_with(cache, files[0])  # a hit: now the most recently used
    for p in files[10:]:
        hash_with(cache, p)
    with sqlite3.connect(cache.path) as db:
        assert db.execute("SELECT count(*) FROM md5").fetchone() == (10,)
    hits = cache.stats.hits
    assert hash_with(cache, files[0]) == true_md5(files[0])
    assert cache.stats.hits == hits + 1
    assert hash_with(cache, files[1]) == true_md5(files[1])  # pruned: read again
    assert cache.stats.hits == hits + 1
    cache.close()


def test_size_stays_bounded_under_many_writes(tmp_path: Path) -> None:
    """2,000 entries into a cache of 64 leave at most 64 + 64/16 rows"""
    store = Store(tmp_path / DB_NAME, max_entries=64)
    for i in range(2000):
        assert store.put((1, i, 1, 1, 1), bytes(16))
    store.close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        (rows,) = db.execute("SELECT count(*) FROM md5").fetchone()
    assert 64 <= rows <= 68


def test_device_and_inode_numbers_may_use_all_64_bits(tmp_path: Path) -> None:
    """device and inode numbers of 2**63 and above are stored and found exactly"""
    store = Store(tmp_path / DB_NAME)
    key = (2**64 - 1, 2**63, 5, -(10**9), 2**62)
    assert store.put(key, b"\x01" * 16)
    assert store.get(key) == b"\x01" * 16
    assert store.get((2**63 - 1, 2**63, 5, -(10**9), 2**62)) is None
    assert store.stats.errors == 0
    store.close()


def test_the_cache_directory_follows_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """ALLOY_NB_CACHE_DIR wins, then an absolute XDG_CACHE_HOME, then ~/.cache/alloy_nb"""
    monkeypatch.setenv("ALLOY_NB_CACHE_DIR", "/somewhere/mine")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert _hashcache.cache_dir() == Path("/somewhere/mine")
    monkeypatch.delenv("ALLOY_NB_CACHE_DIR")
    assert _hashcache.cache_dir() == Path("/xdg/alloy_nb")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", "/home/someone")
    assert _hashcache.cache_dir() == Path("/home/someone/.cache/alloy_nb")
