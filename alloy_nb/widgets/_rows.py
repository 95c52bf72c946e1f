"""UploadPanel's rows: one dict per file, published to the browser a few times a second.

Each row carries its speed and time left (averaged over its current stage) while bytes
move, and a batch (the files added while others were still running) ends with a summary:
how many were stored, already stored or failed, the bytes sent and the seconds it took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alloy_nb.widgets._common import human_size, n_files

# What a row's "stage" can say, in the order a file meets them.
STAGES = (
    "hashing",  # the browser (or the kernel, for a kernel path) computes the MD5
    "checking",  # the kernel asks Alloy whether those bytes are stored
    "uploading",  # bytes go to storage: from the browser (direct) or from the kernel
    "sending",  # relay: bytes go from the browser to the kernel's spool
    "confirming",  # the kernel asks Alloy again: "existing" proves the bytes arrived
    "done",
    "already stored",
    "failed",
)
FINISHED = ("done", "already stored", "failed")
MOVING = ("hashing", "uploading", "sending")  # stages that report bytes, so have a speed
_REDRAW_SECONDS = 0.2
_RATE_AFTER = 0.3  # seconds of a stage before its speed means anything

Row = dict[str, Any]


def duration(seconds: float) -> str:
    """``75 -> "1 min 15 s"``: how long, to the second (a minute and up: to the minute)."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@dataclass(frozen=True)
class Summary:
    """What one batch came to."""

    done: int
    stored: int
    failed: int
    sent: int  # bytes of the files stored by this batch ("done")
    seconds: float

    @property
    def text(self) -> str:
        files = n_files(self.done + self.stored + self.failed)
        return (
            f"Last batch, {files}: {self.done} done, {self.stored} already stored, "
            f"{self.failed} failed; "
            f"{human_size(self.sent)} sent in {self.seconds:.1f} s."
        )


class Rows:
    """Thread-safe rows; ``publish`` gets a copy of all of them (at most every 0.2 s
    while only progress changes, at once when a stage changes). ``summarize`` gets each
    batch's :class:`Summary` when its last file finishes, and ``None`` when a batch starts."""

    def __init__(
        self,
        publish: Callable[[list[Row]], None],
        summarize: Callable[[Summary | None], None] = lambda _s: None,
    ) -> None:
        self.lock = threading.RLock()
        self._publish, self._summarize = publish, summarize
        self._rows: list[Row] = []
        self._batch: list[Row] = []
        self._batch_started = 0.0
        self._last = 0.0

    def __len__(self) -> int:
        return len(self._rows)

    def new(self, name: str, size: int, stage: str) -> Row:
        row: Row = {
            "name": name,
            "size": size,
            "size_text": human_size(size),
            "stage": stage,
            "done": 0,
            "total": size,
            "error": "",
            "note": "",
            "s3_key": "",
            "rate": "",
            "left": "",
        }
        with self.lock:
            if not any(r["stage"] not in FINISHED for r in self._batch):
                self._batch, self._batch_started = [], time.monotonic()
                self._summarize(None)
            self._start_stage(row)
            self._rows.append(row)
            self._batch.append(row)
            self._redraw(force=True)
        return row

    def progress(self, row: Row, done: int, stage: str | None = None) -> None:
        with self.lock:
            if row["stage"] in FINISHED:
                return  # a late progress report must not revive a finished row
            changed = stage is not None and row["stage"] != stage
            row["done"] = done
            if changed:
                row["stage"] = stage
                self._start_stage(row)
            self._pace(row)
            self._redraw(force=changed or done >= row["total"])

    def set(self, row: Row, **values: Any) -> None:
        with self.lock:
            stage = row["stage"]
            row.update(values)
            if row["stage"] != stage:
                self._start_stage(row)
            self._redraw(force=True)
            if row["stage"] in FINISHED and stage not in FINISHED:
                self._batch_finished()

    def fail(self, row: Row, message: str) -> None:
        self.set(row, stage="failed", error=message)

    def drop_finished(self) -> None:
        with self.lock:
            self._rows = [r for r in self._rows if r["stage"] not in FINISHED]
            self._redraw(force=True)

    # ---- speed, time left, summary ----

    def _start_stage(self, row: Row) -> None:
        row["_since"], row["_from"] = time.monotonic(), row["done"]
        row["rate"] = row["left"] = ""

    def _pace(self, row: Row) -> None:
        elapsed = time.monotonic() - row["_since"]
        moved = row["done"] - row["_from"]
        if row["stage"] not in MOVING or elapsed < _RATE_AFTER or moved <= 0:
            return
        rate = moved / elapsed
        row["rate"] = f"{human_size(int(rate))}/s"
        row["left"] = f"{duration(max(0, row['total'] - row['done']) / rate)} left"

    def _batch_finished(self) -> None:
        batch = self._batch
        if not batch or any(r["stage"] not in FINISHED for r in batch):
            return
        count = {stage: sum(r["stage"] == stage for r in batch) for stage in FINISHED}
        sent = sum(r["size"] for r in batch if r["stage"] == "done")
        self._summarize(
            Summary(
                count["done"],
                count["already stored"],
                count["failed"],
                sent,
                time.monotonic() - self._batch_started,
            )
        )

    def _redraw(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._last >= _REDRAW_SECONDS:
            self._last = now
            self._publish([{k: v for k, v in r.items() if k[0] != "_"} for r in self._rows])
