"""UploadPanel under faults: storage refusing the browser, bytes that change on the way,
expired URLs, bad chunks, a browser that stops sending, a kernel killed mid-transfer."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from alloy_nb import Client, UploadPanel
from alloy_nb.sandbox import Sandbox, start
from alloy_nb.widgets._relay import CHANGED, RELAY_CHUNK, Spool, relay_put
from alloy_nb.widgets._transfer import FALLBACK, NO_FALLBACK

from .panel_browser import CHUNK, FakeBrowser, MiB, spy_uploads, stored, types, wait_rows


def test_storage_unreachable_from_the_browser_falls_back_to_the_relay(client: Client) -> None:
    """The row says the file went through the kernel; it is stored whole."""
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(3 * MiB)
    file_id = browser.drop("cors.bin", data, put_status=0)
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["note"]) == ("done", FALLBACK)
    assert types(browser, file_id) == ["put", "relay", "finished"]
    assert stored(client, "cors.bin", data)
    panel.close()


def test_direct_only_does_not_fall_back(client: Client) -> None:
    """transfer='direct': the row fails saying why; nothing is relayed or stored."""
    panel = UploadPanel(client, transfer="direct")
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(1000)
    browser.drop("nope.bin", data, put_status=0)
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["error"]) == ("failed", NO_FALLBACK)
    assert browser.chunk_bytes == 0
    assert not stored(client, "nope.bin", data)
    panel.close()


def test_bytes_that_changed_after_hashing_are_refused_by_storage(client: Client) -> None:
    """Storage refuses the PUT (BadDigest); the row says the file changed; nothing stored."""
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(100_000)
    browser.drop("moving.csv", data, put_data=data[:-1] + b"!")
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["error"]) == ("failed", CHANGED)
    assert client.list_files().empty
    panel.close()


def test_relayed_bytes_that_differ_from_the_hash_are_never_stored(client: Client) -> None:
    """Relayed bytes that differ from the browser's MD5: refused, said plainly, not stored."""
    panel = UploadPanel(client, transfer="relay")
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(3 * MiB)
    browser.drop("moving.bin", data, hashed_as=data[:-1] + b"!")
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["error"]) == ("failed", CHANGED)
    assert client.list_files().empty
    panel.close()


@pytest.fixture
def short_url_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """A second API on the session's storage (its own bucket) whose URLs live 2 seconds."""
    s3 = dataclasses.replace(sandbox.storage, bucket="short-" + secrets.token_hex(4))
    with start(api_keys=["short-url-key"], s3=s3, url_ttl=2) as sb:
        yield sb


def url_expiry(url: str) -> float:
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    signed = signed.replace(tzinfo=timezone.utc)
    return signed.timestamp() + int(query["X-Amz-Expires"][0])


def test_expired_url_is_renewed_once(short_url_sandbox: Sandbox) -> None:
    """An expired URL is renewed once (a new URL is sent); the file then lands."""
    client = Client("short-url-key", base_url=short_url_sandbox.base_url)
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(2000)
    file_id = browser.add("late.bin", len(data))
    browser.message({"type": "hashed", "id": file_id, "md5": hashlib.md5(data).hexdigest()})
    first = browser.next(file_id)
    time.sleep(max(0.0, url_expiry(first["url"]) + 1.5 - time.time()))  # let it expire
    expired = browser.http.put(
        first["url"],
        content=data,
        headers={"Content-Type": first["mime"], "Content-MD5": first["md5"]},
    )
    assert (expired.status_code, "expired" in expired.text.lower()) == (403, True), expired.text
    browser.message({"type": "put-result", "id": file_id, "status": 403, "body": expired.text})
    renewed = browser.next(file_id)
    assert renewed["type"] == "put"
    assert renewed["url"] != first["url"]
    r = browser.http.put(
        renewed["url"],
        content=data,
        headers={"Content-Type": renewed["mime"], "Content-MD5": renewed["md5"]},
    )
    browser.message({"type": "put-result", "id": file_id, "status": r.status_code, "body": ""})
    assert browser.next(file_id)["type"] == "finished"
    [row] = wait_rows(panel, 1)
    assert row["stage"] == "done"
    panel.close()
    client.close()


@pytest.mark.parametrize(
    ("offset", "length"),
    [(RELAY_CHUNK * 3, 10), (-5, 10), (0, 0)],
    ids=["past the end", "negative", "empty"],
)
def test_chunk_that_does_not_fit_fails_the_row(client: Client, offset: int, length: int) -> None:
    """The row fails naming the chunk; the browser is told to stop; nothing stored."""
    panel = UploadPanel(client, transfer="relay")
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(RELAY_CHUNK)
    file_id = browser.add("x.bin", len(data))
    browser.message({"type": "hashed", "id": file_id, "md5": hashlib.md5(data).hexdigest()})
    assert browser.next(file_id)["type"] == "relay"
    browser.message({"type": "chunk", "id": file_id, "offset": offset}, [b"z" * length])
    assert browser.next(file_id)["type"] == "finished"
    [row] = wait_rows(panel, 1)
    assert row["stage"] == "failed"
    assert "does not fit" in row["error"]
    assert client.list_files().empty
    panel.close()


def test_chunk_sent_twice_fails_the_row(client: Client) -> None:
    """The row fails (a chunk sent twice); nothing stored."""
    panel = UploadPanel(client, transfer="relay")
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(3 * RELAY_CHUNK)
    file_id = browser.add("twice.bin", len(data))
    browser.message({"type": "hashed", "id": file_id, "md5": hashlib.md5(data).hexdigest()})
    browser.next(file_id)
    for _ in range(2):
        browser.message(
            {"type": "chunk", "id": file_id, "offset": RELAY_CHUNK},
            [memoryview(data)[RELAY_CHUNK : 2 * RELAY_CHUNK]],
        )
    [row] = wait_rows(panel, 1)
    assert (row["stage"], "sent twice" in row["error"]) == ("failed", True)
    panel.close()


def test_file_over_five_gib_fails_before_anything_moves(client: Client) -> None:
    """The row fails at once with the 5 GiB limit; no API call, no byte moved."""
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    file_id = browser.add("huge.bin", 6 * 1024**3)
    assert browser.next(file_id)["type"] == "finished"
    [row] = panel.rows
    assert (row["stage"], row["error"]) == (
        "failed",
        "6.4 GB is over the 5 GiB one upload can carry",
    )
    panel.close()


def test_upload_errors_show_in_plain_words(sandbox: Sandbox) -> None:
    """A refused API key is one plain sentence in the row and the results."""
    panel = UploadPanel(Client("not-a-key", base_url=sandbox.base_url))
    FakeBrowser(panel).drop("x.bin", b"some bytes")
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["error"]) == (
        "failed",
        "The API key was refused: check ALLOY_API_KEY.",
    )
    assert panel.results["error"].tolist() == [row["error"]]
    panel.close()


def test_spool_has_no_name_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's spool file has no name in the temp directory while in use."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spool = Spool(2 * CHUNK, "0" * 32)
    spool.write(0, memoryview(b"x" * CHUNK))
    assert list(tmp_path.iterdir()) == []
    spool.close()


def test_relay_that_stops_arriving_fails_instead_of_waiting_forever() -> None:
    """A relay that stalls fails with a clear message instead of hanging."""
    spool = Spool(10, "0" * 32, stall_seconds=0.3)
    spool.write(0, memoryview(b"12345"))
    reader = spool.reader()
    assert reader.read(5) == b"12345"
    with pytest.raises(Exception, match="the browser sent nothing for 0 s"):
        reader.read(5)
    spool.close()


KILLED_KERNEL = """
import sys
from alloy_nb.widgets._relay import Spool
spool = Spool(64 * 1024 * 1024, "0" * 32)
spool.write(0, memoryview(b"x" * (8 * 1024 * 1024)))
print("half-way", flush=True)
sys.stdin.read()
"""


def test_killed_kernel_mid_relay_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    """A kernel SIGKILLed while a file is relayed leaves no spool file or directory."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_KERNEL],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"half-way"
    fds = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
    assert any(str(tmp) in link and "(deleted)" in link for link in fds), fds
    proc.kill()
    proc.wait(10)
    assert list(tmp.iterdir()) == []


def test_relay_put_refused_goes_through_the_client_once_all_bytes_are_in(
    short_url_sandbox: Sandbox,
) -> None:
    """The relay's streamed PUT meets an expired URL: Client.upload PUTs the spool again.

    (It asks for a fresh URL) once every chunk has arrived; the file is stored whole.
    """
    client = Client("short-url-key", base_url=short_url_sandbox.base_url)
    uploads = spy_uploads(client)
    data = secrets.token_bytes(RELAY_CHUNK + 5)
    md5 = hashlib.md5(data).hexdigest()
    ticket = client.request_upload("late-relay.bin", "application/octet-stream", md5)
    time.sleep(max(0.0, url_expiry(ticket.presigned_url) + 1.5 - time.time()))  # let it expire
    spool = Spool(len(data), md5)
    arrive = threading.Thread(
        target=lambda: [
            spool.write(o, memoryview(data[o : o + CHUNK])) for o in range(0, len(data), CHUNK)
        ]
    )
    progress: list[int] = []
    with httpx.Client(timeout=30) as http:
        arrive.start()
        relay_put(
            http,
            client,
            ticket,
            "late-relay.bin",
            "application/octet-stream",
            spool,
            progress.append,
        )
    arrive.join(10)
    spool.close()
    assert [u["filename"] for u in uploads] == ["late-relay.bin"]
    assert progress[0] == 0
    assert progress[-1] == len(data)
    assert stored(client, "late-relay.bin", data)
    client.close()
