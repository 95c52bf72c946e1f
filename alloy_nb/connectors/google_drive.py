"""Google Drive (connector ``googleDrive``): action requests that take an s3Key.

Each builder returns an :class:`~alloy_nb.connectors.ActionRequest`, exactly what
:meth:`alloy_nb.Client.execute_action` takes (it adds the credential). Read as a mapping it
is the execute body's fields except ``credentialId``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from alloy_nb._mime import guess_mime_type
from alloy_nb.connectors._action import ActionRequest

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
) -> ActionRequest:
    """The ``uploadFile`` action: the stored file ``s3_key`` becomes a Drive file.

    ``name`` defaults to the filename without its ``{userId}_`` prefix, ``mime_type`` is
    guessed from the name, ``parents`` are Drive folder ids (My Drive's root without).

    >>> request = upload_file("651eb6e11d156e0d7a42c76i_w3img.jpg", name="w3img upload")
    >>> (request.connector_id, request.action_id)
    ('googleDrive', 'uploadFile')
    >>> dict(request) == {
    ...     "requestBody": {"metadata": {"name": "w3img upload", "mimeType": "image/jpeg"},
    ...                     "s3Key": "651eb6e11d156e0d7a42c76i_w3img.jpg"},
    ...     "queryParameters": {"uploadType": "multipart"},
    ... }
    True
    """
    if not isinstance(s3_key, str) or not s3_key.strip():
        raise ValueError("s3_key must be a non-empty string, e.g. the s3_key of an upload")
    if upload_type not in UPLOAD_TYPES:
        kinds = ", ".join(UPLOAD_TYPES)
        raise ValueError(f"upload_type must be one of {kinds}, not {upload_type!r}")
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
    return ActionRequest(
        CONNECTOR_ID,
        "uploadFile",
        request_body={"metadata": metadata, "s3Key": s3_key},
        query_parameters={"uploadType": upload_type},
    )


def list_files() -> ActionRequest:
    """The ``listFiles`` action (the sandbox answers with md5Checksum and size).

    >>> dict(list_files())
    {'queryParameters': {'fields': '*'}}
    """
    return ActionRequest(CONNECTOR_ID, "listFiles", query_parameters={"fields": "*"})
