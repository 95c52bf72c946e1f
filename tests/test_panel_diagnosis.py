"""UploadPanel after a direct PUT with no readable answer (status 0): the kernel finds out
why before it relays. A changed file is refused, a PUT that landed is done, an expired URL is
renewed once and PUT directly again; only storage out of the browser's reach is relayed."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alloy_nb import Client, UploadPanel
from alloy_nb.sandbox import Sandbox, start
from alloy_nb.widgets._diagnosis import next_step, read_error_message, s3_message, url_expired
from alloy_nb.widgets._relay import CHANGED
from alloy_nb.widgets._transfer import DIRECT, FALLBACK, NO_FALLBACK

from .helpers import WORKSPACE_KEYS, Api
from .panel_browser import FakeBrowser, stored, types, wait_rows

V4 = (
    "https://s3.example/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z"
    "&X-Amz-Expires=600&X-Amz-Signature=ab"
)
V4_SIGNED = 1767225600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("url", "now", "expired"),
    [
        (V4, V4_SIGNED + 599, False),
        (V4, V4_SIGNED + 600, True),
        (V4.replace("X-Amz-Date", "x-amz-date"), V4_SIGNED + 601, True),
        ("https://s3.example/b/k?AWSAccessKeyId=a&Expires=1000&Signature=s", 999, False),
        ("https://s3.example/b/k?AWSAccessKeyId=a&Expires=1000&Signature=s", 1000, True),
        ("https://s3.example/b/k?X-Amz-Date=yesterday&X-Amz-Expires=600", V4_SIGNED, None),
        ("https://s3.example/b/k?X-Amz-Date=20260101T000000Z", V4_SIGNED + 9999, None),
        ("https://s3.example/b/k", V4_SIGNED, None),
    ],
    ids=[
        "v4 live",
        "v4 at expiry",
        "lower-case names",
        "v2 live",
        "v2 at expiry",
        "bad date",
        "no expires",
        "unsigned",
    ],
)
def test_url_expiry_is_read_from_the_url(url: str, now: float, expired: bool | None) -> None:
    """True past X-Amz-Date + X-Amz-Expires (or SigV2 Expires); None when the URL says neither."""
    assert url_expired(url, now) is expired


@pytest.mark.parametrize(
    ("readable", "alloy_says", "expired", "renewed", "transfer", "step"),
    [
        (False, "new", True, False, "auto", "changed"),
        (False, "existing", False, False, "auto", "stored"),
        (True, "existing", True, False, "auto", "stored"),
        (True, "new", True, False, "auto", "renew"),
        (True, "new", True, False, "direct", "renew"),
        (True, "new", True, True, "auto", "relay"),
        (True, "new", False, False, "auto", "relay"),
        (True, "new", None, False, "auto", "relay"),
        (True, "new", False, False, "direct", "refuse"),
    ],
)
def test_next_step_after_an_unreadable_answer(
    readable: bool,
    alloy_says: str,
    expired: bool | None,
    renewed: bool,
    transfer: str,
    step: str,
) -> None:
    """Stored, changed, renew once, then relay (auto) or refuse (direct), in that order."""
    assert (
        next_step(
            readable=readable,
            alloy_says=alloy_says,
            expired=expired,
            renewed=renewed,
            transfer=transfer,
        )
        == step
    )


def test_storage_error_bodies_and_read_errors_in_plain_words() -> None:
    """S3 XML errors give "Code: Message"; only read errors that mean "changed" map to it."""
    body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    assert s3_message(body) == "AccessDenied: Request has expired"
    assert s3_message("") == "no details"
    assert read_error_message("NotReadableError") == CHANGED
    assert "moved or deleted" in str(read_error_message("NotFoundError"))
    assert read_error_message("SecurityError") is None
    assert read_error_message(None) is None


# ---- the kernel's half, against the real sandbox (FakeBrowser speaks the panel's protocol) ----


@pytest.fixture
def client(sandbox: Sandbox, alice: Api) -> Iterator[Client]:
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as c:
        yield c


@pytest.fixture
def short_url_client(sandbox: Sandbox) -> Iterator[Client]:
    """A client of a second API on the session's storage whose URLs live 2 seconds."""
    s3 = dataclasses.replace(sandbox.storage, bucket="diag-" + secrets.token_hex(4))
    with (
        start(api_keys=["diag-key"], s3=s3, url_ttl=2) as sb,
        Client("diag-key", base_url=sb.base_url) as c,
    ):
        yield c


def hashed(browser: FakeBrowser, name: str, data: bytes) -> tuple[str, dict[str, Any]]:
    """Add and hash a file; returns its id and the kernel's "put" message."""
    file_id = browser.add(name, len(data))
    browser.message({"type": "hashed", "id": file_id, "md5": hashlib.md5(data).hexdigest()})
    put = browser.next(file_id)
    assert put["type"] == "put", put
    return file_id, put


def put(browser: FakeBrowser, msg: dict[str, Any], data: bytes) -> httpx.Response:
    headers = {"Content-Type": msg["mime"], "Content-MD5": msg["md5"]}
    return browser.http.put(msg["url"], content=data, headers=headers)


def wait_expired(url: str) -> None:
    while not url_expired(url, time.time() - 1.2):  # a second's margin over storage's clock
        time.sleep(0.2)


def test_unreadable_answer_and_unreadable_file_means_it_changed(client: Client) -> None:
    """The browser can no longer read the file: "changed", no relay, nothing stored."""
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(100_000)
    file_id, _ = hashed(browser, "moving.csv", data)
    browser.message({"type": "put-result", "id": file_id, "status": 0, "readable": False})
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["error"]) == ("failed", CHANGED)
    assert types(browser, file_id) == ["put", "finished"]
    assert browser.chunk_bytes == 0
    assert client.list_files().empty
    panel.close()


@pytest.mark.parametrize("readable", [True, False], ids=["file unchanged", "file changed since"])
def test_unreadable_answer_to_a_put_that_landed_is_done(client: Client, readable: bool) -> None:
    """The PUT landed, only its answer was unreadable: "done", direct, no relay.

    Even if the file changed since: storage checked the stored bytes against the browser's MD5.
    """
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(100_000)
    file_id, msg = hashed(browser, "landed.bin", data)
    assert put(browser, msg, data).status_code == 200
    browser.message({"type": "put-result", "id": file_id, "status": 0, "readable": readable})
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["note"], row["error"]) == ("done", DIRECT, "")
    assert types(browser, file_id) == ["put", "finished"]
    assert browser.chunk_bytes == 0
    panel.close()


@pytest.mark.parametrize("transfer", ["auto", "direct"])
def test_unreadable_answer_with_an_expired_url_renews_it_once(
    short_url_client: Client, transfer: str
) -> None:
    """The URL had expired: a new URL is sent (no relay), the direct PUT with it lands."""
    panel = UploadPanel(short_url_client, transfer=transfer)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(5000)
    file_id, first = hashed(browser, "late.bin", data)
    wait_expired(first["url"])
    assert put(browser, first, data).status_code == 403  # what a page cannot read without CORS
    browser.message({"type": "put-result", "id": file_id, "status": 0, "readable": True})
    renewed = browser.next(file_id)
    assert (renewed["type"], renewed["url"] != first["url"]) == ("put", True)
    assert put(browser, renewed, data).status_code == 200
    browser.message({"type": "put-result", "id": file_id, "status": 200})
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["note"], row["error"]) == ("done", DIRECT, "")
    assert types(browser, file_id) == ["put", "put", "finished"]
    assert browser.chunk_bytes == 0
    assert stored(short_url_client, "late.bin", data)
    panel.close()


def test_unreadable_answer_with_a_live_url_still_falls_back(client: Client) -> None:
    """Storage out of the browser's reach (URL live, nothing stored): relayed, stored whole."""
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(300_000)
    file_id, _ = hashed(browser, "far.bin", data)
    browser.message({"type": "put-result", "id": file_id, "status": 0, "readable": True})
    relay = browser.next(file_id)
    assert relay["type"] == "relay"
    browser.relay(file_id, data, relay["chunk"], relay["window"], "forward")
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["note"], row["error"]) == ("done", FALLBACK, "")
    assert stored(client, "far.bin", data)
    panel.close()


def test_second_unreadable_answer_after_a_renewal_is_not_renewed_again(
    short_url_client: Client,
) -> None:
    """Renewed once already: transfer='direct' then fails plainly instead of looping."""
    panel = UploadPanel(short_url_client, transfer="direct")
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(2000)
    file_id, first = hashed(browser, "later.bin", data)
    wait_expired(first["url"])
    browser.message({"type": "put-result", "id": file_id, "status": 0, "readable": True})
    renewed = browser.next(file_id)
    wait_expired(renewed["url"])
    browser.message({"type": "put-result", "id": file_id, "status": 0, "readable": True})
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["error"]) == ("failed", NO_FALLBACK)
    assert types(browser, file_id) == ["put", "put", "finished"]
    panel.close()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("NotReadableError", CHANGED),
        ("NotFoundError", "moved or deleted"),
        ("TypeError", "the browser could not read the file: boom"),
    ],
)
def test_browser_read_errors_in_plain_words(client: Client, kind: str, words: str) -> None:
    """A read that fails because the file changed says so; other errors keep their text."""
    panel = UploadPanel(client, transfer="relay")
    browser = FakeBrowser(panel)
    file_id = browser.add("gone.bin", 10)
    browser.message({"type": "browser-error", "id": file_id, "error": "boom", "kind": kind})
    [row] = wait_rows(panel, 1)
    assert row["stage"] == "failed"
    assert words in row["error"]
    panel.close()
