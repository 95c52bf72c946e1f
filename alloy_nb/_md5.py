"""Streaming MD5 and the two spellings Alloy accepts for a digest (hex and base64).

Shared by the client and the sandbox, so both sides agree on what a valid MD5 is.

>>> to_base64("2942bfabb3d05332b66eb128e0842cff")
'KUK/q7PQUzK2brEo4IQs/w=='
>>> to_hex("KUK/q7PQUzK2brEo4IQs/w==")
'2942bfabb3d05332b66eb128e0842cff'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["CHUNK_SIZE", "MD5", "hash_stream", "md5_stream", "parse_md5", "to_base64", "to_hex"]

CHUNK_SIZE = 1024 * 1024
_HEX = re.compile(r"[0-9a-fA-F]{32}")
_B64 = re.compile(r"[A-Za-z0-9+/]{22}==")


@dataclass(frozen=True)
class MD5:
    """An MD5 digest, with the hex and base64 spellings Alloy uses."""

    digest: bytes

    @property
    def hex(self) -> str:
        """Lower-case 32-character hex, as in S3 ETags."""
        return self.digest.hex()

    @property
    def base64(self) -> str:
        """24-character base64, as sent in the ``Content-MD5`` header."""
        return base64.b64encode(self.digest).decode("ascii")

    def __str__(self) -> str:
        return self.hex


def parse_md5(value: object) -> MD5:
    """Parse a 32-character hex (any case) or 24-character base64 MD5.

    Raises ``ValueError`` naming the accepted forms for anything else, including
    surrounding whitespace and base64 that does not decode to exactly 16 bytes.
    """
    if not isinstance(value, str):
        raise ValueError(
            f"md5 must be a string (32 hex characters or 24 base64 characters), "
            f"got {type(value).__name__}"
        )
    if _HEX.fullmatch(value):
        return MD5(bytes.fromhex(value))
    if _B64.fullmatch(value):
        try:
            digest = base64.b64decode(value, validate=True)
        except binascii.Error:  # pragma: no cover - the regex admits only valid base64
            digest = b""
        # 22 characters + "==" carry 132 bits; the last 4 must be zero for canonical base64.
        if len(digest) == 16 and base64.b64encode(digest).decode("ascii") == value:
            return MD5(digest)
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise ValueError(
        f"md5 {shown!r} is not an MD5: expected 32 hex characters "
        f"(e.g. '2942bfabb3d05332b66eb128e0842cff') or 24 base64 characters "
        f"(e.g. 'KUK/q7PQUzK2brEo4IQs/w==')"
    )


def to_base64(md5: str) -> str:
    """Return the base64 spelling of a hex or base64 MD5."""
    return parse_md5(md5).base64


def to_hex(md5: str) -> str:
    """Return the lower-case hex spelling of a hex or base64 MD5."""
    return parse_md5(md5).hex


def md5_stream(
    f: BinaryIO,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> MD5:
    """MD5 of a binary file object from its position to the end, in constant memory; the
    object is then rewound to where it started, so it can be uploaded next."""
    start = f.tell() if f.seekable() else None
    result = hash_stream(f, chunk_size, on_progress)
    if start is not None:
        f.seek(start)
    return result


def hash_stream(f: BinaryIO, chunk_size: int, on_progress: Callable[[int], None] | None) -> MD5:
    """MD5 of ``f`` from its position to the end (no rewinding, no cache)."""
    h = hashlib.md5(usedforsecurity=False)
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    readinto = getattr(f, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(view)
            if not n:
                break
            h.update(view[:n])
        else:
            chunk = f.read(chunk_size)
            if not chunk:
                break
            n = len(chunk)
            h.update(chunk)
        if on_progress is not None:
            on_progress(n)
    return MD5(h.digest())
