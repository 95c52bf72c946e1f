"""Sandbox load: upload/request latency for a user with 10 files vs one with 100,000.

    python benchmarks/bench_sandbox.py [--files 100000] [--requests 2000] [--rounds 3]

50 concurrent clients (asyncio + httpx) send upload requests for the same user; half ask
for bytes the user already has (the dedup path: index lookup + a HEAD to storage), half for
new bytes (key choice + a promise + presigning). The user holding 100,000 files must not be
slower: dedup and ownership checks use the (user, md5) index, never a scan of the files.
Rounds alternate between the two users so machine drift hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
import pandas as pd
from botocore.config import Config

import alloy_nb.sandbox

from _timing import no_alloy_env

KEY = "bench-key"
CONCURRENCY = 50


def seed(sb: alloy_nb.sandbox.Sandbox, user_id: str, n: int) -> list[str]:
    """Put n small objects straight into storage under the user's prefix; their md5s."""
    s3 = boto3.client(
        "s3", endpoint_url=sb.storage.endpoint_url, region_name=sb.storage.region,
        aws_access_key_id=sb.storage.access_key, aws_secret_access_key=sb.storage.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      max_pool_connections=32),
    )  # fmt: skip

    def put(i: int) -> str:
        body = f"{user_id} file {i}".encode()
        s3.put_object(Bucket=sb.storage.bucket, Key=f"{user_id}_f{i:06d}.txt", Body=body)
        return hashlib.md5(body).hexdigest()

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(put, range(n)))


async def load(base: str, user_id: str, known: list[str], n: int) -> list[float]:
    headers = {"Authorization": f"Bearer {KEY}", "x-api-version": "2025-09",
               "x-alloy-userid": user_id}  # fmt: skip
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                if i % 2:
                    md5, name = secrets.choice(known), f"again-{i}.txt"
                else:
                    md5, name = secrets.token_hex(16), f"new-{i}-{secrets.token_hex(4)}.txt"
                t = time.perf_counter()
                r = await c.post(
                    "/connectors/files/upload/request",
                    json={"filename": name, "mimeType": "text/plain", "md5": md5},
                )
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                assert r.json()["presignedUrl"]["type"] == ("existing" if i % 2 else "new")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def listing_to_frame(base: str, user_id: str, reps: int) -> str:
    """P4: the same listing JSON -> list_files' typed DataFrame vs a plain pandas.DataFrame."""
    from alloy_nb import Client
    from alloy_nb._frames import files_frame

    with Client(KEY, base_url=base, user_id=user_id) as client:
        t = time.perf_counter()
        frame = client.list_files()
        end_to_end = time.perf_counter() - t
        raw: list[dict[str, object]] = []
        cursor = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client._session.call(  # the same API call, without the frame
                "GET", "/connectors/files/list", params=params, context="benchmark listing"
            )
            raw += page["files"]
            cursor = page.get("nextCursor")
            if not cursor:
                break
    ours, plain = [], []
    for _ in range(reps * 3):
        t = time.perf_counter()
        files_frame(raw)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        pd.DataFrame(raw)
        plain.append(time.perf_counter() - t)
    a, b = statistics.median(ours), statistics.median(plain)
    return (
        f"| P4 | {len(frame):,} listed files -> DataFrame: typed frame vs plain pandas.DataFrame "
        f"(whole list_files call: {end_to_end:.1f} s) | {a * 1000:.0f} vs {b * 1000:.0f} ms | "
        f"{a / b:.2f}x | <= 1.5x |"
    )


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main() -> int:
    no_alloy_env()
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"# environment: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"storage: weed mini; {CONCURRENCY} concurrent clients, {args.requests} requests "
          f"per round, {args.rounds} rounds per user\n")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="alloy-load-") as d:
        data = Path(d)
        with alloy_nb.sandbox.start(data_dir=data, api_keys=[KEY]) as sb:
            auth = {"Authorization": f"Bearer {KEY}", "x-api-version": "2025-09"}
            hc = httpx.Client(base_url=sb.base_url, headers=auth)
            small = hc.post("/users", json={"username": "ten"}).json()["userId"]
            big = hc.post("/users", json={"username": "many"}).json()["userId"]
            t = time.perf_counter()
            known = {small: seed(sb, small, 10), big: seed(sb, big, args.files)}
            print(f"seeded {args.files + 10} objects in {time.perf_counter() - t:.0f} s")
        for f in data.glob("index.sqlite3*"):
            f.unlink()  # the next start rebuilds the dedup index from storage
        t = time.perf_counter()
        with alloy_nb.sandbox.start(data_dir=data, api_keys=[KEY]) as sb:
            print(f"restart with index rebuild from storage: {time.perf_counter() - t:.1f} s")
            runs: dict[str, list[tuple[float, float, float]]] = {"10": [], str(args.files): []}
            for _ in range(args.rounds):
                for label, user in (("10", small), (str(args.files), big)):
                    t = time.perf_counter()
                    lat = asyncio.run(load(sb.base_url, user, known[user], args.requests))
                    wall = time.perf_counter() - t
                    runs[label].append((pct(lat, 0.5), pct(lat, 0.99), len(lat) / wall))
            p4 = listing_to_frame(sb.base_url, big, args.rounds)
    print("\n| files held by the user | p50 | p99 | requests/s |\n|---|---|---|---|")
    med = {}
    for label, rs in runs.items():
        p50 = statistics.median(r[0] for r in rs)
        p99 = statistics.median(r[1] for r in rs)
        rps = statistics.median(r[2] for r in rs)
        med[label] = p99
        spread = f"{min(r[1] for r in rs) * 1000:.0f} to {max(r[1] for r in rs) * 1000:.0f}"
        print(f"| {label} | {p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms ({spread}) | {rps:.0f} |")
    ratio = med[str(args.files)] / med["10"]
    print(
        f"\n| P5 | upload/request p99, {args.files:,} vs 10 files per user | "
        f"{ratio:.2f}x | <= 1.2x |"
    )
    print(p4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
