"""Filenames -> s3Keys: ``{userId}_{sanitized filename}``, with the extension kept.

The sanitiser is deterministic and idempotent. Its output never contains a path
separator, a control character or a character that needs care in URLs, is never empty,
``.`` or ``..``, never starts with another ``{24-hex}_`` prefix (so a key can never look
like another user's key), and is at most :data:`MAX_NAME_BYTES` UTF-8 bytes long.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

MAX_NAME_BYTES = 200
MAX_EXTENSION_BYTES = 16
FALLBACK_NAME = "file"

_USER_ID = re.compile(r"[0-9a-f]{24}")
_USER_PREFIX = re.compile(r"^(?:[0-9a-fA-F]{24}_)+")
# Characters that are legal in S3 keys but make URLs, shells or file systems ambiguous.
_UNSAFE = re.compile(r'[<>:"|?*#%{}\[\]`\\/]')
_SPACES = re.compile(r"\s+")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def is_user_id(value: str) -> bool:
    """True for a 24-character lower-case hex ObjectId."""
    return _USER_ID.fullmatch(value) is not None


def user_prefix(user_id: str) -> str:
    """The prefix every one of the user's keys starts with."""
    return f"{user_id}_"


def filename_of(s3_key: str) -> str:
    """The filename shown in listings: the key without its ``{userId}_`` prefix."""
    return s3_key.split("_", 1)[1] if "_" in s3_key else s3_key


def sanitize_filename(name: str) -> str:
    """Turn any client-supplied filename into a safe, bounded key suffix.

    >>> sanitize_filename("../../etc/passwd")
    'passwd'
    >>> sanitize_filename("651eb6e11d156e0d7a42c59d_report 2024.pdf")
    'report 2024.pdf'
    """
    current = name
    while True:
        cleaned = _one_pass(current)
        if cleaned == current:
            return cleaned
        current = cleaned


def _one_pass(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = _UNSAFE.sub("_", name)
    name = _SPACES.sub(" ", name)
    name = name.strip(" .")
    name = _USER_PREFIX.sub("", name)
    name = _truncate(name)
    return name or FALLBACK_NAME


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, ext = split_extension(name)
    if len(ext.encode("utf-8")) > MAX_EXTENSION_BYTES:
        stem, ext = name, ""
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return (stem or FALLBACK_NAME) + ext


def split_extension(name: str) -> tuple[str, str]:
    """``"a.tar.gz" -> ("a.tar", ".gz")``; a name without a dot has no extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, "." + ext


def candidate_keys(user_id: str, filename: str, md5_hex: str) -> Iterator[str]:
    """Keys to try, in order, for a file of this name and content.

    The plain ``{userId}_{name}`` comes first; when it holds (or is promised to) other
    bytes, the name gets a short and then a full MD5 suffix before the extension, then a
    counter, so different content under one name never shares a key.
    """
    name = sanitize_filename(filename)
    prefix = user_prefix(user_id)
    yield prefix + name
    stem, ext = split_extension(name)
    yield f"{prefix}{stem}-{md5_hex[:8]}{ext}"
    for n in range(1, 1000):
        counter = "" if n == 1 else f"-{n}"
        yield f"{prefix}{stem}-{md5_hex}{counter}{ext}"
    raise RuntimeError(f"no free key for {name!r}")  # pragma: no cover - needs 1000 collisions
