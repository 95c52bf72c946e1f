"""`make bench`: run every benchmark, print one table, keep it in benchmarks/results.md.

    python benchmarks/run_all.py [--only bench_latency,bench_hashcache]

Each script measures its rows side by side in one run (ratios, not absolute times, are what
the targets are about). P6 comes from bench_panel.py (UploadPanel in JupyterLab +
headless Chromium, both transfer paths beside Client.upload). Rows are P (client and sandbox
performance), H (MD5 cache) and L (latency), each group in number order and each script's
rows in the order it printed them.
``--only`` runs the named scripts alone and replaces just their rows in results.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from _timing import HEADER, no_alloy_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPTS = ("bench_client", "bench_sandbox", "bench_panel", "bench_hashcache", "bench_latency")
ROW = re.compile(r"\| ([A-Z])(\d+) \|")
GROUPS = "PHL"


def run(cmd: list[str]) -> str:
    print("$", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    print(out.stdout[-4000:], out.stderr[-2000:] if out.returncode else "", flush=True)
    if out.returncode:
        raise SystemExit(f"{cmd[1]} failed with {out.returncode}")
    return out.stdout


def row_id(line: str) -> str:
    m = ROW.match(line)
    assert m, line
    return m.group(1) + m.group(2)


def rows_of(text: str) -> list[str]:
    """The table rows in a script's output (``| X1 | ...``), in the order printed."""
    return [line for line in text.splitlines() if ROW.match(line)]


def ordered(rows: list[str]) -> list[str]:
    """By group (P, H, L, then any other letter) and number; stable within an id."""

    def key(line: str) -> tuple[int, str, int]:
        m = ROW.match(line)
        assert m, line
        letter = m.group(1)
        group = GROUPS.index(letter) if letter in GROUPS else len(GROUPS)
        return group, letter, int(m.group(2))

    return sorted(rows, key=key)


def merged(old: list[str], new: list[str]) -> list[str]:
    """``old`` without the ids that ``new`` measured again, plus ``new``."""
    fresh = {row_id(r) for r in new}
    return ordered([r for r in old if row_id(r) not in fresh] + new)


def environment(outputs: list[str], kept: str | None = None) -> str:
    """The most detailed ``# environment`` line printed (some also name the storage)."""
    lines = [
        line.lstrip("# ")
        for text in outputs
        for line in text.splitlines()
        if line.startswith("# environment")
    ]
    return max([*lines, kept or ""], key=len) or "environment: unknown"


def table(env: str, rows: list[str]) -> str:
    return "\n".join(["# Benchmarks", "", env, "", *HEADER, *ordered(rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help=f"comma-separated, from {', '.join(SCRIPTS)}")
    args = ap.parse_args(argv)
    no_alloy_env()
    py = sys.executable
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = set(names) - set(SCRIPTS)
    if unknown:
        ap.error(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {SCRIPTS}")
    outputs = [run([py, str(HERE / f"{name}.py")]) for name in names]
    rows = [r for text in outputs for r in rows_of(text)]
    results = HERE / "results.md"
    if args.only:
        old = results.read_text().splitlines() if results.exists() else []
        kept = next((line for line in old if line.startswith("environment")), None)
        env = environment(outputs, kept)
        rows = merged([line for line in old if ROW.match(line)], rows)
    else:
        env = environment(outputs)
    text = table(env, rows)
    print("\n" + text)
    results.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
