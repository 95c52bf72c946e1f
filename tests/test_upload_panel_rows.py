"""UploadPanel's rows and path box without a browser: speed and time left while bytes move,
the summary a batch ends with, folders and patterns typed into the path box (Enter sends
them as a "paths" message), and the "added" answer the browser reads as a live kernel."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alloy_nb import Client, UploadPanel
from alloy_nb.sandbox import Sandbox
from alloy_nb.widgets._paths import find_paths
from alloy_nb.widgets._rows import Rows, Summary, duration

from .helpers import WORKSPACE_KEYS, Api
from .panel_browser import FakeBrowser, wait_rows


@pytest.fixture
def client(sandbox: Sandbox, alice: Api) -> Iterator[Client]:
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as c:
        yield c


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_row_shows_speed_and_time_left_while_bytes_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr("alloy_nb.widgets._rows.time.monotonic", clock)
    published: list[list[dict[str, Any]]] = []
    rows = Rows(published.append)
    row = rows.new("big.bin", 10_000_000, "hashing")
    clock.now += 2
    rows.progress(row, 4_000_000)  # hashing at 2 MB/s, 3 s to go
    assert (published[-1][0]["rate"], published[-1][0]["left"]) == ("2.0 MB/s", "3 s left")
    rows.progress(row, 0, "uploading")  # a new stage measures from its own start
    assert (published[-1][0]["rate"], published[-1][0]["left"]) == ("", "")
    clock.now += 4
    rows.progress(row, 1_000_000)
    assert (published[-1][0]["rate"], published[-1][0]["left"]) == ("250.0 kB/s", "36 s left")
    rows.set(row, stage="done", done=10_000_000, s3_key="k")
    assert (published[-1][0]["rate"], published[-1][0]["left"]) == ("", "")
    assert all(not key.startswith("_") for key in published[-1][0]), "internal keys stay home"


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (0.4, 42, 60, 75, 3600, 5400)] == [
        "0 s",
        "42 s",
        "1 min",
        "1 min 15 s",
        "1 h 0 min",
        "1 h 30 min",
    ]


def test_a_batch_ends_with_one_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files added while others run are one batch; its summary comes once, when all end."""
    clock = Clock()
    monkeypatch.setattr("alloy_nb.widgets._rows.time.monotonic", clock)
    summaries: list[Summary | None] = []
    rows = Rows(lambda _r: None, summaries.append)
    a, b, c = (rows.new(n, 1000 * (i + 1), "hashing") for i, n in enumerate("abc"))
    assert summaries == [None]  # a batch started: the previous summary goes
    clock.now += 2.5
    rows.set(a, stage="done", done=1000)
    rows.set(b, stage="already stored", done=2000)
    assert summaries == [None]
    rows.fail(c, "The file changed while it was being uploaded.")
    assert summaries[1] == Summary(done=1, stored=1, failed=1, sent=1000, seconds=2.5)
    assert summaries[1].text == (
        "3 files: 1 done, 1 already stored, 1 failed; 1.0 kB sent in 2.5 s."
    )
    rows.new("d", 5, "hashing")  # a new batch
    assert summaries[2:] == [None]


def test_a_folder_gives_the_regular_files_under_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / ".git").mkdir()
    for name in ("a.csv", "sub/b.csv", ".DS_Store", ".git/config"):
        (data / name).write_text(name)
    os.mkfifo(data / "pipe")  # not a regular file: never opened
    found = find_paths(str(data) + "/")
    assert found.files == [str(data / "a.csv"), str(data / "sub" / "b.csv")]
    assert found.message == f"2 files from {data}/ (2 hidden left out)"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_paths(str(empty)) == find_paths(str(empty)).__class__(
        [], f"The folder {empty}/ has no files to upload."
    )


def test_a_path_that_matches_nothing_says_so_plainly(tmp_path: Path) -> None:
    missing = find_paths(str(tmp_path / "nope" / "*.csv"))
    assert missing.files == []
    assert missing.message.startswith(f"Nothing matches {tmp_path}/nope/*.csv on the kernel's")
    assert "Error" not in missing.message
    assert find_paths("   ").message == "Type a file, a folder or a pattern first, e.g. data/*.csv."
    os.mkfifo(tmp_path / "pipe")
    assert find_paths(str(tmp_path / "pipe")).message == (
        f"{tmp_path}/pipe is not a regular file or folder, so there is nothing to upload."
    )
    one = tmp_path / "one.csv"
    one.write_text("x")
    assert find_paths(str(one)).files == [str(one)]
    assert find_paths(str(one)).message == ""  # the row says it all


def test_enter_on_a_folder_uploads_its_files_and_says_how_many(
    client: Client, tmp_path: Path
) -> None:
    """The path box's Enter sends {"type": "paths"}: every file is stored, even an empty one."""
    data = tmp_path / "export"
    (data / "2026").mkdir(parents=True)
    (data / "readme.txt").write_text("about the export")
    (data / "2026" / "q1.csv").write_bytes(secrets.token_bytes(70_000))
    (data / "2026" / "empty.csv").write_bytes(b"")
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    browser.message({"type": "paths", "pattern": str(data)})
    assert panel.message == f"3 files from {data}/"
    rows = wait_rows(panel, 3)
    assert {r["name"]: r["stage"] for r in rows} == {
        "empty.csv": "done",
        "q1.csv": "done",
        "readme.txt": "done",
    }
    empty = next(r for r in rows if r["name"] == "empty.csv")
    assert (empty["done"], empty["total"]) == (0, 0)
    assert all(r["s3_key"] for r in rows)
    summary = panel.summary
    assert (summary["done"], summary["stored"], summary["failed"]) == (3, 0, 0)
    assert summary["bytes"] == 70_000 + len("about the export")
    assert summary["text"].startswith("3 files: 3 done, 0 already stored, 0 failed; 70.0 kB")
    browser.message({"type": "paths", "pattern": str(tmp_path / "typo")})
    assert panel.message.startswith("Nothing matches")
    browser.message({"type": "reset"})
    assert (panel.rows, panel.summary, panel.message) == ([], {}, "")
    panel.close()


def _finish_drop(browser: FakeBrowser, file_id: str, data: bytes) -> None:
    """The browser's part after "add": hash, then PUT when asked, until "finished"."""
    browser.message({"type": "hashed", "id": file_id, "md5": hashlib.md5(data).hexdigest()})
    while (msg := browser.next(file_id))["type"] != "finished":
        if msg["type"] == "put":
            headers = {"Content-Type": msg["mime"], "Content-MD5": msg["md5"]}
            r = httpx.put(msg["url"], content=data, headers=headers)
            browser.message(
                {"type": "put-result", "id": file_id, "status": r.status_code, "body": r.text}
            )


def test_dropped_files_end_in_one_summary_and_each_add_is_answered(client: Client) -> None:
    """Dropped together: one stored, one already stored, one unreadable, counted once."""
    kept = secrets.token_bytes(20_000)
    client.upload(kept, filename="kept.bin", progress=False)
    fresh = secrets.token_bytes(300_000)
    panel = UploadPanel(client)
    browser = FakeBrowser(panel)
    files = (("fresh.bin", len(fresh)), ("kept-again.bin", len(kept)), ("locked.bin", 10))
    ids = [browser.add(name, size) for name, size in files]
    assert [m["file"] for m in browser.sent if m["type"] == "added"] == ids
    browser.message(
        {
            "type": "browser-error",
            "id": ids[2],
            "error": "NotReadableError: the file could not be read",
        }
    )
    _finish_drop(browser, ids[1], kept)
    assert panel.summary == {}, "no summary while a file of the batch still runs"
    _finish_drop(browser, ids[0], fresh)
    rows = wait_rows(panel, 3)
    assert [r["stage"] for r in rows] == ["done", "already stored", "failed"]
    assert rows[2]["error"].startswith("the browser could not read the file")
    summary = panel.summary
    assert (summary["done"], summary["stored"], summary["failed"], summary["bytes"]) == (
        1,
        1,
        1,
        len(fresh),
    )
    assert summary["text"].startswith("3 files: 1 done, 1 already stored, 1 failed; 300.0 kB")
    panel.close()
