"""Every field of every endpoint: a 4xx JSON error that names the problem; never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .helpers import Api

GOOD = {"filename": "ok.txt", "mimeType": "text/plain", "md5": "2942bfabb3d05332b66eb128e0842cff"}
UPLOAD = "/connectors/files/upload/request"
UPLOAD_FILE = "/connectors/googleDrive/actions/uploadFile/execute"


def _post_json_text(api: Api, path: str, raw: str) -> httpx.Response:
    """POST ``raw`` as the JSON body, byte for byte (what json= would escape or refuse)."""
    return api.call(
        "POST", path, content=raw.encode(), headers={"Content-Type": "application/json"}
    )


def _error(r: Any, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"}
    for w in words:
        assert w.lower() in body["message"].lower(), body["message"]


@pytest.mark.parametrize("field", ["filename", "mimeType", "md5"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        (["a"], "must be a string"),
        ({"a": 1}, "must be a string"),
        (True, "must be a string"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
    ],
)
def test_upload_request_field_wrong(alice: Api, field: str, value: object, problem: str) -> None:
    r = alice.call("POST", UPLOAD, json={**GOOD, field: value})
    _error(r, 400, field, problem)


@pytest.mark.parametrize("field", ["filename", "mimeType", "md5"])
def test_upload_request_field_missing(alice: Api, field: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != field}
    _error(alice.call("POST", UPLOAD, json=body), 400, field, "required")


@pytest.mark.parametrize(
    "md5",
    [
        "2942bfabb3d05332b66eb128e0842cf",  # 31 hex
        "2942bfabb3d05332b66eb128e0842cff0",  # 33 hex
        "2942bfabb3d05332b66eb128e0842cfg",  # non-hex
        " 2942bfabb3d05332b66eb128e0842cff",  # whitespace
        "2942bfabb3d05332b66eb128e0842cff\n",
        "KUK/q7PQUzK2brEo4IQs/w=",  # truncated base64
        "AAAAAAAAAAAAAAAAAAAA",  # base64 of 15 bytes
        "AAAAAAAAAAAAAAAAAAAAAAA=",  # base64 of 17 bytes
        "KUK/q7PQUzK2brEo4IQs/x==",  # non-canonical padding bits
        "KUK-q7PQUzK2brEo4IQs_w==",  # url-safe alphabet
        "d41d8cd98f00b204e9800998ecf8427e" * 2,
        "md5:2942bfabb3d05332b66eb128e0842cff",
    ],
)
def test_md5_in_every_wrong_form(alice: Api, md5: str) -> None:
    _error(alice.call("POST", UPLOAD, json={**GOOD, "md5": md5}), 400, "md5", "32 hex", "24 base64")


def test_filename_over_255_bytes(alice: Api) -> None:
    _error(alice.call("POST", UPLOAD, json={**GOOD, "filename": "é" * 128}), 400, "filename", "255")
    ok = alice.call("POST", UPLOAD, json={**GOOD, "filename": "a" * 251 + ".txt"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "mime", ["text", "text/", "/plain", "text/plain\r\nX-Evil: 1", "a b/c", "x" * 300]
)
def test_bad_mime_type(alice: Api, mime: str) -> None:
    _error(alice.call("POST", UPLOAD, json={**GOOD, "mimeType": mime}), 400, "mimeType")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"filename":', ["not valid JSON"]),
        (b"", ["body is required"]),
        (b"[1, 2]", ["JSON object"]),
        (b'"text"', ["JSON object"]),
        (b"null", ["JSON object"]),
    ],
)
def test_body_not_a_json_object(alice: Api, content: bytes, words: list[str]) -> None:
    r = alice.call("POST", UPLOAD, content=content, headers={"Content-Type": "application/json"})
    _error(r, 400, *words)


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type(alice: Api, ctype: str) -> None:
    r = alice.call(
        "POST", UPLOAD, content=json.dumps(GOOD).encode(), headers={"Content-Type": ctype}
    )
    _error(r, 415, "Content-Type must be application/json")


def test_body_over_the_limit_declared_and_streamed(alice: Api) -> None:
    big = json.dumps({**GOOD, "pad": "x" * 100_000}).encode()
    r = alice.call("POST", UPLOAD, content=big, headers={"Content-Type": "application/json"})
    _error(r, 413, "larger than")

    def chunks():  # no Content-Length: sent chunked
        for _ in range(20):
            yield b" " * 10_000

    r = alice.call("POST", UPLOAD, content=chunks(), headers={"Content-Type": "application/json"})
    _error(r, 413, "larger than")


def test_extra_fields_are_ignored(alice: Api) -> None:
    assert alice.call("POST", UPLOAD, json={**GOOD, "unexpected": 1}).status_code == 200


ENDPOINTS = [
    ("POST", UPLOAD, {"json": GOOD}),
    ("GET", "/connectors/files/list", {}),
    ("DELETE", "/connectors/files/someone_x.txt", {}),
    ("POST", "/users", {"json": {"username": "x"}}),
    ("GET", "/users", {}),
]


@pytest.mark.parametrize(("method", "path", "kw"), ENDPOINTS)
@pytest.mark.parametrize(
    "auth", [None, "", "Bearer", "Basic abc", "bearer wrong-key", "test-key-workspace-a"]
)
def test_missing_or_bad_authorization_is_401(
    alice: Api, method: str, path: str, kw: dict, auth: str | None
) -> None:
    api = Api(alice.http, alice.base_url, None)
    headers = {} if auth is None else {"Authorization": auth}
    r = api.call(method, path, headers=headers, **kw)
    _error(r, 401)
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "test-key-workspace-a" not in r.text


@pytest.mark.parametrize(("method", "path", "kw"), ENDPOINTS)
def test_missing_api_version_is_400(alice: Api, method: str, path: str, kw: dict) -> None:
    api = Api(alice.http, alice.base_url, alice.api_key, alice.user_id, version=None)
    _error(api.call(method, path, **kw), 400, "x-api-version", "required", "2025-09")


@pytest.mark.parametrize("version", ["2025-06", "2024-03", "", "latest", "2025-9"])
def test_unknown_api_version_names_the_supported_ones(alice: Api, version: str) -> None:
    api = Api(alice.http, alice.base_url, alice.api_key, alice.user_id, version=version)
    r = api.call("GET", "/connectors/files/list")
    _error(r, 400, "x-api-version", "not supported", "2025-09")


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "bm90LW1pbmU"}, "cursor"),  # decodes, but is not the caller's
        ({"cursor": "x" * 5000}, "cursor"),
    ],
)
def test_bad_list_parameters(alice: Api, params: dict, word: str) -> None:
    _error(alice.call("GET", "/connectors/files/list", params=params), 400, word)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["username", "required"]),
        ({"username": ""}, ["username"]),
        ({"username": 5}, ["username", "string"]),
        ({"username": "has space"}, ["username"]),
        ({"username": "x" * 200}, ["username"]),
        ({"username": "ok-name", "fullName": 3}, ["fullName", "string"]),
        ({"username": "ok-name2", "fullName": "x" * 300}, ["fullName"]),
    ],
)
def test_bad_create_user(workspace_a: Api, body: dict, words: list[str]) -> None:
    _error(workspace_a.call("POST", "/users", json=body), 400, *words)


def test_unknown_endpoint_and_method_are_json(alice: Api) -> None:
    _error(alice.call("GET", "/connectors/files/nothing-here"), 405)
    _error(alice.call("GET", "/no/such/endpoint"), 404, "no endpoint")


def test_delete_with_empty_or_odd_keys(alice: Api) -> None:
    for path in ("/connectors/files/", "/connectors/files/%2E%2E%2Fx", "/connectors/files/a%00b"):
        r = alice.call("DELETE", path)
        assert 400 <= r.status_code < 500, (path, r.text)
        assert set(r.json()) == {"error", "message"}


LONE = "\\ud800"  # JSON text for a lone UTF-16 surrogate: valid JSON, invalid Unicode


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        (
            UPLOAD,
            f'{{"filename":"a{LONE}b.txt","mimeType":"text/plain","md5":"{"0" * 32}"}}',
            "filename",
        ),
        ("/users", f'{{"username":"sur","fullName":"{LONE}"}}', "fullName"),
        ("/users", f'{{"username":"{LONE}"}}', "username"),
    ],
)
def test_lone_surrogates_are_a_400_naming_the_field(
    alice: Api, path: str, raw: str, field: str
) -> None:
    r = _post_json_text(alice, path, raw)
    _error(r, 400, field, "invalid character")


@pytest.mark.parametrize(
    "request_body",
    [
        f'{{"s3Key":"KEY{LONE}"}}',
        f'{{"s3Key":"KEY","metadata":{{"name":"{LONE}"}}}}',
        f'{{"s3Key":"KEY","metadata":{{"mimeType":"{LONE}"}}}}',
        f'{{"s3Key":"KEY","metadata":{{"name":"ok","parents":["{LONE}"]}}}}',
    ],
)
def test_lone_surrogates_in_actions_copy_nothing(sandbox, alice: Api, request_body: str) -> None:
    key = alice.upload("hello.txt", b"hello")["s3Key"]
    cred = alice.call("POST", "/connectors/googleDrive/credentials", json={}).json()["credentialId"]
    raw = (
        f'{{"credentialId":"{cred}","requestBody":{request_body.replace("KEY", key)},'
        '"queryParameters":{"uploadType":"media"}}'
    )
    r = _post_json_text(alice, UPLOAD_FILE, raw)
    _error(r, 400, "requestBody", "invalid character")
    listed = alice.call(
        "POST", "/connectors/googleDrive/actions/listFiles/execute", json={"credentialId": cred}
    )
    assert listed.json()["result"]["files"] == []
    folder = sandbox.data_dir / "drive" / cred
    assert not folder.exists() or list(folder.iterdir()) == [], "no blob without a record"


@pytest.mark.parametrize("suffix", ["%00", "a%00b", "%01", "%7F"])
def test_keys_with_control_characters_are_simply_not_found(alice: Api, suffix: str) -> None:
    r = alice.call("DELETE", f"/connectors/files/{alice.user_id}_{suffix}")
    _error(r, 404, "File not found")


def test_action_with_a_nul_in_the_key_is_not_found(alice: Api) -> None:
    cred = alice.call("POST", "/connectors/googleDrive/credentials", json={}).json()["credentialId"]
    body = {
        "credentialId": cred,
        "requestBody": {"s3Key": f"{alice.user_id}_\u0000"},
        "queryParameters": {"uploadType": "media"},
    }
    r = alice.call("POST", UPLOAD_FILE, json=body)
    _error(r, 404, "File not found")


@pytest.mark.parametrize("depth", [65, 960, 5000])
def test_deeply_nested_json_is_a_400_naming_the_nesting(alice: Api, depth: int) -> None:
    """A JSON body nested deeper than 64 levels is a 400 naming the nesting.

    Here inside requestBody of an execute call (960 levels once hit a RecursionError)."""
    cred = alice.call("POST", "/connectors/googleDrive/credentials", json={}).json()["credentialId"]
    nested = '{"a":' * depth + "1" + "}" * depth
    raw = f'{{"credentialId":"{cred}","requestBody":{nested}}}'
    r = _post_json_text(alice, UPLOAD_FILE, raw)
    _error(r, 400, "nests JSON", "deeper than 64 levels")


def test_nesting_within_the_limit_reaches_the_field_checks(alice: Api) -> None:
    """64 levels of nesting (brackets in strings not counted) reach the field checks."""
    cred = alice.call("POST", "/connectors/googleDrive/credentials", json={}).json()["credentialId"]
    nested = '{"a":' * 62 + '"[[[[{{{{\\"[["' + "}" * 62
    raw = f'{{"credentialId":"{cred}","requestBody":{nested}}}'
    r = _post_json_text(alice, UPLOAD_FILE, raw)
    _error(r, 400, "requestBody.s3Key")


def test_content_length_with_chunked_is_refused_and_the_connection_closed(sandbox) -> None:
    """Content-Length with Transfer-Encoding: chunked is a 400 and the connection closes.

    Request smuggling's shape (RFC 9112 6.3): the message names both headers, and what
    follows on the connection is never read as a request."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(sandbox.base_url)
    body = b'{"username":"smuggled"}'
    smuggled = b"GET /users HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        b"POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-key-workspace-a\r\n"
        b"x-api-version: 2025-09\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
        + smuggled
    )
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):  # ends only when the server closes
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in head.lower()
    assert b"Content-Length and Transfer-Encoding" in rest
    assert answer.count(b"HTTP/1.1 ") == 1  # the smuggled request got no answer
