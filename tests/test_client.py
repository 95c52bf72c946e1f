"""alloy_nb.Client against the real sandbox (weed mini) over HTTP."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client
from alloy_nb.sandbox import Sandbox

from .helpers import WORKSPACE_KEYS, Api, md5_pair, random_bytes


class Recorder:
    """Every request an httpx.Client sends, as (method, url)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> None:
        self.sent.append((request.method, str(request.url)))

    def count(self, method: str, fragment: str = "") -> int:
        return sum(1 for m, u in self.sent if m == method and fragment in u)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(sandbox: Sandbox, alice: Api, recorder: Recorder) -> Iterator[Client]:
    http = httpx.Client(timeout=30, event_hooks={"request": [recorder]})
    with Client(
        WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id, http_client=http
    ) as c:
        yield c
    http.close()


def test_upload_path_is_listed_with_size_and_dtypes(client: Client, tmp_path: Path) -> None:
    p = tmp_path / "report.csv"
    p.write_bytes(b"a,b\n1,2\n" * 1000)
    result = client.upload(p, progress=False)
    assert result.type == "new"
    assert result.filename == "report.csv"
    assert result.mime_type == "text/csv"
    assert result.size == p.stat().st_size
    assert (result.md5_hex, result.md5_base64) == md5_pair(p.read_bytes())
    assert result.s3_key == f"{client.user_id}_report.csv"
    files = client.list_files()
    assert list(files.columns) == ["s3_key", "filename", "size", "last_modified"]
    assert [str(t) for t in files.dtypes] == ["string", "string", "Int64", "datetime64[ns, UTC]"]
    assert files.to_dict("records")[0]["size"] == p.stat().st_size
    age = pd.Timestamp.now(tz="UTC") - files["last_modified"].iloc[0]
    assert pd.Timedelta(0) <= age < pd.Timedelta(minutes=5)


def test_empty_listing_has_the_same_columns_and_dtypes(client: Client) -> None:
    files = client.list_files()
    assert files.empty
    assert [str(t) for t in files.dtypes] == ["string", "string", "Int64", "datetime64[ns, UTC]"]


def test_second_upload_is_existing_and_sends_no_put(
    client: Client, recorder: Recorder, tmp_path: Path
) -> None:
    p = tmp_path / "same.bin"
    p.write_bytes(random_bytes(50_000))
    first = client.upload(p, progress=False)
    assert recorder.count("PUT") == 1
    second = client.upload(p, progress=False)
    assert second.type == "existing"
    assert second.s3_key == first.s3_key
    assert recorder.count("PUT") == 1, "no PUT for bytes that are already stored"
    assert recorder.count("POST", "/upload/request") == 2


def test_upload_bytes_and_file_objects(client: Client) -> None:
    data = random_bytes(3000)
    r1 = client.upload(data, filename="blob.bin", progress=False)
    buf = io.BytesIO(b"HEADER" + data)
    buf.seek(6)  # a file object is uploaded from its current position
    r2 = client.upload(buf, filename="again.bin", progress=False)
    assert (r2.type, r2.s3_key, r2.size) == ("existing", r1.s3_key, 3000)
    with pytest.raises(ValueError, match="filename= is required"):
        client.upload(b"x", progress=False)


def test_unseekable_stream_is_spooled_not_lost(client: Client, tmp_path: Path) -> None:
    data = random_bytes(200_000)
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(r, "rb") as pipe:
        result = client.upload(pipe, filename="piped.bin", progress=False)
    writer.join()
    assert (result.size, result.md5_hex) == (len(data), md5_pair(data)[0])
    assert client.list_files()["size"].tolist() == [len(data)]


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet", "scores.json"])
def test_dataframe_upload(client: Client, name: str) -> None:
    df = pd.DataFrame({"x": range(1000), "y": [f"row {i}" for i in range(1000)]})
    result = client.upload(df, filename=name, progress=False)
    assert result.filename == name
    assert result.size > 0
    listed = client.list_files()
    assert listed["filename"].tolist() == [name]
    assert listed["size"].tolist() == [result.size]


def test_dataframe_with_unknown_extension_is_refused_before_anything_moves(
    client: Client, recorder: Recorder
) -> None:
    with pytest.raises(ValueError, match=r"\.csv, \.parquet or \.json"):
        client.upload(pd.DataFrame({"a": [1]}), filename="frame.xlsx", progress=False)
    assert recorder.sent == []


def test_progress_hooks_report_hashing_and_sending(client: Client) -> None:
    data = random_bytes(3 * 1024 * 1024 + 5)
    hashed: list[tuple[int, int]] = []
    sent: list[tuple[int, int]] = []
    client.upload(
        data,
        filename="p.bin",
        progress=False,
        on_progress=lambda d, t: sent.append((d, t)),
        on_hash_progress=lambda d, t: hashed.append((d, t)),
    )
    for seen in (hashed, sent):
        assert seen[-1] == (len(data), len(data))
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert len(seen) >= 4  # 1 MiB chunks


def test_upload_many_with_bad_sources(client: Client, tmp_path: Path) -> None:
    good = []
    for i in range(1000):
        p = tmp_path / f"f{i:04d}.txt"
        p.write_bytes(f"file number {i}\n".encode())
        good.append(p)
    bad: list[Any] = [tmp_path / "missing.txt", tmp_path, 42]  # 42: not a source at all
    sources = good[:500] + bad + good[500:]
    df = client.upload_many(sources, max_workers=8, progress=False)
    assert len(df) == 1003
    assert list(df["source"][500:503]) == [str(tmp_path / "missing.txt"), str(tmp_path), "<int>"]
    errors = df[df["error"].notna()]
    assert len(errors) == 3
    assert "FileNotFoundError" in errors["error"].iloc[0]
    assert "IsADirectoryError" in errors["error"].iloc[1]
    assert "TypeError" in errors["error"].iloc[2]
    ok = df[df["error"].isna()]
    assert (ok["type"] == "new").all()
    assert str(df["size"].dtype) == "Int64"
    assert sorted(client.list_files()["filename"]) == sorted(p.name for p in good)


def test_list_files_follows_pages(client: Client, recorder: Recorder) -> None:
    for i in range(5):
        client.upload(f"page {i}".encode(), filename=f"p{i}.txt", progress=False)
    recorder.sent.clear()
    files = client.list_files(page_size=2)
    assert files["filename"].tolist() == [f"p{i}.txt" for i in range(5)]
    assert recorder.count("GET", "/files/list") == 3


def test_delete_own_foreign_and_missing(client: Client, bob: Api) -> None:
    mine = client.upload(b"mine", filename="mine.txt", progress=False)
    theirs = bob.upload("theirs.txt", b"theirs")
    client.delete_file(mine.s3_key)
    assert client.list_files().empty
    with pytest.raises(alloy_nb.NotFoundError) as e:
        client.delete_file(theirs["s3Key"])
    assert e.value.status_code == 404
    assert "File not found" in str(e.value)
    assert bob.keys() == [theirs["s3Key"]]
    with pytest.raises(alloy_nb.NotFoundError):
        client.delete_file(mine.s3_key)


def test_delete_files_from_a_filtered_listing(client: Client, bob: Api) -> None:
    for name in ("keep.csv", "a.tmp", "b.tmp"):
        client.upload(name.encode(), filename=name, progress=False)
    theirs = bob.upload("x.tmp", b"x")
    files = client.list_files()
    out = client.delete_files(files[files["filename"].str.endswith(".tmp")])
    assert out["deleted"].tolist() == [True, True]
    assert client.list_files()["filename"].tolist() == ["keep.csv"]
    mixed = client.delete_files([theirs["s3Key"], f"{client.user_id}_keep.csv"])
    assert mixed["deleted"].tolist() == [False, True]
    assert "NotFoundError" in mixed["error"].iloc[0]
    assert [str(t) for t in mixed.dtypes] == ["string", "boolean", "string"]


def test_bytes_changed_between_hash_and_put_is_an_integrity_error(
    sandbox: Sandbox, alice: Api, tmp_path: Path
) -> None:
    p = tmp_path / "moving.bin"
    p.write_bytes(random_bytes(100_000))

    def rewrite_after_request(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/upload/request"):
            p.write_bytes(random_bytes(100_000))  # same size, other bytes

    http = httpx.Client(event_hooks={"response": [rewrite_after_request]})
    with Client(
        WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id, http_client=http
    ) as c:
        with pytest.raises(alloy_nb.IntegrityError, match=r"moving\.bin") as e:
            c.upload(p, progress=False)
        assert e.value.filename == "moving.bin"
        assert c.list_files().empty
    http.close()


def test_expired_url_is_requested_again_once(sandbox: Sandbox, http: httpx.Client) -> None:
    with alloy_nb.sandbox.start(api_keys=["ttl-1"], s3=sandbox.storage, url_ttl=1) as sb:
        user = Api(http, sb.base_url, "ttl-1").new_user()
        recorder = Recorder()
        requests_seen = []

        def slow_first_answer(response: httpx.Response) -> None:
            if response.request.url.path.endswith("/upload/request"):
                requests_seen.append(1)
                if len(requests_seen) == 1:
                    time.sleep(2.2)  # the URL in this answer expires before it is used

        hc = httpx.Client(event_hooks={"request": [recorder], "response": [slow_first_answer]})
        with Client("ttl-1", base_url=sb.base_url, user_id=user.user_id, http_client=hc) as c:
            result = c.upload(b"late bytes", filename="late.txt", progress=False)
            assert result.type == "new"
            assert recorder.count("POST", "/upload/request") == 2
            assert recorder.count("PUT") == 2
            assert c.list_files()["size"].tolist() == [len(b"late bytes")]
        hc.close()


def test_over_5_gib_is_refused_before_any_byte_moves(
    client: Client, recorder: Recorder, tmp_path: Path
) -> None:
    p = tmp_path / "huge.bin"
    with open(p, "wb") as f:
        f.truncate(5 * 1024**3 + 1)  # sparse: no disk used
    with pytest.raises(alloy_nb.FileTooLargeError, match="5 GiB"):
        client.upload(p, progress=False)
    assert recorder.sent == []


def test_bad_key_is_an_authentication_error_without_the_key(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-this-must-never-leak-0123456789"
    caplog.set_level(logging.DEBUG)
    with Client(secret, base_url=sandbox.base_url) as c:
        assert secret not in repr(c)
        assert secret not in str(vars(c).get("base_url"))
        with pytest.raises(alloy_nb.AuthenticationError) as e:
            c.list_files()
        with pytest.raises(alloy_nb.AuthenticationError) as e2:
            c.upload(b"x", filename="x.txt", progress=False)
    for err in (e.value, e2.value):
        assert err.status_code == 401
        assert "invalid API key" in str(err)
        assert secret not in str(err)
        assert secret not in repr(err)
        assert secret not in repr(err.body)
    assert secret not in caplog.text


def test_missing_key_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOY_API_KEY", raising=False)
    with pytest.raises(alloy_nb.MissingCredentialsError, match=r"ALLOY_API_KEY.*connect\(\)"):
        Client()


def test_environment_fallbacks(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, alice: Api
) -> None:
    monkeypatch.setenv("ALLOY_API_KEY", WORKSPACE_KEYS[0])
    monkeypatch.setenv("ALLOY_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("ALLOY_USER_ID", alice.user_id or "")
    with Client() as c:
        assert c.base_url == sandbox.base_url
        c.upload(b"env", filename="env.txt", progress=False)
    assert [f["filename"] for f in alice.files()] == ["env.txt"]


def test_connect_uses_the_environment_key_when_set(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    monkeypatch.setenv("ALLOY_API_KEY", WORKSPACE_KEYS[1])
    monkeypatch.setenv("ALLOY_BASE_URL", sandbox.base_url)
    c = alloy_nb.connect()
    assert c.base_url == sandbox.base_url
    assert isinstance(c.list_files(), pd.DataFrame)


def test_request_upload_accepts_hex_and_base64(client: Client) -> None:
    hex_md5, b64_md5 = md5_pair(b"ticket")
    t1 = client.request_upload("t.txt", "text/plain", hex_md5)
    t2 = client.request_upload("t.txt", "text/plain", b64_md5)
    assert (t1.s3_key, t1.md5_base64, t1.type) == (t2.s3_key, b64_md5, "new")
    assert "X-Amz-Signature" not in repr(t1)
    with pytest.raises(ValueError, match="32 hex"):
        client.request_upload("t.txt", "text/plain", "nope")


def test_connect_without_a_key_starts_a_local_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from alloy_nb.sandbox._shared import stop_shared_sandbox

    monkeypatch.delenv("ALLOY_API_KEY", raising=False)
    monkeypatch.delenv("ALLOY_BASE_URL", raising=False)
    monkeypatch.delenv("ALLOY_SANDBOX_API_KEYS", raising=False)
    monkeypatch.setenv("ALLOY_NB_SANDBOX_HOME", str(tmp_path / "home"))
    try:
        c = alloy_nb.connect()
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1
        assert out[0].startswith(
            "alloy_nb: no ALLOY_API_KEY set; started a local sandbox (shared by your notebooks) "
            "at http://127.0.0.1:"
        )
        assert c.base_url in out[0]
        result = c.upload(b"hello sandbox", filename="hello.txt", progress=False)
        assert c.list_files()["s3_key"].tolist() == [result.s3_key]
        assert alloy_nb.connect().base_url == c.base_url, "one sandbox, reused"
    finally:
        stop_shared_sandbox(tmp_path / "home")
