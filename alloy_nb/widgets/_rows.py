"""UploadPanel's rows: one dict per file, published to the browser a few times a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from alloy_nb.widgets._common import human_size

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
_REDRAW_SECONDS = 0.2

Row = dict[str, Any]


class Rows:
    """Thread-safe rows; ``publish`` gets a copy of all of them (at most every 0.2 s
    while only progress changes, at once when a stage changes)."""

    def __init__(self, publish: Callable[[list[Row]], None]) -> None:
        self.lock = threading.RLock()
        self._publish = publish
        self._rows: list[Row] = []
        self._last = 0.0

    def __len__(self) -> int:
        return len(self._rows)

    def new(self, name: str, size: int, stage: str) -> Row:
        row: Row = {"name": name, "size": size, "size_text": human_size(size), "stage": stage,
                    "done": 0, "total": size, "error": "", "note": "", "s3_key": ""}  # fmt: skip
        with self.lock:
            self._rows.append(row)
            self._redraw(force=True)
        return row

    def progress(self, row: Row, done: int, stage: str | None = None) -> None:
        with self.lock:
            if row["stage"] in FINISHED:
                return  # a late progress report must not revive a finished row
            changed = stage is not None and row["stage"] != stage
            row["done"] = done
            if stage is not None:
                row["stage"] = stage
            self._redraw(force=changed or done >= row["total"])

    def set(self, row: Row, **values: Any) -> None:
        with self.lock:
            row.update(values)
            self._redraw(force=True)

    def fail(self, row: Row, message: str) -> None:
        self.set(row, stage="failed", error=message)

    def drop_finished(self) -> None:
        with self.lock:
            self._rows = [r for r in self._rows if r["stage"] not in FINISHED]
            self._redraw(force=True)

    def _redraw(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._last >= _REDRAW_SECONDS:
            self._last = now
            self._publish([dict(r) for r in self._rows])
