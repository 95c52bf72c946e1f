"""The relay: a browser file's bytes arrive at the kernel in windowed chunks, into a spool.

The spool is an already-unlinked temporary file (``O_TMPFILE`` on Linux), so a kernel that
is killed mid-transfer leaves nothing on disk. Chunks are written at their offsets as they
arrive (a few are in flight at once, so they may come out of order).

:func:`put_as_it_arrives` PUTs the bytes to storage while they arrive, under the URL signed
for the browser's MD5, so storage itself checks them (BadDigest if the file changed on the
way) and the kernel hashes nothing. If that PUT fails for any other reason, the complete
spool goes through ``Client.upload`` (retries, URL renewal) as a :class:`SpoolReader`, which
hashes its first pass and refuses bytes that differ from the browser's MD5.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

import httpx

from alloy_nb._client import Client
from alloy_nb._exceptions import IntegrityError
from alloy_nb._models import UploadTicket

# Chunk size and window the browser is told to use: 3 x 8 MiB in flight keeps the websocket
# busy and bounds what waits in the kernel's queue (its RSS); chunks stay under Jupyter's
# default cap of 10 MiB per message. Fewer, larger messages cost the browser much less
# (each one also makes the kernel report busy, then idle).
RELAY_CHUNK = 8 * 1024 * 1024
RELAY_WINDOW = 3
PUT_PIECE = 1024 * 1024  # what the relay's PUT reads from the spool at a time
STALL_SECONDS = 120.0

CHANGED = "the file changed while it was uploading; nothing was stored. Drop it again."


class RelayError(Exception):
    """The relay cannot go on (bad chunk, browser gone, panel closed)."""


class Spool:
    """Bytes of one file, written at their offsets; readers wait for what has not arrived."""

    def __init__(self, size: int, md5_hex: str, *, stall_seconds: float = STALL_SECONDS) -> None:
        self.size = size
        self.md5_hex = md5_hex
        self.stall_seconds = stall_seconds
        self._file = tempfile.TemporaryFile(prefix="alloy-nb-spool-")  # noqa: SIM115 - closed by close()
        self._fd = self._file.fileno()
        self._io_lock = threading.Lock()
        self._closed = False
        self._cond = threading.Condition()
        self._claimed: dict[int, int] = {}  # offset -> length of chunks not yet contiguous
        self._written: set[int] = set()  # offsets among them whose bytes are on disk
        self.contiguous = 0  # every byte before this has arrived
        self._error: str | None = None
        self._last_arrival = time.monotonic()

    def write(self, offset: int, data: memoryview) -> int:
        """Store one chunk; returns how many leading bytes have now arrived."""
        n = data.nbytes
        with self._cond:
            if self._error is not None:
                raise RelayError(self._error)
            overlaps = any(o < offset + n and offset < o + m for o, m in self._claimed.items())
            if n == 0 or offset < self.contiguous or offset + n > self.size or overlaps:
                raise RelayError(
                    f"a chunk at byte {offset} ({n} bytes) does not fit a {self.size}-byte file "
                    "or was sent twice"
                )
            self._claimed[offset] = n  # before the write, so a twin is refused meanwhile
        self._pwrite(data, offset)
        with self._cond:
            self._written.add(offset)
            while self.contiguous in self._written:
                self._written.discard(self.contiguous)
                self.contiguous += self._claimed.pop(self.contiguous)
            self._last_arrival = time.monotonic()
            self._cond.notify_all()
            return self.contiguous

    def abort(self, why: str) -> None:
        """Wake every reader with ``why`` as the error."""
        with self._cond:
            if self._error is None:
                self._error = why
            self._cond.notify_all()

    def close(self) -> None:
        self.abort("the relay was closed")
        with self._io_lock:
            self._closed = True
            self._file.close()

    def wait_for(self, end: int) -> int:
        """Block until bytes ``[0, end)`` have arrived (or the relay failed or stalled);
        returns how many leading bytes have arrived."""
        with self._cond:
            while self.contiguous < end:
                if self._error is not None:
                    raise RelayError(self._error)
                idle = time.monotonic() - self._last_arrival
                if idle >= self.stall_seconds:
                    self._error = f"the browser sent nothing for {int(idle)} s; drop the file again"
                    raise RelayError(self._error)
                self._cond.wait(min(1.0, self.stall_seconds - idle))
            return self.contiguous

    # All file I/O holds _io_lock and checks _closed, so a chunk arriving as the panel
    # closes can never write through a closed (or reused) descriptor.
    def _pwrite(self, data: memoryview, offset: int) -> None:
        with self._io_lock:
            if self._closed:
                raise RelayError(self._error or "the relay is closed")
            if not hasattr(os, "pwrite"):  # no positional I/O (Windows)
                self._file.seek(offset)
                self._file.write(data)
                return
            while data.nbytes:  # a short write is unusual but allowed
                written = os.pwrite(self._fd, data, offset)
                data, offset = data[written:], offset + written

    def pread_into(self, buffer: memoryview, position: int) -> int:
        with self._io_lock:
            if self._closed:
                raise RelayError(self._error or "the relay is closed")
            if not hasattr(os, "preadv"):
                self._file.seek(position)
                return self._file.readinto(buffer)
            return os.preadv(self._fd, [buffer], position)

    def pread(self, n: int, position: int) -> bytes:
        """Up to ``n`` bytes from ``position``, straight into a new bytes object."""
        with self._io_lock:
            if self._closed:
                raise RelayError(self._error or "the relay is closed")
            if not hasattr(os, "pread"):
                self._file.seek(position)
                return self._file.read(n)
            return os.pread(self._fd, n, position)

    def reader(self) -> SpoolReader:
        return SpoolReader(self)


class SpoolReader(io.RawIOBase):
    """A seekable file of ``spool.size`` bytes whose reads wait for the bytes to arrive.

    The first pass from byte 0 to the end is hashed; if that MD5 is not the browser's, the
    read that reaches the end raises :class:`IntegrityError` (the file changed on the way).
    """

    def __init__(self, spool: Spool) -> None:
        super().__init__()
        self._spool = spool
        self._pos = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hashed = 0

    name = "<relayed file>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._spool.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = self._spool.size
        want = min(len(view), size - self._pos)
        if want <= 0:
            self._check_digest()
            return 0
        self._spool.wait_for(self._pos + want)
        n = self._spool.pread_into(view[:want], self._pos)
        if self._pos == self._hashed:  # the first pass: hash the bytes as they go by
            self._md5.update(view[:n])
            self._hashed += n
        self._pos += n
        return n

    def _check_digest(self) -> None:
        if self._hashed == self._spool.size and self._md5.hexdigest() != self._spool.md5_hex:
            raise IntegrityError(CHANGED)


def _arriving(spool: Spool) -> Iterator[bytes]:
    """The spool's bytes in order, each piece yielded as soon as it has arrived."""
    position = 0
    while position < spool.size:
        arrived = spool.wait_for(position + 1)
        piece = spool.pread(min(PUT_PIECE, arrived - position), position)
        if not piece:
            raise RelayError("the spool ended before the file did")
        position += len(piece)
        yield piece


def put_as_it_arrives(
    http: httpx.Client, url: str, md5_base64: str, mime: str, spool: Spool
) -> httpx.Response:
    """One PUT of the spool to a presigned URL, streamed while the chunks still arrive.

    Raises :class:`RelayError` if the relay fails (the request is then abandoned, and storage
    keeps nothing of it); connection errors from httpx propagate.
    """
    headers = {"Content-Type": mime, "Content-MD5": md5_base64, "Content-Length": str(spool.size)}
    response = http.put(url, content=_arriving(spool), headers=headers)
    response.read()
    return response


def relay_put(
    http: httpx.Client,
    client: Client,
    ticket: UploadTicket,
    name: str,
    mime: str,
    spool: Spool,
    on_progress: Callable[[int], None],
) -> None:
    """Store the relayed file: :func:`put_as_it_arrives`, and if that PUT fails for another
    reason than BadDigest (a reset, an expired URL), ``Client.upload`` of the whole spool
    once every byte is here (retries, renewal). Raises :class:`RelayError` (``CHANGED``)."""
    try:  # storage checks the bytes against the browser's MD5 as they stream past
        response = put_as_it_arrives(http, ticket.presigned_url, ticket.md5_base64, mime, spool)
        failed = "" if response.is_success else response.text
    except httpx.HTTPError as e:
        failed = str(e)
    if "BadDigest" in failed:
        raise RelayError(CHANGED)
    if failed:
        spool.wait_for(spool.size)
        on_progress(0)
        client.upload(
            cast(BinaryIO, spool.reader()),
            filename=name,
            mime_type=mime,
            progress=False,
            on_progress=lambda done, _total: on_progress(done),
        )
