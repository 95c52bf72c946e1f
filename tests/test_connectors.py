"""Connector payload builders, tested as data against the documented request."""

from __future__ import annotations

import pytest

import alloy_nb
from alloy_nb.connectors import google_drive

# reference/alloy-api.md §3.3, the File Management guide's Google Drive example.
DOCUMENTED = {
    "credentialId": "6901cf34fa3f225f1ceaa28c",
    "requestBody": {
        "metadata": {"name": "w3img upload", "mimeType": "image/jpeg"},
        "s3Key": "651eb6e11d156e0d7a42c76i_w3img.jpg",
    },
    "queryParameters": {"uploadType": "multipart"},
}


def test_upload_file_matches_the_documented_example_field_for_field() -> None:
    payload = google_drive.upload_file("651eb6e11d156e0d7a42c76i_w3img.jpg", name="w3img upload")
    expected = {k: v for k, v in DOCUMENTED.items() if k != "credentialId"}
    assert payload == expected
    assert list(payload) == ["requestBody", "queryParameters"]
    assert list(payload["requestBody"]) == ["metadata", "s3Key"]


def test_defaults_come_from_the_key() -> None:
    p = google_drive.upload_file("651eb6e11d156e0d7a42c59d_Q3 report.pdf")
    assert p["requestBody"]["metadata"] == {"name": "Q3 report.pdf", "mimeType": "application/pdf"}
    assert p["queryParameters"] == {"uploadType": "multipart"}
    odd = google_drive.upload_file("no-prefix.bin")
    assert odd["requestBody"]["metadata"] == {
        "name": "no-prefix.bin",
        "mimeType": "application/octet-stream",
    }


def test_parents_mime_type_and_upload_type() -> None:
    p = google_drive.upload_file(
        "651eb6e11d156e0d7a42c59d_a.csv",
        mime_type="text/plain",
        parents=["f1", "f2"],
        upload_type="resumable",
    )
    assert p["requestBody"]["metadata"] == {
        "name": "a.csv",
        "mimeType": "text/plain",
        "parents": ["f1", "f2"],
    }
    assert p["queryParameters"] == {"uploadType": "resumable"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"s3_key": ""}, "s3_key"),
        ({"s3_key": None}, "s3_key"),
        (
            {"s3_key": "k", "upload_type": "chunked"},
            "upload_type must be one of media, multipart, resumable",
        ),
        ({"s3_key": "k", "name": ""}, "name"),
        ({"s3_key": "k", "mime_type": "jpeg"}, "mime_type"),
        ({"s3_key": "k", "parents": "folder"}, "parents"),
        ({"s3_key": "k", "parents": ["ok", ""]}, "parents"),
    ],
)
def test_invalid_inputs_are_refused(kwargs: dict, match: str) -> None:
    s3_key = kwargs.pop("s3_key")
    with pytest.raises(ValueError, match=match):
        google_drive.upload_file(s3_key, **kwargs)


def test_builders_are_pure() -> None:
    parents = ["f1"]
    p = google_drive.upload_file("651eb6e11d156e0d7a42c59d_a.csv", parents=parents)
    p["requestBody"]["metadata"]["parents"].append("mutated")
    assert parents == ["f1"]
    assert google_drive.upload_file("x_a.csv") == google_drive.upload_file("x_a.csv")


@pytest.mark.parametrize(
    ("response", "inner"),
    [
        ({"success": True, "result": {"id": "1"}}, {"id": "1"}),
        ({"executionId": "e", "status": "completed", "responseData": {"id": "2"}}, {"id": "2"}),
        ({"id": "3"}, {"id": "3"}),
        ([1, 2], [1, 2]),
    ],
)
def test_unwrap_result(response: object, inner: object) -> None:
    assert alloy_nb.unwrap_result(response) == inner
