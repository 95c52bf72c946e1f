"""Retries, backoff and error mapping: httpx.MockTransport for storms no real server gives."""

from __future__ import annotations

import email.utils
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import alloy_nb
from alloy_nb._exceptions import make_status_error

BASE = "https://alloy.test"
KEY = "sk-mock-key"


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], **kw: object
) -> alloy_nb.Client:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return alloy_nb.Client(KEY, base_url=BASE, http_client=http, **kw)  # type: ignore[arg-type]


def ticket_json(kind: str = "new") -> dict[str, object]:
    return {
        "presignedUrl": {
            "presignedUrl": "https://storage.test/bucket/u_f.bin?X-Amz-Signature=abc",
            "md5": "KUK/q7PQUzK2brEo4IQs/w==",
            "s3Key": "651eb6e11d156e0d7a42c59d_f.bin",
            "type": kind,
        }
    }


def test_503_three_times_then_success(sleeps: list[float]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 3:
            return httpx.Response(503, json={"error": "Service Unavailable", "message": "busy"})
        return httpx.Response(200, json=ticket_json())

    t = make_client(handler).request_upload("f.bin", "application/octet-stream", "0" * 32)
    assert t.s3_key.endswith("_f.bin")
    assert len(calls) == 4
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2] <= 8
    assert all(c.headers["authorization"] == f"Bearer {KEY}" for c in calls)


def test_gives_up_after_max_retries_with_a_server_error(sleeps: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>", headers={"x-request-id": "r-1"})

    with pytest.raises(alloy_nb.ServerError) as e:
        make_client(handler, max_retries=2).list_files()
    assert len(sleeps) == 2
    assert e.value.status_code == 502
    assert e.value.request_id == "r-1"
    assert "bad gateway" in str(e.value)
    assert KEY not in str(e.value)


def test_429_honours_retry_after_seconds_and_dates(sleeps: list[float]) -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "Rate limit exceeded"}),
        httpx.Response(
            429, headers={"Retry-After": email.utils.formatdate(time.time() + 5, usegmt=True)}
        ),
        httpx.Response(429, headers={"Retry-After": "100000"}),
        httpx.Response(200, json={"files": []}),
    ]
    client = make_client(lambda r: answers.pop(0))
    assert client.list_files().empty
    assert sleeps[0] == 3
    assert 3 < sleeps[1] <= 5
    assert sleeps[2] == 60, "a huge Retry-After is capped"


def test_rate_limit_error_when_retries_run_out(sleeps: list[float]) -> None:
    client = make_client(
        lambda r: httpx.Response(
            429, json={"error": "Too Many Requests", "message": "Rate limit exceeded"}
        ),
        max_retries=0,
    )
    with pytest.raises(alloy_nb.RateLimitError, match="Rate limit exceeded"):
        client.list_files()
    assert sleeps == []


def test_connection_errors_and_timeouts_are_retried_then_raised(sleeps: list[float]) -> None:
    errors: list[Exception] = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]

    def flaky(request: httpx.Request) -> httpx.Response:
        if errors:
            raise errors.pop(0)
        return httpx.Response(200, json={"files": []})

    assert make_client(flaky).list_files().empty
    assert len(sleeps) == 2

    def always_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(alloy_nb.APITimeoutError):
        make_client(always_timeout, max_retries=1).list_files()

    def always_reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(alloy_nb.APIConnectionError) as e:
        make_client(always_reset, max_retries=1).list_files()
    assert not isinstance(e.value, alloy_nb.APITimeoutError)


def test_4xx_is_not_retried(sleeps: list[float]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": "Bad Request", "message": "field 'md5' is bad"})

    with pytest.raises(alloy_nb.BadRequestError, match="field 'md5' is bad"):
        make_client(handler).request_upload("a", "text/plain", "0" * 32)
    assert len(calls) == 1
    assert sleeps == []


def test_put_body_is_rewound_before_each_retry(sleeps: list[float], tmp_path: Path) -> None:
    data = bytes(range(256)) * 8000  # ~2 MB: several chunks
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    md5 = hashlib.md5(data)
    import base64

    b64 = base64.b64encode(md5.digest()).decode()
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/upload/request"):
            t = ticket_json()
            t["presignedUrl"]["md5"] = b64  # type: ignore[index]
            return httpx.Response(200, json=t)
        body = request.read()
        bodies.append(body)
        assert request.headers["content-length"] == str(len(data))
        assert request.headers["content-md5"] == b64
        assert "authorization" not in request.headers, "no API key goes to storage"
        if len(bodies) < 3:
            return httpx.Response(
                503,
                text="<Error><Code>SlowDown</Code><Message>Slow down</Message></Error>",
            )
        return httpx.Response(200)

    result = make_client(handler).upload(p, progress=False)
    assert result.type == "new"
    assert bodies == [data, data, data]


def test_malformed_upload_answer_is_a_clear_error() -> None:
    client = make_client(lambda r: httpx.Response(200, json={"unexpected": True}))
    with pytest.raises(ValueError, match="unexpected upload response"):
        client.request_upload("a", "text/plain", "0" * 32)


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "message"),
    [
        (
            400,
            {"error": "Bad Request", "message": "field 'md5' ..."},
            alloy_nb.BadRequestError,
            "Bad Request",
            "field 'md5' ...",
        ),
        (401, {"message": "Unauthorized"}, alloy_nb.AuthenticationError, None, "Unauthorized"),
        (
            403,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
            "<RequestId>R9</RequestId></Error>",
            alloy_nb.PermissionDeniedError,
            "AccessDenied",
            "AccessDenied: Request has expired",
        ),
        (
            404,
            {"error": {"code": 404, "message": "File not found: x."}},
            alloy_nb.NotFoundError,
            None,
            "File not found: x.",
        ),
        (409, {"error": "Conflict"}, alloy_nb.ConflictError, "Conflict", "Conflict"),
        (429, "", alloy_nb.RateLimitError, None, "Too Many Requests"),
        (500, "plain text failure", alloy_nb.ServerError, None, "plain text failure"),
        (418, "", alloy_nb.APIStatusError, None, "I'm a teapot"),
    ],
)
def test_error_factory(
    status: int, body: object, cls: type, code: str | None, message: str
) -> None:
    content = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
    response = httpx.Response(status, content=content, request=httpx.Request("GET", BASE))
    err = make_status_error(response)
    assert type(err) is cls
    assert err.code == code
    assert err.message == message
    assert err.status_code == status
    if status == 403:
        assert err.request_id == "R9"
