"""Panels without a browser: browser messages are simulated, buttons clicked, state read."""

from __future__ import annotations

import json
import secrets
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import alloy_nb
from alloy_nb import Client, FileBrowser, UploadPanel
from alloy_nb.sandbox import Sandbox

from .conftest import WORKSPACE_KEYS, Api, md5_pair

CHUNK = 2 * 1024 * 1024
TERMINAL = ("done", "already stored", "failed")


@pytest.fixture
def client(sandbox: Sandbox, alice: Api) -> Iterator[Client]:
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as c:
        yield c


class Browser:
    """Plays the panel's JavaScript: begin, acknowledged chunks, end."""

    def __init__(self, panel: UploadPanel) -> None:
        self.panel = panel
        self.sent: list[dict[str, Any]] = []
        panel.send = lambda content, buffers=None: self.sent.append(content)

    def message(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        self.panel._handle_custom_msg(content, buffers or [])

    def send_file(
        self, name: str, data: bytes, *, chunk: int = CHUNK, stop_at: int | None = None
    ) -> str:
        file_id = secrets.token_hex(4)
        self.message({"type": "begin", "id": file_id, "name": name, "size": len(data), "mime": ""})
        assert self.sent[-1] == {"type": "ack", "id": file_id, "offset": 0}
        end = len(data) if stop_at is None else stop_at
        for offset in range(0, end, chunk):
            piece = data[offset : min(offset + chunk, end)]
            self.message({"type": "chunk", "id": file_id, "offset": offset}, [memoryview(piece)])
            assert self.sent[-1] == {"type": "ack", "id": file_id, "offset": offset + len(piece)}
        self.message({"type": "end", "id": file_id})
        return file_id


def wait_rows(panel: UploadPanel, n: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = panel.rows
        if len(rows) >= n and all(r["stage"] in TERMINAL for r in rows[:n]):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"rows did not finish: {panel.rows}")


def test_browser_file_in_chunks_is_uploaded_and_reported(client: Client) -> None:
    panel = UploadPanel(client)
    browser = Browser(panel)
    seen: list[alloy_nb.UploadResult] = []
    panel.on_upload(seen.append)
    data = secrets.token_bytes(5 * CHUNK + 123)
    browser.send_file("measurements.csv", data)
    [row] = wait_rows(panel, 1)
    assert (row["name"], row["stage"], row["size"], row["error"]) == (
        "measurements.csv",
        "done",
        len(data),
        "",
    )
    assert row["size_text"] == "10.5 MB"
    assert row["done"] == row["total"] == len(data)
    [result] = seen
    assert (result.md5_hex, result.type) == (md5_pair(data)[0], "new")
    listed = client.list_files()
    assert listed[["filename", "size"]].values.tolist() == [["measurements.csv", len(data)]]
    assert panel.results["s3_key"].tolist() == [result.s3_key]
    assert list(panel._spool_dir.iterdir()) == [], "the spool file is removed"
    panel.close()


def test_same_file_twice_shows_already_stored_and_reset_clears(client: Client) -> None:
    panel = UploadPanel(client)
    browser = Browser(panel)
    data = secrets.token_bytes(1000)
    browser.send_file("twice.bin", data)
    wait_rows(panel, 1)
    browser.send_file("twice.bin", data)
    rows = wait_rows(panel, 2)
    assert [r["stage"] for r in rows] == ["done", "already stored"]
    assert panel.results["type"].tolist() == ["new", "existing"]
    browser.message({"type": "reset"})
    assert panel.rows == []
    assert panel.results.empty
    panel.close()


def test_kernel_memory_does_not_grow_with_file_size(client: Client) -> None:
    panel = UploadPanel(client)
    browser = Browser(panel)
    file_id = "big"
    size = 48 * CHUNK
    browser.message({"type": "begin", "id": file_id, "name": "big.bin", "size": size})
    chunk = secrets.token_bytes(CHUNK)
    tracemalloc.start()
    for i in range(48):
        browser.message({"type": "chunk", "id": file_id, "offset": i * CHUNK}, [memoryview(chunk)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * CHUNK, f"{peak} bytes held while receiving 96 MiB"
    browser.message({"type": "end", "id": file_id})
    [row] = wait_rows(panel, 1, timeout=60)
    assert row["stage"] == "done"
    panel.close()


def test_out_of_order_chunk_is_refused_and_the_row_fails(client: Client) -> None:
    panel = UploadPanel(client)
    browser = Browser(panel)
    browser.message({"type": "begin", "id": "x", "name": "x.bin", "size": 10})
    browser.message({"type": "chunk", "id": "x", "offset": 5}, [b"abcde"])
    assert browser.sent[-1] == {"type": "refused", "id": "x", "offset": 5}
    [row] = panel.rows
    assert (row["stage"], row["error"]) == ("failed", "the file arrived out of order")
    assert client.list_files().empty
    panel.close()


def test_file_cut_short_fails_and_stores_nothing(client: Client) -> None:
    panel = UploadPanel(client)
    Browser(panel).send_file("short.bin", secrets.token_bytes(3 * CHUNK), stop_at=CHUNK)
    [row] = wait_rows(panel, 1)
    assert row["stage"] == "failed"
    assert f"only {CHUNK} of {3 * CHUNK} bytes arrived" in row["error"]
    assert client.list_files().empty
    panel.close()


def test_kernel_paths_and_globs(client: Client, tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"part-{i}.csv").write_text(f"a,b\n{i},{i}\n")
    (tmp_path / "notes.txt").write_text("not me")
    panel = UploadPanel(client)
    browser = Browser(panel)
    browser.message({"type": "paths", "pattern": str(tmp_path / "part-*.csv")})
    rows = wait_rows(panel, 3)
    assert sorted(r["name"] for r in rows) == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert {r["stage"] for r in rows} == {"done"}
    browser.message({"type": "paths", "pattern": str(tmp_path / "*.parquet")})
    assert "No file matches" in panel.message
    panel.close()


def test_upload_errors_show_in_plain_words(sandbox: Sandbox, tmp_path: Path) -> None:
    bad = Client("not-a-key", base_url=sandbox.base_url)
    panel = UploadPanel(bad)
    Browser(panel).send_file("x.bin", b"some bytes")
    [row] = wait_rows(panel, 1)
    assert row["stage"] == "failed"
    assert row["error"] == "The API key was refused: check ALLOY_API_KEY."
    assert panel.results["error"].tolist() == [row["error"]]
    panel.close()


def test_no_secret_in_widget_state(client: Client) -> None:
    panel = UploadPanel(client)
    browser = FileBrowser(client)
    Browser(panel).send_file("s.bin", b"state")
    wait_rows(panel, 1)
    states = [panel.get_state(), *(c.get_state() for c in browser.children)]
    dumped = json.dumps(states, default=str)
    assert WORKSPACE_KEYS[0] not in dumped
    assert "Bearer" not in dumped
    panel.close()
