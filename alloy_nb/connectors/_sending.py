"""Stored files -> Google Drive: one ``uploadFile`` action per file, one row per file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alloy_nb._batch import batch_rows
from alloy_nb._frames import DRIVE_DTYPES, typed_frame
from alloy_nb._models import UploadResult
from alloy_nb._session import Session
from alloy_nb.connectors import google_drive
from alloy_nb.connectors._execute import execute
from alloy_nb.connectors._ids import check_object_id
from alloy_nb.connectors._results import unwrap_result

__all__ = ["send_to_google_drive"]


@dataclass(frozen=True)
class Target:
    """One stored file to send, with what is known of its name and type."""

    s3_key: str
    name: str | None = None
    mime_type: str | None = None


def _text(value: Any) -> str | None:
    """A cell as text; None for None, NaN and pd.NA."""
    missing = value is None or (pd.api.types.is_scalar(value) and pd.isna(value))
    return None if missing else str(value)


def targets(files: Any) -> list[Target]:
    """What send_to_google_drive accepts (an s3Key, an UploadResult, a list of them, or a
    DataFrame from list_files/upload_many) as targets; failed upload rows are skipped.

    >>> targets(["651eb6e11d156e0d7a42c59d_a.csv"])
    [Target(s3_key='651eb6e11d156e0d7a42c59d_a.csv', name=None, mime_type=None)]
    """
    if isinstance(files, pd.DataFrame):
        if "s3_key" not in files.columns:
            raise ValueError(
                "the DataFrame needs an s3_key column (from list_files or upload_many)"
            )
        rows = files.to_dict("records")
        if "error" in files.columns:  # upload_many rows that failed have nothing to send
            rows = [r for r in rows if pd.isna(r.get("error"))]
        return [
            Target(str(r["s3_key"]), _text(r.get("filename")), _text(r.get("mime_type")))
            for r in rows
        ]
    if isinstance(files, str | UploadResult):
        files = [files]
    out: list[Target] = []
    for f in files:
        if isinstance(f, UploadResult):
            out.append(Target(f.s3_key, f.filename, f.mime_type))
        elif isinstance(f, str):
            out.append(Target(f))
        else:
            raise TypeError(
                f"cannot send a {type(f).__name__} to Google Drive: pass s3Keys, UploadResults "
                "or a DataFrame from list_files()/upload_many()"
            )
    return out


def send_to_google_drive(
    session: Session, files: Any, credential_id: str, parents: Sequence[str] | None
) -> pd.DataFrame:
    """One row per file: ``s3_key, drive_file_id, name, mime_type, error``."""
    check_object_id("credential_id", credential_id)

    def send(target: Target) -> dict[str, Any]:
        request = google_drive.upload_file(
            target.s3_key, name=target.name, mime_type=target.mime_type, parents=parents
        )
        result = unwrap_result(execute(session, request, credential_id))
        return {
            "drive_file_id": result.get("id"),
            "name": result.get("name"),
            "mime_type": result.get("mimeType"),
        }

    rows = batch_rows(targets(files), send, label=lambda t: {"s3_key": t.s3_key})
    return typed_frame(rows, DRIVE_DTYPES)
