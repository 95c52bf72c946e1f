"""s3Key -> Google Drive, end to end against the sandbox's emulated Drive."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client

from .helpers import Api, random_bytes

EXECUTE = "/connectors/googleDrive/actions/{}/execute"


def credential(api: Api, connector: str = "googleDrive") -> str:
    r = api.call("POST", f"/connectors/{connector}/credentials", json={})
    assert r.status_code == 200, r.text
    cred: str = r.json()["credentialId"]
    return cred


def drive_files(api: Api, cred: str) -> list[dict[str, Any]]:
    r = api.call("POST", EXECUTE.format("listFiles"), json={"credentialId": cred})
    assert r.status_code == 200, r.text
    files: list[dict[str, Any]] = r.json()["result"]["files"]
    return files


def test_upload_then_drive_holds_the_same_bytes(client: Client, alice: Api, tmp_path: Path) -> None:
    p = tmp_path / "quarterly report.pdf"
    data = random_bytes(300_000)
    p.write_bytes(data)
    cred = credential(alice)
    sent = client.send_to_google_drive(client.upload(p, progress=False), cred)
    assert list(sent.columns) == ["s3_key", "drive_file_id", "name", "mime_type", "error"]
    [row] = sent.to_dict("records")
    assert pd.isna(row["error"])
    assert (row["name"], row["mime_type"]) == ("quarterly report.pdf", "application/pdf")
    [f] = drive_files(alice, cred)
    assert f["id"] == row["drive_file_id"]
    assert f["md5Checksum"] == hashlib.md5(data).hexdigest()
    assert f["size"] == str(len(data))
    assert f["parents"] == ["root"]


def test_uploadfile_response_shape_and_upload_types(alice: Api) -> None:
    t = alice.upload("photo.jpg", random_bytes(100), "image/jpeg")
    cred = credential(alice)
    for kind in ("media", "multipart", "resumable"):
        body = {
            "credentialId": cred,
            "requestBody": {
                "metadata": {
                    "name": f"via {kind}",
                    "mimeType": "image/jpeg",
                    "parents": ["folder1"],
                },
                "s3Key": t["s3Key"],
            },
            "queryParameters": {"uploadType": kind},
        }
        r = alice.call("POST", EXECUTE.format("uploadFile"), json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["success"] is True
        assert set(out["result"]) == {"kind", "id", "name", "mimeType"}
        assert out["result"]["kind"] == "drive#file"
        assert out["result"]["name"] == f"via {kind}"
    assert [f["parents"] for f in drive_files(alice, cred)] == [["folder1"]] * 3


def test_send_accepts_keys_results_and_frames(client: Client, alice: Api, tmp_path: Path) -> None:
    cred = credential(alice)
    a = client.upload(b"a" * 10, filename="a.txt", progress=False)
    paths = [tmp_path / "b.csv", tmp_path / "missing.csv"]
    paths[0].write_text("x,y\n1,2\n")
    many = client.upload_many(paths, progress=False)
    one = client.send_to_google_drive(a.s3_key, cred, parents=["p1"])
    listed = client.send_to_google_drive(client.list_files(), cred)
    from_many = client.send_to_google_drive(many, cred)
    assert one["name"].tolist() == ["a.txt"]
    assert sorted(listed["name"]) == ["a.txt", "b.csv"]
    assert from_many["name"].tolist() == ["b.csv"], "failed upload rows are skipped"
    assert (from_many["mime_type"] == "text/csv").all()
    assert len(drive_files(alice, cred)) == 4


def test_errors_are_per_file_rows(client: Client, alice: Api, bob: Api) -> None:
    cred = credential(alice)
    mine = client.upload(b"mine", filename="mine.txt", progress=False)
    theirs = bob.upload("theirs.txt", b"theirs")["s3Key"]
    out = client.send_to_google_drive([mine, theirs, f"{alice.user_id}_nope.txt"], cred)
    assert out["error"].isna().tolist() == [True, False, False]
    assert "NotFoundError" in out["error"].iloc[1]
    assert [f["name"] for f in drive_files(alice, cred)] == ["mine.txt"]


def test_foreign_s3key_never_reaches_any_drive(alice: Api, bob: Api, carol: Api) -> None:
    creds = {api.user_id: credential(api) for api in (alice, bob, carol)}
    theirs = bob.upload("secret.txt", b"bob's secret")["s3Key"]
    for api in (alice, carol):
        body = {
            "credentialId": creds[api.user_id],
            "requestBody": {"s3Key": theirs},
            "queryParameters": {"uploadType": "media"},
        }
        r = api.call("POST", EXECUTE.format("uploadFile"), json=body)
        assert r.status_code == 404
        assert "secret" not in r.json()["message"]
        # with bob's own credential too: still not theirs
        r = api.call(
            "POST", EXECUTE.format("uploadFile"), json={**body, "credentialId": creds[bob.user_id]}
        )
        assert (r.status_code, r.json()["message"]) == (404, "Credential not found")
    for user_id, cred in creds.items():
        owner = next(a for a in (alice, bob, carol) if a.user_id == user_id)
        assert drive_files(owner, cred) == []


def test_credential_lookups(alice: Api, bob: Api) -> None:
    drive_cred = credential(alice)
    slack_cred = credential(alice, "slack")
    bobs = credential(bob)
    upload = {
        "requestBody": {"s3Key": alice.upload("f.txt", b"f")["s3Key"]},
        "queryParameters": {"uploadType": "media"},
    }
    for cred in ("0" * 24, slack_cred, bobs):
        r = alice.call("POST", EXECUTE.format("uploadFile"), json={"credentialId": cred, **upload})
        assert (r.status_code, r.json()["message"]) == (404, "Credential not found")
    listed = alice.call("GET", "/connectors/googleDrive/credentials").json()["credentials"]
    assert [c["credentialId"] for c in listed] == [drive_cred]
    assert set(listed[0]) == {"credentialId", "name", "type", "createdAt", "updatedAt"}
    assert alice.call("GET", "/connectors/nope/credentials").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/connectors/googleDrive/actions/deleteEverything/execute", {}, 404, ["Action not found"]),
        ("/connectors/dropbox/actions/uploadFile/execute", {}, 404, ["Action not found"]),
        (EXECUTE.format("uploadFile"), {"credentialId": None}, 400, ["credentialId"]),
        (EXECUTE.format("uploadFile"), {"credentialId": "abc"}, 400, ["credentialId", "24"]),
        (EXECUTE.format("uploadFile"), {"credentialId": "A" * 24}, 400, ["credentialId"]),
        (EXECUTE.format("uploadFile"), {"requestBody": []}, 400, ["requestBody", "object"]),
        (EXECUTE.format("uploadFile"), {"queryParameters": "x"}, 400, ["queryParameters"]),
        (EXECUTE.format("uploadFile"), {"requestBody": {}}, 400, ["requestBody.s3Key"]),
        (EXECUTE.format("uploadFile"), {"requestBody": {"s3Key": 5}}, 400, ["requestBody.s3Key"]),
        (
            EXECUTE.format("uploadFile"),
            {"requestBody": {"s3Key": "k", "metadata": "x"}},
            400,
            ["requestBody.metadata"],
        ),
        (
            EXECUTE.format("uploadFile"),
            {"requestBody": {"s3Key": "k", "metadata": {"name": 1}}},
            400,
            ["metadata.name"],
        ),
        (
            EXECUTE.format("uploadFile"),
            {"requestBody": {"s3Key": "k", "metadata": {"parents": "p"}}},
            400,
            ["parents"],
        ),
        (EXECUTE.format("uploadFile"), {"requestBody": {"s3Key": "k"}}, 400, ["uploadType"]),
        (
            EXECUTE.format("uploadFile"),
            {"requestBody": {"s3Key": "k"}, "queryParameters": {"uploadType": "chunked"}},
            400,
            ["uploadType", "media, multipart, resumable"],
        ),
        (
            EXECUTE.format("listFiles"),
            {"queryParameters": {"fields": "id,bogus"}},
            400,
            ["fields", "bogus"],
        ),
    ],
)
def test_bad_execute_requests(
    alice: Api, path: str, body: dict, status: int, words: list[str]
) -> None:
    cred = credential(alice)
    full = {"credentialId": cred, **body}
    if "credentialId" in body and body["credentialId"] is None:
        full.pop("credentialId")
    r = alice.call("POST", path, json=full)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["message"]


def test_client_checks_the_credential_id_before_sending(client: Client) -> None:
    sent: list[httpx.Request] = []
    client.http.event_hooks["request"].append(sent.append)
    for bad in ("abc", "G" * 24, "", None):
        with pytest.raises(ValueError, match="24-character hex"):
            client.execute_action("googleDrive", "uploadFile", credential_id=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="24-character hex"):
            client.send_to_google_drive("k", bad)  # type: ignore[arg-type]
    assert sent == []


def test_client_credentials_and_raw_execute(client: Client) -> None:
    assert list(client.list_credentials("googleDrive").columns) == [
        "credential_id",
        "name",
        "type",
        "created_at",
        "updated_at",
    ]
    assert client.list_credentials("googleDrive").empty
    cred = client.create_credential("googleDrive", name="notebook")["credentialId"]
    creds = client.list_credentials("googleDrive")
    assert creds[["credential_id", "name"]].values.tolist() == [[cred, "notebook"]]
    raw = client.execute_action("googleDrive", "listFiles", credential_id=cred)
    assert raw == {"success": True, "result": {"kind": "drive#fileList", "files": []}}
    with pytest.raises(alloy_nb.NotFoundError, match="Action not found"):
        client.execute_action("googleDrive", "nothing", credential_id=cred)


def test_drive_survives_a_restart(tmp_path: Path, http: httpx.Client) -> None:
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=["drive-key"]) as sb:
        api = Api(http, sb.base_url, "drive-key")
        cred = credential(api)
        with Client("drive-key", base_url=sb.base_url) as c:
            c.send_to_google_drive(c.upload(b"persist me", filename="p.txt", progress=False), cred)
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=["drive-key"]) as sb:
        api = Api(http, sb.base_url, "drive-key")
        [f] = drive_files(api, cred)
        assert (f["name"], f["size"]) == ("p.txt", "10")
