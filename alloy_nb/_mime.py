"""MIME types from file names."""

from __future__ import annotations

import mimetypes

_EXTRA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".ipynb": "application/x-ipynb+json",
    ".jsonl": "application/jsonl",
}


def guess_mime_type(filename: str) -> str:
    """MIME type from the name's extension; ``application/octet-stream`` when unknown.

    >>> guess_mime_type("report.csv")
    'text/csv'
    """
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _EXTRA_TYPES.get(ext) or mimetypes.guess_type(filename)[0] or "application/octet-stream"
