"""What the benchmark scripts share: a clean environment, test files, timing, peaks, and the
``# environment`` line and results table that run_all.py collects."""

from __future__ import annotations

import os
import platform
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

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


def make_file(path: Path, size: int) -> Path:
    """``size`` random-looking bytes at ``path`` (one random MiB repeated), written in MiB
    blocks so memory stays flat."""
    block = secrets.token_bytes(MiB)
    with open(path, "wb") as f:
        for start in range(0, size, MiB):
            f.write(block[: min(MiB, size - start)])
    return path


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    """Seconds each of ``reps`` calls of ``fn`` took."""
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


class Peak:
    """The peak of ``sample()`` while active, sampled every ``every`` seconds on a thread;
    ``base`` is its value on entry."""

    def __init__(self, sample: Callable[[], float], every: float = 0.05) -> None:
        self.sample, self.every = sample, every
        self.base = self.peak = sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> Peak:
        self.base = self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.base


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
