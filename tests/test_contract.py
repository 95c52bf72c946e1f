"""The File Management contract, against the sandbox on a real weed mini (S3 enforcement)."""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

import alloy_nb.sandbox
from alloy_nb.sandbox import Sandbox

from .helpers import Api, md5_pair, random_bytes

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def test_request_response_has_exactly_the_documented_shape(alice: Api) -> None:
    data = random_bytes()
    _, b64_md5 = md5_pair(data)
    r = alice.request_upload("document.pdf", data, "application/pdf")
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["presignedUrl"]
    t = body["presignedUrl"]
    assert set(t) == {"presignedUrl", "md5", "s3Key", "type"}
    assert t["md5"] == b64_md5
    assert t["s3Key"] == f"{alice.user_id}_document.pdf"
    assert t["type"] == "new"
    query = dict(parse_qsl(urlsplit(t["presignedUrl"]).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-SignedHeaders"] == "content-md5;content-type;host"
    assert query["X-Amz-Expires"] == "3600"
    assert urlsplit(t["presignedUrl"]).path.startswith("/alloy-user-files/")


def test_good_upload_is_listed_with_size_and_utc_timestamp(alice: Api) -> None:
    data = random_bytes(12345)
    t = alice.upload("report.csv", data, "text/csv")
    [entry] = alice.files()
    assert entry == {
        "s3Key": t["s3Key"],
        "filename": "report.csv",
        "size": 12345,
        "lastModified": entry["lastModified"],
    }
    assert ISO_Z.fullmatch(entry["lastModified"])


def test_wrong_body_is_rejected_by_storage_and_not_listed(alice: Api) -> None:
    data = random_bytes()
    t = alice.ticket("a.bin", data)
    r = alice.put(t, random_bytes())
    assert r.status_code == 400
    assert "<Code>BadDigest</Code>" in r.text
    assert alice.files() == []


def test_put_without_signed_content_md5_is_rejected(alice: Api, http: httpx.Client) -> None:
    data = random_bytes()
    t = alice.ticket("a.bin", data)
    r = http.put(
        t["presignedUrl"], content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 403
    assert alice.files() == []


def test_put_with_other_content_type_is_rejected(alice: Api) -> None:
    data = random_bytes()
    t = alice.ticket("a.bin", data, "application/octet-stream")
    r = alice.put(t, data, mime="text/plain")
    assert r.status_code == 403
    assert "SignatureDoesNotMatch" in r.text
    assert alice.files() == []


def _tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_tampered_signature_is_rejected(alice: Api) -> None:
    data = random_bytes()
    t = alice.ticket("a.bin", data)
    sig = dict(parse_qsl(urlsplit(t["presignedUrl"]).query))["X-Amz-Signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    r = alice.put(
        {**t, "presignedUrl": _tamper(t["presignedUrl"], **{"X-Amz-Signature": flipped})}, data
    )
    assert r.status_code == 403
    assert alice.files() == []


def test_url_edited_to_another_key_is_rejected(alice: Api, bob: Api) -> None:
    data = random_bytes()
    t = alice.ticket("a.bin", data)
    bobs_key = f"{bob.user_id}_a.bin"
    url = t["presignedUrl"].replace(t["s3Key"], bobs_key)
    assert url != t["presignedUrl"]
    assert alice.put({**t, "presignedUrl": url}, data).status_code == 403
    assert bob.files() == []
    assert alice.files() == []


def test_lengthened_expiry_is_rejected(alice: Api) -> None:
    data = random_bytes()
    t = alice.ticket("a.bin", data)
    r = alice.put(
        {**t, "presignedUrl": _tamper(t["presignedUrl"], **{"X-Amz-Expires": "604800"})}, data
    )
    assert r.status_code == 403


def test_expired_url_is_rejected(sandbox: Sandbox, http: httpx.Client) -> None:
    """A sandbox with a 1 s URL lifetime, on the same storage, issues URLs that expire."""
    with alloy_nb.sandbox.start(api_keys=["short-ttl"], s3=sandbox.storage, url_ttl=1) as sb:
        api = Api(http, sb.base_url, "short-ttl").new_user()
        data = random_bytes()
        t = api.ticket("late.bin", data)
        time.sleep(2.2)
        r = api.put(t, data)
        assert r.status_code == 403
        assert "Request has expired" in r.text
        assert api.files() == []


def test_requested_but_never_uploaded_file_is_not_listed_nor_existing(alice: Api) -> None:
    data = random_bytes()
    first = alice.ticket("pending.bin", data)
    assert alice.files() == []
    again = alice.ticket("pending.bin", data)
    assert again["type"] == "new"
    assert again["s3Key"] == first["s3Key"]


def test_second_request_for_stored_bytes_is_existing_with_same_key(alice: Api) -> None:
    data = random_bytes()
    t1 = alice.upload("same.bin", data)
    t2 = alice.ticket("same.bin", data)
    assert (t2["type"], t2["s3Key"], t2["md5"]) == ("existing", t1["s3Key"], t1["md5"])


def test_same_bytes_under_another_name_is_existing_with_the_stored_key(alice: Api) -> None:
    data = random_bytes()
    t1 = alice.upload("first-name.bin", data)
    t2 = alice.ticket("second-name.bin", data)
    assert (t2["type"], t2["s3Key"]) == ("existing", t1["s3Key"])
    assert alice.keys() == [t1["s3Key"]]


def test_hex_and_base64_md5_are_the_same_request(alice: Api) -> None:
    data = random_bytes()
    hex_md5, b64_md5 = md5_pair(data)
    alice.upload("x.bin", data)
    for md5 in (hex_md5, hex_md5.upper(), b64_md5):
        r = alice.request_upload("x.bin", data, md5=md5)
        assert r.json()["presignedUrl"]["type"] == "existing"
        assert r.json()["presignedUrl"]["md5"] == b64_md5


def test_existing_answer_url_can_only_rewrite_the_same_bytes(alice: Api) -> None:
    data = random_bytes()
    alice.upload("keep.bin", data)
    t = alice.ticket("keep.bin", data)
    assert t["type"] == "existing"
    assert alice.put(t, random_bytes()).status_code == 400
    assert alice.put(t, data).status_code == 200
    assert alice.files()[0]["size"] == len(data)


def test_other_content_under_a_used_name_gets_its_own_key(alice: Api, http: httpx.Client) -> None:
    v1, v2 = random_bytes(100), random_bytes(200)
    t1 = alice.upload("report.csv", v1, "text/csv")
    t2 = alice.upload("report.csv", v2, "text/csv")
    assert t2["type"] == "new"
    assert t2["s3Key"] != t1["s3Key"]
    assert t2["s3Key"].startswith(f"{alice.user_id}_report-")
    assert t2["s3Key"].endswith(".csv")
    sizes = {f["s3Key"]: f["size"] for f in alice.files()}
    assert sizes == {t1["s3Key"]: 100, t2["s3Key"]: 200}


def test_two_pending_uploads_of_one_name_never_share_a_key(alice: Api) -> None:
    """Different files requested under one name before either is uploaded."""
    v1, v2 = random_bytes(), random_bytes()
    t1, t2 = alice.ticket("race.txt", v1), alice.ticket("race.txt", v2)
    assert t1["s3Key"] != t2["s3Key"]
    assert alice.put(t2, v2).status_code == 200
    assert alice.put(t1, v1).status_code == 200
    assert len(alice.files()) == 2


def test_concurrent_requests_for_one_name_and_different_bytes(alice: Api) -> None:
    payloads = [random_bytes(64 + i) for i in range(8)]
    tickets: list[dict[str, str]] = [{}] * len(payloads)

    def go(i: int) -> None:
        tickets[i] = alice.ticket("same-name.dat", payloads[i])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(payloads))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({t["s3Key"] for t in tickets}) == len(payloads)
    for t, data in zip(tickets, payloads, strict=True):
        assert alice.put(t, data).status_code == 200
    assert sorted(f["size"] for f in alice.files()) == [len(p) for p in payloads]


def test_concurrent_requests_for_the_same_bytes_share_one_key(alice: Api) -> None:
    data = random_bytes()
    keys: list[str] = []

    def go() -> None:
        keys.append(alice.upload("dup.bin", data)["s3Key"])

    threads = [threading.Thread(target=go) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(keys)) == 1
    assert alice.keys() == keys[:1]


def test_prefixed_and_unprefixed_paths_are_the_same_api(alice: Api) -> None:
    data = random_bytes()
    t = alice.upload("both.bin", data)
    r = alice.call("GET", "/2025-09/connectors/files/list")
    assert [f["s3Key"] for f in r.json()["files"]] == [t["s3Key"]]
    r = alice.call(
        "POST",
        "/2025-09/connectors/files/upload/request",
        json={"filename": "both.bin", "mimeType": "application/octet-stream", "md5": t["md5"]},
    )
    assert r.json()["presignedUrl"]["type"] == "existing"
    assert alice.call("DELETE", f"/2025-09/connectors/files/{t['s3Key']}").status_code == 200
    assert alice.files() == []


def test_delete_own_file(alice: Api) -> None:
    t = alice.upload("gone.bin", random_bytes())
    r = alice.delete(t["s3Key"])
    assert r.status_code == 200
    assert r.json() == {"success": True, "message": "File deleted successfully"}
    assert alice.files() == []
    assert alice.delete(t["s3Key"]).status_code == 404


@pytest.mark.parametrize(
    "name", ["my report 2024.pdf", "résumé – final.pdf", "数据.csv", "a+b=c.txt"]
)
def test_keys_with_spaces_and_unicode_list_and_delete(alice: Api, name: str) -> None:
    t = alice.upload(name, random_bytes())
    assert t["s3Key"] == f"{alice.user_id}_{name}"
    [entry] = alice.files()
    assert entry["filename"] == name
    assert alice.delete(t["s3Key"]).status_code == 200
    assert alice.files() == []


def test_deleted_file_is_new_again_and_reuses_its_name(alice: Api) -> None:
    data = random_bytes()
    t1 = alice.upload("again.bin", data)
    alice.delete(t1["s3Key"])
    t2 = alice.ticket("again.bin", data)
    assert (t2["type"], t2["s3Key"]) == ("new", t1["s3Key"])


def test_pagination_extension(alice: Api) -> None:
    names = [f"page-{i:02d}.txt" for i in range(7)]
    for i, n in enumerate(names):
        alice.upload(n, f"file {i}".encode())
    plain = alice.call("GET", "/connectors/files/list").json()
    assert "nextCursor" not in plain
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = alice.call("GET", "/connectors/files/list", params=params).json()
        seen += [f["filename"] for f in body["files"]]
        pages += 1
        cursor = body.get("nextCursor")
        if not cursor:
            break
    assert seen == names
    assert pages == 3


def test_cursor_of_another_user_is_refused(alice: Api, bob: Api) -> None:
    for i in range(3):
        alice.upload(f"c{i}.txt", random_bytes(10))
    cursor = alice.call("GET", "/connectors/files/list", params={"limit": 1}).json()["nextCursor"]
    r = bob.call("GET", "/connectors/files/list", params={"limit": 1, "cursor": cursor})
    assert r.status_code == 400
    assert "cursor" in r.json()["message"]


def test_health_and_openapi_describe_every_endpoint(sandbox: Sandbox, http: httpx.Client) -> None:
    assert http.get(sandbox.base_url + "/health").json() == {"status": "ok"}
    spec = http.get(sandbox.base_url + "/openapi.json").json()
    for prefix in ("", "/2025-09"):
        assert "post" in spec["paths"][f"{prefix}/connectors/files/upload/request"]
        assert "get" in spec["paths"][f"{prefix}/connectors/files/list"]
        assert "delete" in spec["paths"][f"{prefix}/connectors/files/{{s3Key}}"]
        assert {"get", "post"} <= set(spec["paths"][f"{prefix}/users"])
        assert {"get", "post"} <= set(
            spec["paths"][f"{prefix}/connectors/{{connectorId}}/credentials"]
        )
        assert (
            "post"
            in spec["paths"][f"{prefix}/connectors/{{connectorId}}/actions/{{actionId}}/execute"]
        )
    assert "get" in spec["paths"]["/health"]


def test_no_html_docs_pages_that_load_scripts_from_the_internet(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    """Swagger/ReDoc would pull scripts from a CDN into the user's browser: not served."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = http.get(sandbox.base_url + path)
        assert r.status_code == 404, path
        assert "<script" not in r.text


def test_same_bytes_in_flight_under_other_names_share_one_key(alice: Api) -> None:
    """Requested under eight names before any PUT: one object, one key for all."""
    data = random_bytes()
    tickets = [alice.ticket(f"copy-{i}.bin", data) for i in range(8)]
    assert {t["s3Key"] for t in tickets} == {f"{alice.user_id}_copy-0.bin"}
    assert {t["type"] for t in tickets} == {"new"}
    for t in tickets:
        assert alice.put(t, data).status_code == 200
    assert alice.keys() == [f"{alice.user_id}_copy-0.bin"]
    assert alice.ticket("copy-9.bin", data)["type"] == "existing"
