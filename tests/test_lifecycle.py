"""Restarts keep files and dedup; a lost index is rebuilt; dead storage is a quick 503."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

import alloy_nb.sandbox

from .helpers import Api, random_bytes

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


def test_any_s3_endpoint_can_replace_the_bundled_one(http: httpx.Client) -> None:
    """Configuration path for AWS S3, MinIO or a cluster: here a moto server (no enforcement
    is asserted, so moto is fine)."""
    from moto.server import ThreadedMotoServer

    from alloy_nb.sandbox import S3Settings
    from alloy_nb.sandbox._weed import free_port_pairs

    port = free_port_pairs(1)[0]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        s3 = S3Settings(f"http://127.0.0.1:{port}", "testing", "testing", "elsewhere", "eu-west-1")
        with alloy_nb.sandbox.start(api_keys=[KEY], s3=s3) as sb:
            assert sb.weed is None
            api = Api(http, sb.base_url, KEY)
            t = api.upload("remote.bin", random_bytes(321))
            assert t["presignedUrl"].startswith(f"http://127.0.0.1:{port}/elsewhere/")
            assert [(f["s3Key"], f["size"]) for f in api.files()] == [(t["s3Key"], 321)]
    finally:
        moto.stop()


def test_listening_socket_is_tcp_so_responses_go_out_without_nagle_delay(sandbox) -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only when the listener's proto is TCP."""
    import socket

    [listener] = sandbox._server.servers[0].sockets
    assert listener.proto == socket.IPPROTO_TCP


def test_every_listening_port_is_outside_the_ephemeral_range(tmp_path: Path) -> None:
    """The API and every storage port sit where the kernel never hands out ports itself."""
    import psutil

    from alloy_nb.sandbox._ports import ephemeral_range

    lo, hi = ephemeral_range()
    for _ in range(3):  # each start picks its API port afresh
        with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY]) as sb:
            assert sb.weed is not None
            assert sb.weed.pid is not None
            api_port = int(sb.base_url.rsplit(":", 1)[1])
            weed_ports = {
                c.laddr.port
                for c in psutil.Process(sb.weed.pid).net_connections("tcp")
                if c.status == psutil.CONN_LISTEN
            }
            assert weed_ports, "weed listens somewhere"
            for port in {api_port, *weed_ports}:
                assert not lo <= port <= hi, (port, (lo, hi))
