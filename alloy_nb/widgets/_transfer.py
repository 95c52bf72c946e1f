"""Files dropped in the browser: dedup by the browser's MD5, then a direct PUT or the relay.

The browser hashes the file and sends only ``{name, size, mime, md5}``. The kernel asks
Alloy (the API key never leaves the kernel). ``existing`` ends it with no byte moved. For
``new`` the browser gets the presigned URL in a custom message (never a synced trait, so
never saved in the notebook) and PUTs the file itself; the kernel then asks Alloy again and
only ``existing`` (proof the bytes arrived) makes the row "done". If the browser cannot
reach storage at all (CORS refused, network), ``transfer="auto"`` falls back to the relay,
but only after the kernel has ruled out what else a status 0 can hide (:mod:`._diagnosis`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import httpx

from alloy_nb._client import Client
from alloy_nb._constants import MAX_SINGLE_PUT_BYTES
from alloy_nb._md5 import MD5, parse_md5
from alloy_nb._mime import guess_mime_type
from alloy_nb._models import UploadResult, UploadTicket
from alloy_nb.widgets._common import human_size, plain_error
from alloy_nb.widgets._diagnosis import next_step, read_error_message, s3_message, url_expired
from alloy_nb.widgets._relay import CHANGED, RELAY_CHUNK, RELAY_WINDOW, RelayError, Spool, relay_put
from alloy_nb.widgets._rows import Row, Rows

TRANSFERS = ("auto", "direct", "relay")
Finish = Callable[[Row, "UploadResult | None", "str | None"], None]

DIRECT = "direct to storage"
FALLBACK = "through the kernel: storage refused the browser (CORS or network)"
RELAYED = "through the kernel (transfer='relay')"
STORED = "nothing sent: Alloy already has these bytes"
NO_FALLBACK = (
    "the browser could not reach storage (CORS or network), and transfer='direct' does "
    "not fall back to sending through the kernel"
)


@dataclass
class BrowserFile:
    id: str
    name: str
    size: int
    mime: str
    row: Row
    started: float
    md5: MD5 | None = None
    renewed: bool = False
    put_pending: bool = False  # a URL was handed out and its PUT result not yet reported
    ticket: UploadTicket | None = None
    spool: Spool | None = None
    finished: bool = False


class Transfers:
    """The kernel's half of the browser protocol, one :class:`BrowserFile` per dropped file.

    Blocking work (API calls, the relay's upload) runs on ``pool``; relay chunks are
    written on the thread that receives them, which is what paces the browser's window.
    """

    def __init__(
        self,
        client: Client,
        rows: Rows,
        send: Callable[[dict[str, Any]], None],
        pool: Executor,
        finish: Finish,
        *,
        transfer: str,
        http: httpx.Client,
    ) -> None:
        if transfer not in TRANSFERS:
            raise ValueError(f"transfer={transfer!r}: use one of {', '.join(TRANSFERS)}")
        self.client, self.rows, self.send, self.pool = client, rows, send, pool
        self.http = http  # for the relay's PUT to a presigned URL (no API key involved)
        self.finish, self.transfer = finish, transfer
        self._files: dict[str, BrowserFile] = {}
        self._lock = threading.Lock()

    # ---- messages from the browser ----

    def add(self, content: dict[str, Any]) -> None:
        file_id, size = str(content["id"]), int(content.get("size", -1))
        name = str(content.get("name") or "upload").replace("\\", "/").rsplit("/", 1)[-1]
        mime = str(content.get("mime") or "") or guess_mime_type(name)
        f = BrowserFile(
            file_id, name, size, mime, self.rows.new(name, size, "hashing"), time.monotonic()
        )
        with self._lock:
            self._files[file_id] = f
        if size < 0:
            self._fail(f, "the browser did not say how big the file is")
        elif size > MAX_SINGLE_PUT_BYTES:
            self._fail(f, f"{human_size(size)} is over the 5 GiB one upload can carry")

    def progress(self, content: dict[str, Any]) -> None:
        f = self._get(content)
        if f is not None and str(content.get("stage")) in ("hashing", "uploading"):
            self.rows.progress(f.row, int(content.get("done", 0)), str(content["stage"]))

    def hashed(self, content: dict[str, Any]) -> None:
        f = self._get(content)
        if f is None or f.finished or f.md5 is not None:  # a second "hashed" is ignored
            return
        try:
            f.md5 = parse_md5(content.get("md5"))
        except ValueError as e:
            self._fail(f, str(e))
            return
        self.rows.set(f.row, stage="checking", done=0)
        self._run(f, self._check)

    def put_result(self, content: dict[str, Any]) -> None:
        f = self._get(content)
        if f is not None and not f.finished and f.put_pending:
            f.put_pending = False
            status, body = int(content.get("status", 0)), str(content.get("body") or "")
            readable = content.get("readable") is not False  # absent: the browser did not look
            self._run(f, lambda f: self._after_put(f, status, body, readable))

    def chunk(self, content: dict[str, Any], buffers: list[Any]) -> None:
        f = self._get(content)
        if f is None or f.spool is None:
            if f is not None:
                self._fail(f, "the browser sent bytes before the kernel asked for them")
            else:
                self.send({"type": "finished", "id": str(content.get("id"))})
            return
        try:
            if len(buffers) != 1:
                raise RelayError("a chunk arrived without its bytes")
            arrived = f.spool.write(int(content["offset"]), memoryview(buffers[0]).cast("B"))
        except (RelayError, OSError, KeyError, ValueError, TypeError) as e:
            f.spool.abort(str(e))
            self._fail(f, str(e))
            return
        self.rows.progress(f.row, arrived, "sending")
        self.send({"type": "ack", "id": f.id, "offset": content["offset"]})

    def browser_error(self, content: dict[str, Any]) -> None:
        f = self._get(content)
        if f is not None and not f.finished:
            changed = read_error_message(content.get("kind"))
            self._fail(f, changed or f"the browser could not read the file: {content.get('error')}")

    def close(self) -> None:
        with self._lock:
            files = list(self._files.values())
            self._files.clear()
        for f in files:
            if f.spool is not None:
                f.spool.close()

    # ---- the steps (on the pool) ----

    def _check(self, f: BrowserFile) -> None:
        assert f.md5 is not None
        ticket = f.ticket = self.client.request_upload(f.name, f.mime, f.md5.hex)
        if ticket.type == "existing":
            self._done(f, ticket, "existing")
        elif self.transfer == "relay":
            self._relay(f, RELAYED)
        else:
            self._send_put(f, ticket)

    def _send_put(self, f: BrowserFile, ticket: UploadTicket) -> None:
        f.ticket, f.put_pending = ticket, True
        self.rows.set(f.row, stage="uploading", done=0, note=DIRECT)
        put = {"type": "put", "id": f.id, "url": ticket.presigned_url}
        self.send(put | {"md5": ticket.md5_base64, "mime": f.mime})

    def _after_put(self, f: BrowserFile, status: int, body: str, readable: bool) -> None:
        assert f.md5 is not None
        if 200 <= status < 300:
            self._confirm(f)
        elif status == 0:
            self._diagnose(f, readable)
        elif "BadDigest" in body:
            self._fail(f, CHANGED)
        elif status == 403 and "expired" in body.lower() and not f.renewed:
            # a URL outlived its hour (a slow hash, a sleeping laptop): renewed once
            self._renew(f, self.client.request_upload(f.name, f.mime, f.md5.hex))
        else:
            self._fail(f, f"storage refused the upload ({status}): {s3_message(body)}")

    def _renew(self, f: BrowserFile, ticket: UploadTicket) -> None:
        f.renewed = True
        if ticket.type == "existing":  # stored meanwhile (the same bytes, from elsewhere)
            self._done(f, ticket, "existing")
        else:
            self._send_put(f, ticket)

    def _diagnose(self, f: BrowserFile, readable: bool) -> None:
        """A PUT without a readable answer: relay only if storage is really out of reach."""
        assert f.md5 is not None
        assert f.ticket is not None
        ticket = self.client.request_upload(f.name, f.mime, f.md5.hex)
        step = next_step(
            readable=readable,
            alloy_says=ticket.type,
            renewed=f.renewed,
            expired=url_expired(f.ticket.presigned_url),
            transfer=self.transfer,
        )
        if step == "changed":
            self._fail(f, CHANGED)
        elif step == "stored":
            self._done(f, ticket, "new")
        elif step == "renew":
            self._renew(f, ticket)
        elif step == "relay":
            f.ticket = ticket  # a fresh URL for the relay's PUT
            self._relay(f, FALLBACK)
        else:
            self._fail(f, NO_FALLBACK)

    def _relay(self, f: BrowserFile, note: str) -> None:
        assert f.md5 is not None
        assert f.ticket is not None
        spool = f.spool = Spool(f.size, f.md5.hex)
        self.rows.set(f.row, stage="sending", done=0, note=note)
        self.send({"type": "relay", "id": f.id, "chunk": RELAY_CHUNK, "window": RELAY_WINDOW})

        def progress(done: int) -> None:
            self.rows.progress(f.row, done, "uploading")

        try:
            relay_put(self.http, self.client, f.ticket, f.name, f.mime, spool, progress)
        finally:
            spool.close()
        self._confirm(f)

    def _confirm(self, f: BrowserFile) -> None:
        assert f.md5 is not None
        self.rows.set(f.row, stage="confirming", done=f.size)
        ticket = self.client.request_upload(f.name, f.mime, f.md5.hex)
        if ticket.type == "existing":
            self._done(f, ticket, "new")
        else:
            self._fail(f, "storage does not have the file after the upload; drop it again")

    # ---- endings ----

    def _run(self, f: BrowserFile, step: Callable[[BrowserFile], None]) -> None:
        def guarded() -> None:
            try:
                step(f)
            except Exception as e:  # broad on purpose: the row says it in plain words
                self._fail(f, str(e) if isinstance(e, RelayError) else plain_error(e))

        self.pool.submit(guarded)

    def _done(self, f: BrowserFile, ticket: UploadTicket, kind: str) -> None:
        assert f.md5 is not None
        result = UploadResult(
            s3_key=ticket.s3_key,
            filename=f.name,
            type="new" if kind == "new" else "existing",
            size=f.size,
            md5_hex=f.md5.hex,
            md5_base64=f.md5.base64,
            mime_type=f.mime,
            seconds=round(time.monotonic() - f.started, 6),
        )
        stage = "done" if kind == "new" else "already stored"
        if self._end(f):
            note = f.row["note"] if kind == "new" else STORED
            self.rows.set(f.row, stage=stage, done=f.size, s3_key=ticket.s3_key, note=note)
            self.finish(f.row, result, None)

    def _fail(self, f: BrowserFile, message: str) -> None:
        if self._end(f):
            if f.spool is not None:
                f.spool.abort(message)
            self.rows.fail(f.row, message)
            self.finish(f.row, None, message)

    def _end(self, f: BrowserFile) -> bool:
        """Mark ``f`` finished exactly once and tell the browser to free its slot."""
        with self._lock:
            if f.finished:
                return False
            f.finished = True
            self._files.pop(f.id, None)
        self.send({"type": "finished", "id": f.id})
        return True

    def _get(self, content: dict[str, Any]) -> BrowserFile | None:
        with self._lock:
            return self._files.get(str(content.get("id")))
