"""Plain words: every kind of alloy_nb error becomes a sentence a person can act on."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import alloy_nb
from alloy_nb import Client
from alloy_nb.connectors import google_drive
from alloy_nb.sandbox import Sandbox
from alloy_nb.widgets._common import explain, plain_error
from alloy_nb.widgets._plain import SANDBOX_HINT

from .helpers import WORKSPACE_KEYS, Api
from .ports import listener, refused_port

TECHNICAL = re.compile(r"[A-Z][a-zA-Z]+(Error|Exception)\b|Errno|Traceback|\[-?\d+\]")


def plain(error: BaseException | str) -> str:
    text = plain_error(error)
    assert not TECHNICAL.search(text), text
    assert text[0].isupper(), text
    assert text.endswith("."), text
    return text


def caught(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as e:
        return e
    raise AssertionError("no error raised")


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client("k", base_url="https://api.example.test", http_client=http, max_retries=0)


@pytest.fixture
def closed_port() -> Iterator[int]:
    with refused_port() as port:
        yield port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with listener(8) as s:
        yield s.getsockname()[1]


def test_connection_refused_names_the_host_and_the_fix(closed_port: int) -> None:
    client = Client("k", base_url=f"http://127.0.0.1:{closed_port}", max_retries=0)
    text = plain(caught(client.list_files))
    assert text == (
        f"Could not reach the Alloy API at 127.0.0.1:{closed_port}: nothing is listening "
        f"there. {SANDBOX_HINT}"
    )


def test_unknown_host_says_the_name_was_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    text = plain(caught(mocked(handler).list_files))
    assert text.startswith("Could not reach the Alloy API at api.example.test: that host name")
    assert "ALLOY_BASE_URL" in text


def test_timeout_says_no_answer_in_time(silent_port: int) -> None:
    client = Client("k", base_url=f"http://127.0.0.1:{silent_port}", max_retries=0, timeout=0.3)
    text = plain(caught(client.list_files))
    assert text.startswith(f"The Alloy API at 127.0.0.1:{silent_port} did not answer in time")
    assert "while listing your files" in text
    assert text.endswith(SANDBOX_HINT)


def test_bad_key_and_missing_key(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = Client("not-a-key", base_url=sandbox.base_url)
    assert plain(caught(bad.list_files)) == "The API key was refused: check ALLOY_API_KEY."
    monkeypatch.delenv("ALLOY_API_KEY", raising=False)
    assert "set ALLOY_API_KEY" in plain(caught(Client))


def test_not_found_while_deleting(sandbox: Sandbox, alice: Api) -> None:
    client = Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id)
    key = "0123456789abcdef01234567_gone report.csv"
    expected = (
        "The file gone report.csv is no longer there: it was deleted already, or it belongs "
        "to another user. Refresh to see your files."
    )
    assert plain(caught(lambda: client.delete_file(key))) == expected
    [row_error] = client.delete_files([key])["error"].tolist()
    assert plain(row_error) == expected, "a batch row's error string reads the same"


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (
            429,
            {"retry-after": "30"},
            "too many requests right now while listing your files. Wait about 30 seconds",
        ),
        (
            503,
            {},
            "The Alloy API at api.example.test had a problem while listing your files "
            "(HTTP 503). This is usually temporary",
        ),
        (403, {}, "Alloy did not allow this while listing your files: Workspace is read-only."),
        (409, {}, "Something changed at the same time while listing your files: Workspace is"),
        (400, {}, "Alloy refused the request while listing your files: Workspace is read-only."),
        (404, {}, "Alloy could not find what was asked for while listing your files: Work"),
    ],
)
def test_status_errors(status: int, headers: dict[str, str], expected: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": "Nope", "message": "workspace is read-only"}
        return httpx.Response(status, json=body, headers=headers)

    assert expected in plain(caught(mocked(handler).list_files))


def test_server_error_on_the_sandbox_says_to_rerun_connect() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="Internal Server Error")

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = Client("k", base_url="http://127.0.0.1:9", http_client=http, max_retries=0)
    assert plain(caught(client.list_files)).endswith(SANDBOX_HINT)


def test_unreadable_answer_keeps_the_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy login</html>")

    result = explain(caught(mocked(handler).list_files))
    assert plain(result.text).startswith("Alloy sent an answer that could not be used")
    assert result.detail is not None
    assert "not valid JSON" in result.detail


def test_drive_errors_from_a_batch_row(sandbox: Sandbox, alice: Api) -> None:
    client = Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id)
    key = client.upload(b"drive me", filename="d.txt", progress=False).s3_key
    out = client.send_to_google_drive(key, "651eb6e11d156e0d7a42c59d")
    text = plain(out["error"].iloc[0])
    assert text == (
        "Alloy could not find what was asked for while talking to Google Drive: Credential "
        "not found. Refresh, then try again."
    )


def test_integrity_size_dependency_and_own_value_errors() -> None:
    integrity = alloy_nb.IntegrityError("storage rejected a.bin", filename="a.bin")
    assert plain(integrity).startswith("The file a.bin changed while it was being uploaded")
    big = alloy_nb.FileTooLargeError("big.bin is 6,000,000,000 bytes; one upload carries at most")
    assert plain(big).startswith("Too large to upload: big.bin is 6,000,000,000 bytes")
    missing = alloy_nb.MissingDependencyError("the local sandbox needs the sandbox extra")
    assert plain(missing) == "The local sandbox needs the sandbox extra."
    own = caught(lambda: google_drive.upload_file(""))
    assert plain(own).startswith("Check the input: s3_key must be a non-empty string")


def test_file_errors(tmp_path: Path) -> None:
    missing = caught(lambda: open(tmp_path / "nope.csv"))  # noqa: SIM115
    assert plain(missing).startswith(f"There is no file at {tmp_path / 'nope.csv'}")
    folder = caught(lambda: open(tmp_path))  # noqa: SIM115
    assert "is a folder, not a file" in plain(folder)
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/x.csv")
    assert plain(denied) == "Not allowed to open /data/x.csv: check the file's permissions."
    full = OSError(errno.ENOSPC, "No space left on device")
    assert plain(full) == "The disk is full: free some space, then try again."
    other = OSError(errno.EIO, "Input/output error", "/mnt/x")
    assert plain(other) == "A file operation failed (/mnt/x): input/output error. Try again."


def test_unknown_errors_are_generic_with_hidden_detail() -> None:
    result = explain(RuntimeError("boom in a library"))
    assert plain(result.text).startswith("Something unexpected went wrong")
    assert result.detail == "RuntimeError: boom in a library"
    foreign = explain(caught(lambda: int("x")))
    assert foreign.text.startswith("Something unexpected"), "a library's ValueError is not ours"
    assert plain("ReadTimeout: the read operation timed out").startswith("Something unexpected")
    assert plain("Already a sentence without a class") == "Already a sentence without a class."


@pytest.mark.parametrize(
    ("row_error", "expected"),
    [
        (
            "APIConnectionError: DELETE http://127.0.0.1:5/connectors/files/651eb6e11d156e0d7a42c59d_x"
            ".csv failed: [Errno 111] Connection refused",
            f"Could not reach the Alloy API at 127.0.0.1:5: nothing is listening there. "
            f"{SANDBOX_HINT}",
        ),
        (
            "ServerError: 502 listing files: Bad gateway (request id r-1)",
            "The Alloy API had a problem while listing your files (HTTP 502). This is usually "
            "temporary: try again in a minute.",
        ),
        (
            "APITimeoutError: GET https://api.example.test/connectors/files/list timed out",
            "The Alloy API at api.example.test did not answer in time while listing your files. "
            "Check your network connection, then try again.",
        ),
        (
            "RateLimitError: 429 upload request for a.csv: slow down",
            "Alloy is receiving too many requests right now while preparing the upload of a.csv. "
            "Wait a minute, then try again.",
        ),
        (
            "PermissionDeniedError: 403 creating a googleDrive credential: not in this plan",
            "Alloy did not allow this while creating Google Drive credentials: Not in this plan. "
            "Ask your workspace admin if you need access.",
        ),
        (
            "ValueError: credential_id must be a 24-character id",
            "Check the input: credential_id must be a 24-character id.",
        ),
        (
            "KeyError: 'id'",
            "Something unexpected went wrong. Try again; if it keeps happening, "
            "report it with the details.",
        ),
    ],
)
def test_batch_row_strings(row_error: str, expected: str) -> None:
    assert plain(row_error) == expected
