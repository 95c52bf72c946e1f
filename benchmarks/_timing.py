"""What the benchmark scripts share: a clean environment, test files, timing, peaks, and the
``# environment`` line and results table that run_all.py collects."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import Peak as Peak  # one sampler and one file maker for both
from tests.helpers import make_file as make_file

MiB = 1024 * 1024
HEADER = ["| id | measure | measured | ratio | target |", "|---|---|---|---|---|"]


def no_alloy_env() -> None:
    """Benchmarks never reach a real account, whatever the shell exports: no ALLOY_* at all."""
    for name in [n for n in os.environ if n.startswith("ALLOY_")]:
        del os.environ[name]


def environment(extra: str = "") -> str:
    """The ``# environment`` line (run_all.py keeps the most detailed one printed)."""
    line = (
        f"# environment: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )
    return f"{line}, {extra}" if extra else line


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    """Seconds each of ``reps`` calls of ``fn`` took."""
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


class Table:
    """Result rows, printed as the Markdown table run_all.py reads (``| id | measure | ...``)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, id_: str, measure: str, measured: str, ratio: str, target: str) -> None:
        self.rows.append((id_, measure, measured, ratio, target))

    def print(self) -> None:
        print("\n" + "\n".join(HEADER))
        for row in self.rows:
            print("| " + " | ".join(row) + " |")
