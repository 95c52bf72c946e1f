"""Results and listings -> pandas DataFrames with fixed columns and dtypes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

FILE_DTYPES = {"s3_key": "string", "filename": "string", "size": "Int64"}
UPLOAD_DTYPES = {
    "source": "string",
    "s3_key": "string",
    "filename": "string",
    "type": "string",
    "size": "Int64",
    "md5_hex": "string",
    "md5_base64": "string",
    "mime_type": "string",
    "seconds": "Float64",
    "error": "string",
}
DELETE_DTYPES = {"s3_key": "string", "deleted": "boolean", "error": "string"}
DRIVE_DTYPES = {
    "s3_key": "string",
    "drive_file_id": "string",
    "name": "string",
    "mime_type": "string",
    "error": "string",
}
CREDENTIAL_DTYPES = {
    "credential_id": "string",
    "name": "string",
    "type": "string",
    "created_at": "string",
    "updated_at": "string",
}


def typed_frame(rows: Sequence[dict[str, Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    columns = {c: [r.get(c) for r in rows] for c in dtypes}
    frame: pd.DataFrame = pd.DataFrame(columns, columns=list(dtypes)).astype(dtypes)
    return frame


def files_frame(files: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Listing entries as ``s3_key, filename, size, last_modified`` (UTC), sorted by key.

    An empty listing has the same columns and dtypes.
    """
    # Columns built with their dtypes at once: faster than a plain DataFrame of the dicts.
    stamps = pd.to_datetime([str(f["lastModified"]) for f in files], utc=True, format="ISO8601")
    frame: pd.DataFrame = pd.DataFrame(
        {
            "s3_key": pd.Series([f["s3Key"] for f in files], dtype="string"),
            "filename": pd.Series([f.get("filename") for f in files], dtype="string"),
            "size": pd.Series([f.get("size") for f in files], dtype="Int64"),
            "last_modified": stamps.as_unit("ns"),
        }
    )
    if not frame["s3_key"].is_monotonic_increasing:
        frame = frame.sort_values("s3_key", kind="stable", ignore_index=True)
    return frame


def uploads_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``upload_many`` rows, one per source, in the order given."""
    return typed_frame(rows, UPLOAD_DTYPES)


def deletes_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``delete_files`` rows, one per key, in the order given."""
    return typed_frame(rows, DELETE_DTYPES)
