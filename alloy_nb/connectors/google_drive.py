"""Google Drive (connector ``googleDrive``): action payloads that take an s3Key.

Each builder returns exactly the fields of the execute body except ``credentialId``, which
:meth:`alloy_nb.Client.execute_action` adds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from alloy_nb._mime import guess_mime_type

__all__ = ["CONNECTOR_ID", "UPLOAD_TYPES", "display_name", "list_files", "upload_file"]

CONNECTOR_ID = "googleDrive"
UPLOAD_TYPES = ("media", "multipart", "resumable")
UploadType = Literal["media", "multipart", "resumable"]

# "{userId}_": 24 characters, usually hex; Alloy's own example key has a non-hex user part,
# so any 24 letters and digits are accepted here.
_OWNER_PREFIX = re.compile(r"^[0-9A-Za-z]{24}_")


def display_name(s3_key: str) -> str:
    """The filename inside an s3Key: ``"651e…59d_report.pdf" -> "report.pdf"``."""
    return _OWNER_PREFIX.sub("", s3_key, count=1) or s3_key


def upload_file(
    s3_key: str,
    *,
    name: str | None = None,
    mime_type: str | None = None,
    parents: Sequence[str] | None = None,
    upload_type: UploadType = "multipart",
) -> dict[str, Any]:
    """The ``uploadFile`` payload: the stored file ``s3_key`` becomes a Drive file.

    ``name`` defaults to the filename without its ``{userId}_`` prefix, ``mime_type`` is
    guessed from the name, ``parents`` are Drive folder ids (My Drive's root without).

    >>> upload_file("651eb6e11d156e0d7a42c76i_w3img.jpg", name="w3img upload")
    {'requestBody': {'metadata': {'name': 'w3img upload', 'mimeType': 'image/jpeg'}, \
's3Key': '651eb6e11d156e0d7a42c76i_w3img.jpg'}, 'queryParameters': {'uploadType': 'multipart'}}
    """
    if not isinstance(s3_key, str) or not s3_key.strip():
        raise ValueError("s3_key must be a non-empty string, e.g. the s3_key of an upload")
    if upload_type not in UPLOAD_TYPES:
        raise ValueError(f"upload_type must be one of {', '.join(UPLOAD_TYPES)}, "
                         f"not {upload_type!r}")  # fmt: skip
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError("name must be a non-empty string (or None for the file's own name)")
    if mime_type is not None and (not isinstance(mime_type, str) or "/" not in mime_type):
        raise ValueError(f"mime_type must look like 'type/subtype', not {mime_type!r}")
    if parents is not None and (
        isinstance(parents, str) or not all(isinstance(p, str) and p for p in parents)
    ):
        raise ValueError("parents must be a list of Drive folder ids, e.g. ['1AbC…']")
    file_name = name or display_name(s3_key)
    metadata: dict[str, Any] = {
        "name": file_name,
        "mimeType": mime_type or guess_mime_type(display_name(s3_key)),
    }
    if parents:
        metadata["parents"] = list(parents)
    return {
        "requestBody": {"metadata": metadata, "s3Key": s3_key},
        "queryParameters": {"uploadType": upload_type},
    }


def list_files() -> dict[str, Any]:
    """The ``listFiles`` payload (the sandbox answers with md5Checksum and size)."""
    return {"queryParameters": {"fields": "*"}}
