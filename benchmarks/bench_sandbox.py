"""Sandbox load: upload/request latency for a user with 10 files vs one with 100,000.

    python benchmarks/bench_sandbox.py [--files 100000] [--requests 2000] [--rounds 3]
                                       [--seeded DIR]

50 concurrent clients (asyncio + httpx, one connection each, in this process) send upload
requests for the same user; half ask for bytes the user already has (the dedup path: an
index lookup), half for new bytes (key choice, a reservation, presigning); every request
also needs storage to answer a ping (shared by the requests waiting for one). The user
holding 100,000 files must not be slower: dedup and ownership checks use the (user, md5)
index, never a scan of the files. P4 then lists all 100,000 files with ``list_files``.
Rounds alternate between the two users so machine drift hits both alike. A refused
request (503: storage calls queued too long) is counted, not retried.

Seeding 100,000 objects takes minutes: ``--seeded DIR`` keeps a seeded data directory
there (made on first use) and runs on a fresh copy of it each time, so runs compare alike.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pandas as pd
from botocore.config import Config

import alloy_nb.sandbox

from _timing import environment, no_alloy_env

# httpcore tries `import sniffio` on every lock it takes; without sniffio installed each try
# searches sys.path again (tens of stat calls), which made the load generator, sharing this
# process's GIL with the sandbox, the bottleneck. Recording the absence once is enough.
sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

KEY = "bench-key"
CONCURRENCY = 50


def seed(sb: alloy_nb.sandbox.Sandbox, user_id: str, n: int) -> list[str]:
    """Put n small objects straight into storage under the user's prefix; their md5s."""
    s3 = boto3.client(
        "s3",
        endpoint_url=sb.storage.endpoint_url,
        region_name=sb.storage.region,
        aws_access_key_id=sb.storage.access_key,
        aws_secret_access_key=sb.storage.secret_key,
        config=Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=32
        ),
    )

    def put(i: int) -> str:
        body = f"{user_id} file {i}".encode()
        s3.put_object(Bucket=sb.storage.bucket, Key=f"{user_id}_f{i:06d}.txt", Body=body)
        return hashlib.md5(body).hexdigest()

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(put, range(n)))


async def load(base: str, user_id: str, known: list[str], n: int) -> tuple[list[float], int]:
    """Latencies of answered requests, and how many were refused (503)."""
    headers = {
        "Authorization": f"Bearer {KEY}",
        "x-api-version": "2025-09",
        "x-alloy-userid": user_id,
    }
    latencies: list[float] = []
    refused = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    tls = ssl.create_default_context()  # loaded once, not once per client

    async def worker() -> None:
        # A client (one connection) per worker, as 50 clients would: one AsyncClient
        # sharing a 50-connection pool spends more CPU scanning its pool than the
        # sandbox spends answering (and both share this process's GIL).
        nonlocal refused
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=60, verify=tls
        ) as c:
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
                if r.status_code == 503:
                    refused += 1
                    continue
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                assert r.json()["presignedUrl"]["type"] == ("existing" if i % 2 else "new")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies, refused


def seeded_template(where: Path, n: int) -> dict[str, Any]:
    """A data directory holding a user with 10 objects and one with ``n`` (made once)."""
    marker = where / "seeded.json"
    if marker.exists():
        users: dict[str, Any] = json.loads(marker.read_text())
        if users["files"] == n:
            return users
        shutil.rmtree(where)
    with alloy_nb.sandbox.start(data_dir=where, api_keys=[KEY]) as sb:
        auth = {"Authorization": f"Bearer {KEY}", "x-api-version": "2025-09"}
        with httpx.Client(base_url=sb.base_url, headers=auth) as hc:
            small = hc.post("/users", json={"username": "ten"}).json()["userId"]
            big = hc.post("/users", json={"username": "many"}).json()["userId"]
        t = time.perf_counter()
        users = {
            "files": n,
            "small": small,
            "big": big,
            "known_small": seed(sb, small, 10),
            "known_big": seed(sb, big, n),
        }
        print(f"seeded {n + 10} objects in {time.perf_counter() - t:.0f} s")
    marker.write_text(json.dumps(users))
    return users


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
    ap.add_argument("--seeded", help="keep the seeded data directory here and reuse it")
    args = ap.parse_args()
    print(
        environment(
            f"storage: weed mini; {CONCURRENCY} concurrent clients, {args.requests} requests "
            f"per round, {args.rounds} rounds per user"
        )
        + "\n"
    )
    with tempfile.TemporaryDirectory(prefix="alloy-load-") as d:
        data = Path(d) / "data"
        seeded = Path(args.seeded) if args.seeded else Path(d) / "seeded"
        users = seeded_template(seeded, args.files)
        shutil.copytree(seeded, data, ignore=shutil.ignore_patterns("*.sock"))
        small, big = users["small"], users["big"]
        known = {small: users["known_small"], big: users["known_big"]}
        for f in data.glob("index.sqlite3*"):
            f.unlink()  # the next start rebuilds the dedup index from storage
        t = time.perf_counter()
        with alloy_nb.sandbox.start(data_dir=data, api_keys=[KEY]) as sb:
            print(f"restart with index rebuild from storage: {time.perf_counter() - t:.1f} s")
            runs: dict[str, list[tuple[float, float, float, int]]] = {"10": [], str(args.files): []}
            for _ in range(args.rounds):
                for label, user in (("10", small), (str(args.files), big)):
                    t = time.perf_counter()
                    lat, refused = asyncio.run(load(sb.base_url, user, known[user], args.requests))
                    wall = time.perf_counter() - t
                    runs[label].append((pct(lat, 0.5), pct(lat, 0.99), len(lat) / wall, refused))
            p4 = listing_to_frame(sb.base_url, big, args.rounds)
    print("\n| files held by the user | p50 | p99 | requests/s | refused (503) |")
    print("|---|---|---|---|---|")
    med = {}
    for label, rs in runs.items():
        p50 = statistics.median(r[0] for r in rs)
        p99 = statistics.median(r[1] for r in rs)
        rps = statistics.median(r[2] for r in rs)
        med[label] = p99
        spread = f"{min(r[1] for r in rs) * 1000:.0f} to {max(r[1] for r in rs) * 1000:.0f}"
        refused = sum(r[3] for r in rs)
        print(
            f"| {label} | {p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms ({spread}) | {rps:.0f} | "
            f"{refused} of {len(rs) * args.requests} |"
        )
    ratio = med[str(args.files)] / med["10"]
    print(
        f"\n| P5 | upload/request p99, {args.files:,} vs 10 files per user | "
        f"{ratio:.2f}x | <= 1.2x |"
    )
    print(p4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
