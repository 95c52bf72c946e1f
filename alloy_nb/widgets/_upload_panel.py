"""UploadPanel: files dropped in the browser, or paths on the kernel, into Alloy."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anywidget
import httpx
import pandas as pd
import traitlets

from alloy_nb._client import Client
from alloy_nb._frames import UPLOAD_DTYPES, typed_frame
from alloy_nb._models import UploadResult
from alloy_nb.widgets._common import default_client, plain_error
from alloy_nb.widgets._paths import find_paths
from alloy_nb.widgets._rows import STAGES, Row, Rows, Summary
from alloy_nb.widgets._transfer import TRANSFERS, Transfers

__all__ = ["STAGES", "TRANSFERS", "UploadPanel"]

_STATIC = Path(__file__).parent / "static"


class UploadPanel(anywidget.AnyWidget):
    """Drop files (any size) or name paths on the kernel; each is stored in Alloy once.

    A dropped file is hashed in the browser; only its name, size, type and MD5 reach the
    kernel, which asks Alloy whether those bytes are stored ("already stored": nothing
    moves). Otherwise the browser PUTs the file straight to storage with the presigned URL
    the kernel hands it (the API key stays in the kernel), and the kernel asks Alloy again
    to confirm the bytes arrived. If storage refuses the browser (CORS, network), the file
    goes through the kernel instead, in acknowledged chunks into an unlinked spool file.

    Each row shows percent, speed and time left while bytes move, then the s3Key; each
    batch ends with :attr:`summary`. The path box (Enter submits) takes a file, a folder or
    a glob on the kernel (:meth:`upload_paths`).

    Args:
        client: defaults to :func:`alloy_nb.connect`.
        transfer: ``"auto"`` (direct, falling back to the kernel), ``"direct"`` (never
            through the kernel) or ``"relay"`` (always through the kernel).
        parallel: how many dropped files the browser hashes and sends at once.
        max_workers: threads for kernel-path uploads and API calls.

    Example, against a sandbox of its own (in a notebook, end the cell with ``panel``):

    >>> import alloy_nb, alloy_nb.sandbox
    >>> with (
    ...     alloy_nb.sandbox.start() as sb,
    ...     alloy_nb.Client(sb.api_key, base_url=sb.base_url) as client,
    ... ):
    ...     panel = UploadPanel(client)
    ...     panel.on_upload(lambda result: print(result.filename, result.type))
    ...     print(len(panel.results), "finished so far")  # a DataFrame, a row per file
    ...     panel.close()
    0 finished so far
    """

    _esm = _STATIC / "upload_panel.js"
    _css = Path(__file__).parent / "panels.css"
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    # The last batch's outcome: text, done, stored, failed, bytes, seconds ({} while running).
    summary = traitlets.Dict().tag(sync=True)
    parallel = traitlets.Int(3).tag(sync=True)
    # The widget's own comm id: the browser asks the kernel whether it still has that comm
    # before it sends files (after a restart by anyone, it has not).
    _comm_ref = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        client: Client | None = None,
        *,
        transfer: str = "auto",
        parallel: int = 3,
        max_workers: int = 2,
    ) -> None:
        if transfer not in TRANSFERS:  # checked before a widget (a comm) exists
            raise ValueError(f"transfer={transfer!r}: use one of {', '.join(TRANSFERS)}")
        if parallel < 1 or max_workers < 1:
            raise ValueError("parallel and max_workers must be at least 1")
        super().__init__(parallel=parallel)
        self._comm_ref = self.model_id
        self._client = client if client is not None else default_client()
        self._lock = threading.RLock()
        self._rows = Rows(self._publish, self._summarize)
        self._results: list[dict[str, Any]] = []
        self._callbacks: list[Callable[[UploadResult], None]] = []
        # Each dropped file in flight may hold a thread (the relay waits for its bytes).
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers + parallel, thread_name_prefix="alloy-upload"
        )
        self._http = httpx.Client(timeout=httpx.Timeout(60, connect=10))
        self._transfers = Transfers(
            self._client,
            self._rows,
            self._to_browser,
            self._pool,
            self._finish,
            transfer=transfer,
            http=self._http,
        )
        t = self._transfers
        self._handlers: dict[str, Callable[[dict[str, Any]], object]] = {
            "add": t.add,
            "progress": t.progress,
            "hashed": t.hashed,
            "put-result": t.put_result,
            "browser-error": t.browser_error,
            "paths": lambda c: self.upload_paths(str(c.get("pattern", ""))),
            "reset": lambda _c: self.reset(),
        }
        self.on_msg(self._on_browser_message)

    def __repr__(self) -> str:  # the text a saved notebook shows where widgets don't render
        return f"alloy_nb.UploadPanel({len(self._rows)} file(s))"

    # ---- public ----

    @property
    def transfer(self) -> str:
        """How dropped files travel: ``"auto"``, ``"direct"`` or ``"relay"``."""
        return self._transfers.transfer

    @property
    def results(self) -> pd.DataFrame:
        """One row per finished file (as ``Client.upload_many``), failures in ``error``."""
        with self._lock:
            return typed_frame(list(self._results), UPLOAD_DTYPES)

    def on_upload(self, callback: Callable[[UploadResult], None]) -> None:
        """Call ``callback(result)`` after each file is stored (or found already stored)."""
        self._callbacks.append(callback)

    def upload_paths(self, pattern: str) -> list[str]:
        """Upload the files a path, folder or glob names on the kernel; returns them.

        A folder uploads the regular files under it (hidden ones left out); the panel
        says how many ("12 files from data/"), or plainly that nothing matched.
        """
        found = find_paths(pattern)
        for p in found.files:
            row = self._rows.new(os.path.basename(p), os.path.getsize(p), "hashing")
            self._pool.submit(self._upload_path, Path(p), row)
        self._say(found.message)  # after the rows: a new batch clears the last one's words
        return found.files

    def reset(self) -> None:
        """Forget finished rows and results (uploads in flight keep their rows)."""
        with self._lock:
            self._results.clear()
        self.message = ""
        self.summary = {}
        self._rows.drop_finished()

    def close(self) -> None:
        if hasattr(self, "_transfers"):  # not when __init__ refused its arguments
            self._transfers.close()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._http.close()
        super().close()

    # ---- browser protocol ----

    def _on_browser_message(
        self, _widget: Any, content: dict[str, Any], buffers: list[Any]
    ) -> None:
        kind = str(content.get("type"))
        try:
            if kind == "chunk":  # the hot path of the relay
                self._transfers.chunk(content, buffers)
                return
            if kind == "add":  # tells the browser this kernel still holds the panel
                self._to_browser({"type": "added", "file": str(content.get("id"))})
            if kind in self._handlers:
                self._handlers[kind](content)
        except Exception as e:  # broad on purpose: shown in the panel, never a silent traceback
            self._say(plain_error(e))

    # ---- kernel paths (a worker thread) ----

    def _upload_path(self, path: Path, row: Row) -> None:
        try:
            result = self._client.upload(
                path,
                filename=row["name"],
                progress=False,
                on_hash_progress=lambda d, _t: self._rows.progress(row, d, "hashing"),
                on_progress=lambda d, _t: self._rows.progress(row, d, "uploading"),
            )
        except Exception as e:  # broad on purpose: the row shows it in plain words
            self._rows.fail(row, plain_error(e))
            self._finish(row, None, plain_error(e))
            return
        stage = "done" if result.type == "new" else "already stored"
        self._rows.set(row, stage=stage, done=result.size, s3_key=result.s3_key)
        self._finish(row, result, None)

    # ---- results ----

    def _finish(self, row: Row, result: UploadResult | None, error: str | None) -> None:
        with self._lock:
            if result is None:
                self._results.append({"source": row["name"], "error": error})
            else:
                self._results.append({"source": row["name"], **result.to_dict(), "error": None})
        if result is None:
            return
        for callback in list(self._callbacks):
            try:
                callback(result)
            except Exception as e:  # broad on purpose: a user's callback must not break the panel
                self._say(f"on_upload callback failed: {plain_error(e)}")

    def _to_browser(self, content: dict[str, Any]) -> None:
        self.send(content)

    def _publish(self, rows: list[Row]) -> None:
        self.rows = rows

    def _summarize(self, summary: Summary | None) -> None:
        if summary is None:  # a new batch: the last one's summary and words are old news
            self.summary, self.message = {}, ""
            return
        self.summary = {
            "text": summary.text,
            "done": summary.done,
            "stored": summary.stored,
            "failed": summary.failed,
            "bytes": summary.sent,
            "seconds": round(summary.seconds, 3),
        }

    def _say(self, message: str) -> None:
        self.message = message
