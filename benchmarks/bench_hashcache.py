"""The MD5 cache (issue 15), measured side by side in one run; prints a Markdown table.

    python benchmarks/bench_hashcache.py [--size-mb 1000] [--files 1000]

H1  unchanged big file: md5_file answered by the cache vs one MD5 pass (cache=False)
H2  1,000 unchanged 10 KB files, second pass: files hashed (counted, not timed), serial and
    from 8 threads as upload_many does

Uses its own cache directory in a temporary directory (never the user's), removed at the end
with the generated files. The files are first aged past the 2 s racy margin, since a file
changed less than 2 s before it is hashed is never stored.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alloy_nb import _hashcache, md5_file

from _timing import Table, environment, make_file, timed


def age(*paths: Path) -> None:
    """Wait until every file is older than the racy margin (the rule, not a workaround)."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths)
    delay = (newest + _hashcache.RACY_MARGIN_NS - time.time_ns()) / 1e9 + 0.05
    if delay > 0:
        time.sleep(delay)


def counted(fn: Callable[[], object]) -> tuple[float, _hashcache.Stats]:
    """Seconds taken and the cache's counters for this call alone."""
    before = _hashcache.stats()
    t = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t
    after = _hashcache.stats()
    delta = {k: getattr(after, k) - getattr(before, k) for k in vars(after)}
    return seconds, _hashcache.Stats(**delta)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    table = Table()
    print(environment() + "\n")
    with tempfile.TemporaryDirectory(prefix="alloy-bench-hashcache-") as d:
        os.environ["ALLOY_NB_CACHE_DIR"] = str(Path(d) / "cache")
        os.environ.pop("ALLOY_NB_HASH_CACHE", None)
        size_mb = args.size_mb
        free_mb = shutil.disk_usage(d).free // 1_000_000
        if free_mb < 2 * size_mb + 1000:
            print(f"only {free_mb} MB free: using a 256 MB file instead of {size_mb} MB")
            size_mb = 256
        size = size_mb * 1_000_000

        # H1
        big = Path(d) / "big.bin"
        make_file(big, size)
        md5_file(big, cache=False)  # warm the page cache for the pass that is timed
        passes = timed(lambda: md5_file(big, cache=False), args.reps)
        age(big)
        _, first = counted(lambda: md5_file(big))
        assert (first.hashed, first.stored) == (1, 1), first
        hit_reps = 20
        hit_s, hits = counted(lambda: timed(lambda: md5_file(big), hit_reps))
        assert (hits.hits, hits.hashed) == (hit_reps, 0), hits
        assert md5_file(big) == md5_file(big, cache=False)
        one_hit = hit_s / hit_reps
        one_pass = statistics.median(passes)
        table.add(
            "H1",
            f"unchanged {size_mb} MB file: md5_file from the cache vs one MD5 pass",
            f"{one_hit * 1e3:.2f} ms vs {one_pass:.3f} s",
            f"{one_hit / one_pass:.5f}x",
            "<= 0.05x",
        )
        print(f"H1 passes {passes}; hit {one_hit * 1e6:.0f} us (mean of {hit_reps})")
        big.unlink()

        # H2
        small = Path(d) / "small"
        small.mkdir()
        paths = [small / f"f{i:04d}.bin" for i in range(args.files)]
        for p in paths:
            p.write_bytes(secrets.token_bytes(10_000))
        age(*paths)
        first_s, first = counted(lambda: [md5_file(p) for p in paths])
        again_s, again = counted(lambda: [md5_file(p) for p in paths])
        with ThreadPoolExecutor(max_workers=8) as pool:
            threads_s, threads = counted(lambda: list(pool.map(md5_file, paths)))
        plain_s, _ = counted(lambda: [md5_file(p, cache=False) for p in paths])
        n = len(paths)
        table.add(
            "H2",
            f"{n} unchanged 10 KB files, second pass: files hashed",
            f"{again.hashed} ({again.hits} hits; first pass hashed {first.hashed})",
            "",
            "0",
        )
        table.add(
            "H2",
            "the same from 8 threads (as upload_many): files hashed",
            f"{threads.hashed} ({threads.hits} hits, {threads.errors} cache errors)",
            "",
            "0",
        )
        table.add(
            "H2",
            f"{n} files: second pass vs first pass vs cache=False",
            f"{n / again_s:.0f} vs {n / first_s:.0f} vs {n / plain_s:.0f} files/s",
            f"{plain_s / again_s:.2f}x",
            "",
        )
        print(f"H2 first {first}; again {again}; 8 threads {threads} in {threads_s:.3f} s")

    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
