"""Typed results returned by the client."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from alloy_nb._exceptions import APIError

__all__ = ["UploadResult", "UploadTicket"]


@dataclass(frozen=True)
class UploadTicket:
    """The answer to an upload request: where to PUT, and whether the bytes are already there."""

    presigned_url: str
    md5_base64: str
    s3_key: str
    type: Literal["new", "existing"]

    def __repr__(self) -> str:  # the URL carries a signature: keep it out of logs and reprs
        return (
            f"UploadTicket(s3_key={self.s3_key!r}, type={self.type!r}, "
            f"md5_base64={self.md5_base64!r}, presigned_url='…')"
        )

    @classmethod
    def from_response(cls, payload: Any) -> UploadTicket:
        """Parse ``{"presignedUrl": {"presignedUrl", "md5", "s3Key", "type"}}``."""
        try:
            inner = payload["presignedUrl"]
            ticket = cls(
                presigned_url=str(inner["presignedUrl"]),
                md5_base64=str(inner["md5"]),
                s3_key=str(inner["s3Key"]),
                type=inner["type"],
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"unexpected upload response, missing {e}: {payload!r:.300}") from None
        if ticket.type not in ("new", "existing"):
            raise ValueError(f"unexpected upload type {ticket.type!r}")
        try:
            url = urlsplit(ticket.presigned_url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            url = urlsplit("")
        if url.scheme.lower() not in ("http", "https") or not url.hostname:
            raise APIError(
                f"the upload answer for {ticket.s3_key!r} has a presigned URL that is not an "
                f"http(s) address (scheme {url.scheme!r}); nothing was read or sent"
            )
        return ticket


@dataclass(frozen=True)
class UploadResult:
    """One uploaded (or already stored) file."""

    s3_key: str
    filename: str
    type: Literal["new", "existing"]
    size: int
    md5_hex: str
    md5_base64: str
    mime_type: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
