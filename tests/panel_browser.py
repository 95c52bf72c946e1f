"""A stand-in for UploadPanel's JavaScript, for tests without a browser.

It speaks the panel's message protocol exactly as upload_panel.js does (add, hashed,
put-result, windowed chunks) and does the browser's part for real: the PUT goes to the
sandbox's storage with httpx, the MD5 is computed from the bytes.
"""

from __future__ import annotations

import hashlib
import queue
import secrets
import threading
import time
from collections import defaultdict
from typing import Any

import httpx

from alloy_nb import Client, UploadPanel

FINISHED = ("done", "already stored", "failed")
MiB = 1024 * 1024
CHUNK = 2 * MiB  # a chunk size the tests send (the kernel takes any size the browser picks)


class FakeBrowser:
    def __init__(self, panel: UploadPanel, http: httpx.Client | None = None) -> None:
        self.panel = panel
        self.http = http or httpx.Client(timeout=60)
        self.sent: list[dict[str, Any]] = []  # everything the kernel sent, in order
        self.puts = 0  # PUTs this "browser" sent to storage
        self.chunk_bytes = 0  # file bytes this "browser" sent to the kernel
        self._inbox: dict[str, queue.Queue[dict[str, Any]]] = defaultdict(queue.Queue)
        self._lock = threading.Lock()
        panel.send = self._receive

    def _receive(self, content: dict[str, Any], buffers: Any = None) -> None:
        with self._lock:
            self.sent.append(content)
            box = self._inbox[str(content.get("id"))]
        box.put(content)

    def message(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        self.panel._handle_custom_msg(content, buffers or [])

    def next(self, file_id: str, timeout: float = 30) -> dict[str, Any]:
        with self._lock:
            box = self._inbox[file_id]
        return box.get(timeout=timeout)

    def add(self, name: str, size: int, mime: str = "") -> str:
        file_id = secrets.token_hex(4)
        self.message({"type": "add", "id": file_id, "name": name, "size": size, "mime": mime})
        return file_id

    def drop(
        self,
        name: str,
        data: bytes,
        *,
        put_status: int | None = None,
        put_data: bytes | None = None,
        order: str = "forward",
        hashed_as: bytes | None = None,
    ) -> str:
        """Drop ``data`` as the JavaScript would, until the kernel says the file is finished.

        ``put_status`` pretends the PUT never got a readable answer (0) instead of sending
        it; ``put_data`` PUTs other bytes than were hashed; ``order="reverse"`` sends each
        window of relay chunks last first; ``hashed_as`` reports the MD5 of other bytes.
        """
        file_id = self.add(name, len(data))
        md5 = hashlib.md5(data if hashed_as is None else hashed_as).hexdigest()
        self.message({"type": "progress", "id": file_id, "stage": "hashing", "done": len(data)})
        self.message({"type": "hashed", "id": file_id, "md5": md5})
        while True:
            msg = self.next(file_id)
            if msg["type"] == "finished":
                return file_id
            if msg["type"] == "put":
                if put_status is not None:
                    self.message({"type": "put-result", "id": file_id, "status": put_status})
                    continue
                self.puts += 1
                r = self.http.put(
                    msg["url"],
                    content=data if put_data is None else put_data,
                    headers={"Content-Type": msg["mime"], "Content-MD5": msg["md5"]},
                )
                self.message(
                    {
                        "type": "put-result",
                        "id": file_id,
                        "status": r.status_code,
                        "body": r.text[:4000],
                    }
                )
            elif msg["type"] == "relay":
                self.relay(file_id, data, msg["chunk"], msg["window"], order)

    def relay(self, file_id: str, data: bytes, chunk: int, window: int, order: str) -> None:
        offsets = list(range(0, len(data), chunk))
        for start in range(0, len(offsets), window):
            batch = offsets[start : start + window]
            for offset in reversed(batch) if order == "reverse" else batch:
                piece = data[offset : offset + chunk]
                self.chunk_bytes += len(piece)
                self.message(
                    {"type": "chunk", "id": file_id, "offset": offset}, [memoryview(piece)]
                )
            for _ in batch:
                msg = self.next(file_id)
                if msg["type"] != "ack":  # the kernel ended the file early
                    self._inbox[file_id].put(msg)
                    return

    def close(self) -> None:
        self.http.close()


def stored(client: Client, name: str, data: bytes) -> bool:
    """True when Alloy says exactly these bytes are stored (asked under another name)."""
    md5 = hashlib.md5(data).hexdigest()
    return client.request_upload("probe-" + name, "application/octet-stream", md5).type == (
        "existing"
    )


def spy_uploads(client: Client) -> list[dict[str, Any]]:
    """Record the keyword arguments of every ``client.upload`` call (the relay's fallback)."""
    calls: list[dict[str, Any]] = []
    real = client.upload

    def upload(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    client.upload = upload  # type: ignore[method-assign]
    return calls


def types(browser: FakeBrowser, file_id: str) -> list[str]:
    """The kinds of message the kernel sent about one file, acks left out."""
    return [m["type"] for m in browser.sent if m.get("id") == file_id and m["type"] != "ack"]


def wait_rows(panel: UploadPanel, n: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = panel.rows
        if len(rows) >= n and all(r["stage"] in FINISHED for r in rows[:n]):
            return rows
        time.sleep(0.02)
    raise AssertionError(f"rows did not finish: {panel.rows}")
