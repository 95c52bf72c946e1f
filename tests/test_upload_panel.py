"""UploadPanel's kernel side without a browser: the JavaScript's messages are played by
FakeBrowser (tests/panel_browser.py), whose PUTs go to the sandbox's real storage. The
faults are in test_panel_faults.py."""

from __future__ import annotations

import hashlib
import json
import secrets
import tracemalloc
from pathlib import Path

import pytest

from alloy_nb import Client, UploadPanel, UploadResult
from alloy_nb.widgets._relay import RELAY_CHUNK
from alloy_nb.widgets._transfer import DIRECT, RELAYED

from .helpers import WORKSPACE_KEYS
from .panel_browser import CHUNK, FakeBrowser, MiB, spy_uploads, stored, types, wait_rows


def test_dropped_file_goes_straight_to_storage_and_is_confirmed(client: Client) -> None:
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    seen: list[UploadResult] = []
    panel.on_upload(seen.append)
    data = secrets.token_bytes(5 * MiB + 123)
    file_id = browser.drop("measurements.csv", data)
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["note"], row["error"]) == ("done", DIRECT, "")
    assert row["done"] == row["total"] == len(data)
    assert types(browser, file_id) == ["put", "finished"]
    assert (browser.puts, browser.chunk_bytes) == (1, 0)
    [result] = seen
    assert (result.type, result.md5_hex, result.mime_type) == (
        "new",
        hashlib.md5(data).hexdigest(),
        "text/csv",
    )
    assert row["s3_key"] == result.s3_key
    assert client.list_files()[["filename", "size"]].values.tolist() == [
        ["measurements.csv", len(data)]
    ]
    assert panel.results["s3_key"].tolist() == [result.s3_key]
    panel.close()


def test_same_bytes_under_another_name_move_no_byte(client: Client) -> None:
    """Dedup before transfer: "already stored", no URL handed out, nothing sent."""
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(300_000)
    browser.drop("first.bin", data)
    second = browser.drop("second name.bin", data)
    rows = wait_rows(panel, 2)
    assert [r["stage"] for r in rows] == ["done", "already stored"]
    assert types(browser, second) == ["finished"]
    assert (browser.puts, browser.chunk_bytes) == (1, 0)
    assert rows[1]["s3_key"] == rows[0]["s3_key"]
    assert panel.results["type"].tolist() == ["new", "existing"]
    browser.message({"type": "reset"})
    assert panel.rows == []
    assert panel.results.empty
    panel.close()


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_relay_windowed_chunks_land_at_their_offsets(client: Client, order: str) -> None:
    uploads = spy_uploads(client)
    panel = UploadPanel(client, transfer="relay")
    browser = FakeBrowser(panel)
    data = secrets.token_bytes(5 * RELAY_CHUNK + 777)  # two windows of chunks
    file_id = browser.drop("relayed.bin", data, order=order)
    [row] = wait_rows(panel, 1)
    assert (row["stage"], row["note"], row["error"]) == ("done", RELAYED, "")
    assert types(browser, file_id) == ["relay", "finished"]
    assert (browser.puts, browser.chunk_bytes) == (0, len(data))
    assert uploads == [], "streamed to storage as it arrived, not PUT again afterwards"
    assert stored(client, "relayed.bin", data)
    panel.close()


def test_kernel_memory_stays_flat_while_the_relay_receives(client: Client) -> None:
    panel = UploadPanel(client, transfer="relay")
    browser = FakeBrowser(panel)
    size = 48 * CHUNK  # the kernel takes chunks of any size the browser picks
    piece = secrets.token_bytes(CHUNK)
    file_id = browser.add("big.bin", size)
    md5 = hashlib.md5()
    for _ in range(48):
        md5.update(piece)
    browser.message({"type": "hashed", "id": file_id, "md5": md5.hexdigest()})
    assert browser.next(file_id)["type"] == "relay"
    tracemalloc.start()
    for i in range(48):
        browser.message({"type": "chunk", "id": file_id, "offset": i * CHUNK}, [memoryview(piece)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * CHUNK, f"{peak} bytes held while receiving 96 MiB"
    [row] = wait_rows(panel, 1, timeout=120)
    assert row["stage"] == "done"
    panel.close()


def test_unknown_transfer_is_refused_by_name(client: Client) -> None:
    with pytest.raises(ValueError, match="transfer='fast': use one of auto, direct, relay"):
        UploadPanel(client, transfer="fast")


def test_kernel_paths_and_globs(client: Client, tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"part-{i}.csv").write_text(f"a,b\n{i},{i}\n")
    (tmp_path / "notes.txt").write_text("not me")
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    browser.message({"type": "paths", "pattern": str(tmp_path / "part-*.csv")})
    rows = wait_rows(panel, 3)
    assert sorted(r["name"] for r in rows) == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert {r["stage"] for r in rows} == {"done"}
    browser.message({"type": "paths", "pattern": str(tmp_path / "*.parquet")})
    assert panel.message.startswith("Nothing matches")
    panel.close()


def test_no_key_and_no_presigned_url_in_widget_state(client: Client) -> None:
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    browser.drop("s.bin", b"state")
    wait_rows(panel, 1)
    [put] = [m for m in browser.sent if m["type"] == "put"]
    dumped = json.dumps(panel.get_state(), default=str)
    assert WORKSPACE_KEYS[0] not in dumped
    assert "Bearer" not in dumped
    assert put["url"] not in dumped
    assert "X-Amz-Signature" not in dumped
    panel.close()
