"""The upload pipeline: streamed MD5 -> upload request -> (skip if existing) -> streamed PUT.

It receives a :class:`~alloy_nb._session.Session` (transport, settings), not the Client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from alloy_nb._batch import batch_rows
from alloy_nb._constants import MAX_SINGLE_PUT_BYTES
from alloy_nb._exceptions import (
    APIStatusError,
    FileTooLargeError,
    IntegrityError,
    PermissionDeniedError,
    make_status_error,
)
from alloy_nb._files import request_upload
from alloy_nb._hashcache import cached_md5
from alloy_nb._md5 import CHUNK_SIZE, MD5
from alloy_nb._mime import guess_mime_type
from alloy_nb._models import UploadResult, UploadTicket
from alloy_nb._progress import bar, progress_enabled
from alloy_nb._session import Session
from alloy_nb._sources import OpenedSource, describe, open_source

ProgressHook = Callable[[int, int], None]


def upload_one(
    session: Session,
    source: Any,
    *,
    filename: str | None,
    mime_type: str | None,
    progress: bool,
    on_progress: ProgressHook | None = None,
    on_hash_progress: ProgressHook | None = None,
) -> UploadResult:
    started = time.monotonic()
    bars = progress_enabled(progress)
    with open_source(source, filename) as src:
        if src.size > MAX_SINGLE_PUT_BYTES:
            raise FileTooLargeError(
                f"{src.filename} is {src.size:,} bytes; one upload carries at most "
                f"{MAX_SINGLE_PUT_BYTES:,} bytes (5 GiB). Split the file, or ask Alloy about "
                "multipart uploads"
            )
        mime = mime_type or guess_mime_type(src.filename)
        with bar(bars, src.size, f"hashing {src.filename}") as shown:
            src.file.seek(src.start)
            md5 = cached_md5(
                src.file,
                on_progress=_Progress(shown, on_hash_progress, src.size).add,
                enabled=session.hash_cache if src.from_path else False,
                # Zeroing a 1 MiB buffer for a 10 KB file cost more than hashing it; the
                # 64 KiB floor keeps a file that grows after it was measured from being
                # read in tiny pieces.
                chunk_size=min(CHUNK_SIZE, max(64 * 1024, src.size + 1)),
            )
        ticket = request_upload(session, src.filename, mime, md5.hex)
        if ticket.type == "new":
            with bar(bars, src.size, f"uploading {src.filename}") as shown:
                ticket = _put_with_renewal(session, ticket, src, mime, md5, shown, on_progress)
        elif on_progress is not None:
            on_progress(src.size, src.size)
    return UploadResult(
        s3_key=ticket.s3_key,
        filename=src.filename,
        type=ticket.type,
        size=src.size,
        md5_hex=md5.hex,
        md5_base64=md5.base64,
        mime_type=mime,
        seconds=round(time.monotonic() - started, 6),
    )


class _Progress:
    """Bytes done so far (hashed, or sent in the current PUT attempt), mirrored to the bar
    and the hook."""

    def __init__(self, bar: Callable[[int], None], hook: ProgressHook | None, total: int):
        self.bar, self.hook, self.total, self.done = bar, hook, total, 0

    def add(self, n: int) -> None:
        self.done += n
        self.bar(n)
        if self.hook is not None:
            self.hook(self.done, self.total)

    def reset(self) -> None:
        """A retry starts the body again: take back what the failed attempt showed."""
        if self.done:
            self.bar(-self.done)
            self.done = 0


def _stream(src: OpenedSource, sent: _Progress) -> Iterator[bytes]:
    """Exactly ``src.size`` bytes from ``src.start``, in chunks; restartable by calling again."""
    sent.reset()
    src.file.seek(src.start)
    remaining = src.size
    while remaining:
        chunk = src.file.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise IntegrityError(
                f"{src.filename} became shorter while it was uploading; nothing was stored",
                filename=src.filename,
            )
        remaining -= len(chunk)
        sent.add(len(chunk))
        yield chunk


def _is_expired(error: APIStatusError) -> bool:
    return isinstance(error, PermissionDeniedError) and "expired" in error.message.lower()


def _put_with_renewal(
    session: Session,
    ticket: UploadTicket,
    src: OpenedSource,
    mime: str,
    md5: MD5,
    shown: Callable[[int], None],
    on_progress: ProgressHook | None,
) -> UploadTicket:
    """PUT the bytes; if the URL expired on the way, ask for a new one once and PUT again."""
    for renewal in (False, True):
        if renewal:
            ticket = request_upload(session, src.filename, mime, md5.hex)
            if ticket.type == "existing":
                return ticket
        sent = _Progress(shown, on_progress, src.size)
        response = session.send(
            "PUT",
            ticket.presigned_url,
            content=lambda sent=sent: _stream(src, sent),  # type: ignore[misc]
            headers={
                "Content-Type": mime,
                "Content-MD5": ticket.md5_base64,
                "Content-Length": str(src.size),
            },
        )
        if response.is_success:
            return ticket
        error = make_status_error(response, context=f"upload of {src.filename}")
        if error.code == "BadDigest":
            raise IntegrityError(
                f"storage rejected {src.filename}: its bytes changed after they were hashed "
                f"(Content-MD5 mismatch). Nothing was stored; upload it again.",
                filename=src.filename,
            ) from error
        if not (_is_expired(error) and not renewal):
            raise error
    raise AssertionError("unreachable")  # pragma: no cover


def upload_many(
    session: Session, sources: Iterable[Any], *, max_workers: int, progress: bool
) -> list[dict[str, Any]]:
    """Upload concurrently over the session's one ``httpx.Client``; one row per source."""
    items = list(sources)

    def upload(source: Any) -> dict[str, Any]:
        result = upload_one(session, source, filename=None, mime_type=None, progress=False)
        return result.to_dict()

    with bar(progress_enabled(progress), len(items), "uploading", unit="file") as tick:
        return batch_rows(
            items,
            upload,
            label=lambda source: {"source": describe(source)},
            max_workers=max_workers,
            done=tick,
        )
