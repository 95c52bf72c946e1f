"""Restarts keep files and dedup; a lost index is rebuilt; dead storage is a quick 503."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

import alloy_nb.sandbox

from .conftest import Api, random_bytes

KEY = "lifecycle-key"


def test_restart_keeps_files_users_and_dedup(tmp_path: Path, http: httpx.Client) -> None:
    data, other = random_bytes(5000), random_bytes(6000)
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY]) as sb:
        user_id = sb.user_id
        api = Api(http, sb.base_url, KEY)
        extra = api.new_user("second")
        t = api.upload("keep.bin", data)
        extra.upload("theirs.bin", other)

    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY]) as sb:
        assert sb.user_id == user_id
        api = Api(http, sb.base_url, KEY)
        assert [(f["s3Key"], f["size"]) for f in api.files()] == [(t["s3Key"], 5000)]
        again = api.ticket("keep.bin", data)
        assert (again["type"], again["s3Key"]) == ("existing", t["s3Key"])
        assert [f["filename"] for f in Api(http, sb.base_url, KEY, extra.user_id).files()] == [
            "theirs.bin"
        ]


def test_lost_index_is_rebuilt_from_storage(tmp_path: Path, http: httpx.Client) -> None:
    data = random_bytes()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY]) as sb:
        t = Api(http, sb.base_url, KEY).upload("indexed.bin", data)
    for f in tmp_path.glob("index.sqlite3*"):
        f.unlink()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY]) as sb:
        api = Api(http, sb.base_url, KEY)
        # Found through the rebuilt (user, md5) index, under another name.
        again = api.ticket("renamed.bin", data)
        assert (again["type"], again["s3Key"]) == ("existing", t["s3Key"])
        clash = api.ticket("indexed.bin", random_bytes())
        assert clash["type"] == "new"
        assert clash["s3Key"] != t["s3Key"]


def test_storage_down_is_a_quick_503_and_recovers_nothing_half_written(
    tmp_path: Path, http: httpx.Client
) -> None:
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY]) as sb:
        api = Api(http, sb.base_url, KEY)
        api.upload("before.bin", random_bytes())
        assert sb.weed is not None
        sb.weed.kill()
        for method, path, kw in [
            (
                "POST",
                "/connectors/files/upload/request",
                {"json": {"filename": "x.bin", "mimeType": "text/plain", "md5": "0" * 32}},
            ),
            ("GET", "/connectors/files/list", {}),
            ("DELETE", f"/connectors/files/{sb.user_id}_before.bin", {}),
        ]:
            started = time.monotonic()
            r = api.call(method, path, **kw)
            assert time.monotonic() - started < 10
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "Service Unavailable"
            assert "storage is unavailable" in r.json()["message"]
            assert "Traceback" not in r.text
        assert http.get(sb.base_url + "/health").status_code == 503
