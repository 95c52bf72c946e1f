"""The File Management calls: upload requests, listings (bounded), deletes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alloy_nb._batch import batch_rows
from alloy_nb._constants import MAX_LIST_PAGES
from alloy_nb._exceptions import APIError
from alloy_nb._md5 import to_hex
from alloy_nb._models import UploadTicket
from alloy_nb._session import Session, segment

__all__ = ["delete_file", "delete_files", "list_entries", "request_upload"]


def request_upload(session: Session, filename: str, mime_type: str, md5: str) -> UploadTicket:
    """Ask for a presigned PUT URL for these bytes (``md5`` in hex or base64)."""
    body = {"filename": filename, "mimeType": mime_type, "md5": to_hex(md5)}
    context = f"upload request for {filename}"
    payload = session.call("POST", "/connectors/files/upload/request", json=body, context=context)
    return UploadTicket.from_response(payload)


def list_entries(session: Session, page_size: int | None) -> list[dict[str, Any]]:
    """Every listing entry, following ``nextCursor`` pages; an :class:`APIError` when a
    cursor repeats or the pages do not end within ``MAX_LIST_PAGES``."""
    files: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_LIST_PAGES):
        params: dict[str, Any] = {}
        if page_size is not None:
            params["limit"] = page_size
        if cursor:
            params["cursor"] = cursor
        page = session.call("GET", "/connectors/files/list", params=params, context="listing files")
        files.extend(page.get("files", []))
        cursor = page.get("nextCursor")
        if not cursor:
            return files
        if not isinstance(cursor, str):
            raise APIError(f"listing files: the page cursor {cursor!r:.60} is not text; stopped")
        if cursor in seen:
            raise APIError(
                f"listing files: the server sent the page cursor {cursor!r:.60} again; the "
                "listing would never end, so it was stopped"
            )
        seen.add(cursor)
    raise APIError(
        f"listing files: still more pages after {MAX_LIST_PAGES:,}; the listing was stopped "
        "(a server whose pages never end)"
    )


def delete_file(session: Session, s3_key: str) -> None:
    """Delete one of the caller's files; a foreign or missing key raises NotFoundError."""
    session.call("DELETE", "/connectors/files/" + segment(s3_key), context=f"deleting {s3_key}")


def delete_files(session: Session, keys: Iterable[str], max_workers: int) -> list[dict[str, Any]]:
    """Delete concurrently; one row (``s3_key, deleted, error``) per key, in order."""

    def delete(key: str) -> dict[str, bool]:
        delete_file(session, key)
        return {"deleted": True}

    return batch_rows(
        [str(k) for k in keys],
        delete,
        label=lambda key: {"s3_key": key},
        failed={"deleted": False},
        max_workers=max_workers,
    )
