"""Where the CPU goes per file under ``upload_many``: client, sandbox API, storage, proxy.

    python benchmarks/cpu_split.py [--files 300] [--delays 0,20]

Runs the latency rig (benchmarks/_delay_rig.py: the sandbox on its own weed mini, a delay
proxy in front of both) and uploads fresh 10 KB files with ``upload_many`` at its default
workers, once per one-way delay. Prints the rate and each process's CPU time per file: their
sum is what one file costs the machine, so cores / sum is the rate the machine allows
whatever the latency (a ceiling that bench_latency.py's latency limit should be read beside).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import psutil

import alloy_nb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _delay_rig import Rig
from _timing import no_alloy_env


def cpu_by_process(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of ``pid`` and its descendants, by pid, with a short name."""
    out: dict[int, tuple[str, float]] = {}
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            out[proc.pid] = (" ".join(proc.cmdline()[:3])[-50:], times.user + times.system)
        except psutil.Error:
            continue
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--delays", default="0,20", help="one-way delays in ms, comma-separated")
    args = ap.parse_args()
    no_alloy_env()
    n = args.files
    for delay in (float(d) for d in args.delays.split(",")):
        rig = Rig(delay_ms=delay)
        try:
            root = rig.root / "client"
            root.mkdir()
            os.environ["ALLOY_NB_CACHE_DIR"] = str(root / "cache")
            paths = [root / f"f{i:05d}.bin" for i in range(n)]
            for p in paths:
                p.write_bytes(secrets.token_bytes(10_000))
            pids = [proc.pid for proc in rig._procs]
            before = {pid: cpu_by_process(pid) for pid in pids}
            cpu, wall = time.process_time(), time.perf_counter()
            with alloy_nb.Client(rig.api_key, base_url=rig.base_url) as client:
                frame = client.upload_many(paths, progress=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            after = {pid: cpu_by_process(pid) for pid in pids}
        finally:
            rig.stop()
        assert frame["error"].isna().all(), frame["error"].dropna().head()
        print(
            f"\n{delay:.0f} ms each way: {n / wall:.0f} files/s; load average "
            f"{os.getloadavg()[0]:.1f}\n| process | ms CPU per file |\n|---|---|"
        )
        total = cpu
        print(f"| this client | {cpu / n * 1e3:.2f} |")
        for pid in pids:
            for sub, (name, t1) in after[pid].items():
                spent = t1 - before[pid].get(sub, (name, 0.0))[1]
                total += spent
                if spent > 0:
                    print(f"| {name} | {spent / n * 1e3:.2f} |")
        cores = os.cpu_count() or 1
        print(
            f"| all | {total / n * 1e3:.2f} (at most {cores * n / total:.0f} files/s "
            f"on {cores} idle cores) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
