"""UploadPanel: files from the browser (in acknowledged chunks) or the kernel, into Alloy."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anywidget
import pandas as pd
import traitlets

from alloy_nb._client import Client
from alloy_nb._frames import UPLOAD_DTYPES, typed_frame
from alloy_nb._models import UploadResult
from alloy_nb.widgets._common import default_client, human_size, plain_error

STAGES = ("sending", "hashing", "uploading", "done", "already stored", "failed")
_REDRAW_SECONDS = 0.2


@dataclass
class _Incoming:
    """A file arriving from the browser, spooled to disk chunk by chunk."""

    name: str
    size: int
    mime: str
    path: Path
    file: BinaryIO
    received: int = 0
    row: dict[str, Any] = field(default_factory=dict)


class UploadPanel(anywidget.AnyWidget):
    """Drop files (any size) or name paths on the kernel; each is uploaded with the Client.

    Browser files travel to the kernel in 2 MiB messages, each acknowledged before the
    next, into a temporary spool file: nothing is held in memory, so there is no 10 MB
    wall. Every file gets a row with its stage and progress.

    Example::

        >>> panel = alloy_nb.UploadPanel()          # doctest: +SKIP
        >>> panel.on_upload(lambda r: print(r.s3_key))
        >>> panel.results                           # a DataFrame, one row per finished file
    """

    _esm = Path(__file__).parent / "upload_panel.js"
    _css = Path(__file__).parent / "panels.css"
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, client: Client | None = None, *, max_workers: int = 2) -> None:
        super().__init__()
        self._client = client if client is not None else default_client()
        self._lock = threading.RLock()
        self._incoming: dict[str, _Incoming] = {}
        self._rows: list[dict[str, Any]] = []
        self._results: list[dict[str, Any]] = []
        self._callbacks: list[Callable[[UploadResult], None]] = []
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="alloy-upload")
        self._spool_dir = Path(tempfile.mkdtemp(prefix="alloy-nb-spool-"))
        self._last_draw = 0.0
        self.on_msg(self._on_browser_message)

    def __repr__(self) -> str:  # the text a saved notebook shows where widgets don't render
        return f"alloy_nb.UploadPanel({len(self._rows)} file(s))"

    # ---- public ----

    @property
    def results(self) -> pd.DataFrame:
        """One row per finished file (as ``Client.upload_many``), failures in ``error``."""
        with self._lock:
            return typed_frame(list(self._results), UPLOAD_DTYPES)

    def on_upload(self, callback: Callable[[UploadResult], None]) -> None:
        """Call ``callback(result)`` after each file is stored (or found already stored)."""
        self._callbacks.append(callback)

    def upload_paths(self, pattern: str) -> list[str]:
        """Upload files on the kernel's filesystem matching a path or glob; returns them."""
        pattern = os.path.expanduser(pattern.strip())
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matches:
            self._say(f"No file matches {pattern!r} on the kernel's filesystem.")
            return []
        self._say("")
        for p in matches:
            row = self._new_row(os.path.basename(p), os.path.getsize(p), "hashing")
            self._pool.submit(self._upload, Path(p), row, None, False)
        return matches

    def reset(self) -> None:
        """Forget finished rows and results (uploads in flight keep their rows)."""
        with self._lock:
            self._rows = [
                r for r in self._rows if r["stage"] not in ("done", "already stored", "failed")
            ]
            self._results.clear()
            self.message = ""
            self._redraw(force=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for inc in self._incoming.values():
                inc.file.close()
            self._incoming.clear()
        shutil.rmtree(self._spool_dir, ignore_errors=True)
        super().close()

    # ---- browser protocol ----

    def _on_browser_message(
        self, _widget: Any, content: dict[str, Any], buffers: list[Any]
    ) -> None:
        kind = content.get("type")
        try:
            if kind == "begin":
                self._begin(content)
            elif kind == "chunk":
                self._chunk(content, buffers)
            elif kind == "end":
                self._end(str(content.get("id")))
            elif kind == "paths":
                self.upload_paths(str(content.get("pattern", "")))
            elif kind == "reset":
                self.reset()
        except Exception as e:  # broad on purpose: shown in the panel, never a silent traceback
            self._say(plain_error(e))

    def _begin(self, content: dict[str, Any]) -> None:
        file_id, name = str(content["id"]), os.path.basename(str(content.get("name") or "upload"))
        size = int(content.get("size", 0))
        path = self._spool_dir / f"{len(self._incoming)}-{file_id}"
        row = self._new_row(name, size, "sending")
        spool = open(path, "wb")  # noqa: SIM115 - stays open across chunk messages; closed at end
        inc = _Incoming(name, size, str(content.get("mime") or ""), path, spool, row=row)
        with self._lock:
            self._incoming[file_id] = inc
        self.send({"type": "ack", "id": file_id, "offset": 0})

    def _chunk(self, content: dict[str, Any], buffers: list[Any]) -> None:
        file_id = str(content["id"])
        inc = self._incoming.get(file_id)
        if inc is None or not buffers or int(content.get("offset", -1)) != inc.received:
            self._refuse(file_id, int(content.get("offset", 0)), "the file arrived out of order")
            return
        data = memoryview(buffers[0]).cast("B")
        inc.file.write(data)
        inc.received += data.nbytes
        self._progress(inc.row, inc.received, inc.size)
        self.send({"type": "ack", "id": file_id, "offset": inc.received})

    def _end(self, file_id: str) -> None:
        with self._lock:
            inc = self._incoming.pop(file_id, None)
        if inc is None:
            return
        inc.file.close()
        if inc.received != inc.size:
            self._fail(inc.row, f"only {inc.received} of {inc.size} bytes arrived")
            inc.path.unlink(missing_ok=True)
            return
        self._set(inc.row, stage="hashing", done=0)
        self._pool.submit(self._upload, inc.path, inc.row, inc.mime or None, True)

    def _refuse(self, file_id: str, offset: int, why: str) -> None:
        with self._lock:
            inc = self._incoming.pop(file_id, None)
        if inc is not None:
            inc.file.close()
            inc.path.unlink(missing_ok=True)
            self._fail(inc.row, why)
        self.send({"type": "refused", "id": file_id, "offset": offset})

    # ---- the upload itself (a worker thread) ----

    def _upload(self, path: Path, row: dict[str, Any], mime: str | None, spooled: bool) -> None:
        try:
            result = self._client.upload(
                path, filename=row["name"], mime_type=mime, progress=False,
                on_hash_progress=lambda d, t: self._progress(row, d, t, "hashing"),
                on_progress=lambda d, t: self._progress(row, d, t, "uploading"),
            )  # fmt: skip
        except Exception as e:  # broad on purpose: the row shows it in plain words
            self._fail(row, plain_error(e))
            with self._lock:
                self._results.append({"source": row["name"], "error": plain_error(e)})
            return
        finally:
            if spooled:
                path.unlink(missing_ok=True)
        stage = "done" if result.type == "new" else "already stored"
        self._set(row, stage=stage, done=result.size, total=result.size, s3_key=result.s3_key)
        with self._lock:
            self._results.append({"source": row["name"], **result.to_dict(), "error": None})
        for callback in list(self._callbacks):
            try:
                callback(result)
            except Exception as e:  # broad on purpose: a user's callback must not break the panel
                self._say(f"on_upload callback failed: {plain_error(e)}")

    # ---- rows ----

    def _new_row(self, name: str, size: int, stage: str) -> dict[str, Any]:
        row = {"name": name, "size": size, "size_text": human_size(size), "stage": stage,
               "done": 0, "total": size, "error": ""}  # fmt: skip
        with self._lock:
            self._rows.append(row)
            self._redraw(force=True)
        return row

    def _progress(
        self, row: dict[str, Any], done: int, total: int, stage: str | None = None
    ) -> None:
        with self._lock:
            changed = stage is not None and row["stage"] != stage
            row.update(done=done, total=total, **({"stage": stage} if stage else {}))
            self._redraw(force=changed or done >= total)

    def _set(self, row: dict[str, Any], **values: Any) -> None:
        with self._lock:
            row.update(values)
            self._redraw(force=True)

    def _fail(self, row: dict[str, Any], message: str) -> None:
        self._set(row, stage="failed", error=message)

    def _say(self, message: str) -> None:
        self.message = message

    def _redraw(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._last_draw >= _REDRAW_SECONDS:
            self._last_draw = now
            self.rows = [dict(r) for r in self._rows]
