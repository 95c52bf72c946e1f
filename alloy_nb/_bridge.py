"""Connector actions from the client: execute, unwrap, and the s3Key -> Google Drive bridge."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from alloy_nb._frames import CREDENTIAL_DTYPES, DRIVE_DTYPES, typed_frame
from alloy_nb._models import UploadResult
from alloy_nb.connectors import google_drive

if TYPE_CHECKING:
    from alloy_nb._client import Client

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def check_object_id(field: str, value: object) -> str:
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        raise ValueError(
            f"{field} must be a 24-character hex ObjectId such as '6901cf34fa3f225f1ceaa28c', "
            f"not {value!r:.40}"
        )
    return value


def unwrap_result(response: Any) -> Any:
    """The provider's answer inside an execute response: ``result``, else ``responseData``,
    else the whole body.

    >>> unwrap_result({"success": True, "result": {"id": "1x"}})
    {'id': '1x'}
    """
    if isinstance(response, dict):
        for key in ("result", "responseData"):
            if key in response:
                return response[key]
    return response


def _targets(files: Any) -> list[dict[str, Any]]:
    """Normalise what send_to_google_drive accepts into ``{s3_key, name?, mime_type?}``."""
    if isinstance(files, pd.DataFrame):
        if "s3_key" not in files.columns:
            raise ValueError(
                "the DataFrame needs an s3_key column (from list_files or upload_many)"
            )
        rows = files.to_dict("records")
        if "error" in files.columns:  # upload_many rows that failed have nothing to send
            rows = [r for r in rows if pd.isna(r.get("error"))]
        return [{"s3_key": r["s3_key"], "name": r.get("filename"), "mime_type": r.get("mime_type")}
                for r in rows]  # fmt: skip
    if isinstance(files, str | UploadResult):
        files = [files]
    out: list[dict[str, Any]] = []
    for f in files:
        if isinstance(f, UploadResult):
            out.append({"s3_key": f.s3_key, "name": f.filename, "mime_type": f.mime_type})
        elif isinstance(f, str):
            out.append({"s3_key": f, "name": None, "mime_type": None})
        else:
            raise TypeError(
                f"cannot send a {type(f).__name__} to Google Drive: pass s3Keys, UploadResults "
                "or a DataFrame from list_files()/upload_many()"
            )
    return out


def _clean(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def send_to_google_drive(
    client: Client, files: Any, credential_id: str, parents: Sequence[str] | None
) -> pd.DataFrame:
    check_object_id("credential_id", credential_id)
    rows = []
    for target in _targets(files):
        row: dict[str, Any] = {"s3_key": target["s3_key"], "drive_file_id": None,
                               "name": None, "mime_type": None, "error": None}  # fmt: skip
        try:
            payload = google_drive.upload_file(
                target["s3_key"], name=_clean(target["name"]),
                mime_type=_clean(target["mime_type"]), parents=parents,
            )  # fmt: skip
            result = unwrap_result(
                client.execute_action(
                    google_drive.CONNECTOR_ID,
                    "uploadFile",
                    credential_id=credential_id,
                    request_body=payload["requestBody"],
                    query_parameters=payload["queryParameters"],
                )
            )
            row.update(drive_file_id=result.get("id"), name=result.get("name"),
                       mime_type=result.get("mimeType"))  # fmt: skip
        except Exception as e:  # broad on purpose: reported per file; the batch goes on
            row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
    return typed_frame(rows, DRIVE_DTYPES)


def credentials_frame(payload: Any) -> pd.DataFrame:
    items: Iterable[dict[str, Any]] = payload.get("credentials", payload.get("data", []))
    rows = [
        {"credential_id": c.get("credentialId"), "name": c.get("name"), "type": c.get("type"),
         "created_at": c.get("createdAt"), "updated_at": c.get("updatedAt")}
        for c in items
    ]  # fmt: skip
    return typed_frame(rows, CREDENTIAL_DTYPES)
