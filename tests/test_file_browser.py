"""FileBrowser without a browser: buttons clicked, traits read, against the real sandbox."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ipywidgets.widgets import widget as widget_module

from alloy_nb import Client, FileBrowser
from alloy_nb.sandbox import Sandbox
from alloy_nb.widgets._drive_picker import NONE_YET, DrivePicker
from alloy_nb.widgets._plain import SANDBOX_HINT

from .helpers import WORKSPACE_KEYS
from .ports import refused_port

TECHNICAL = re.compile(r"[A-Z][a-zA-Z]+(Error|Exception)\b|Errno")


@pytest.fixture
def stocked(client: Client) -> Client:
    for name, size in [("b.csv", 30), ("a.csv", 10), ("c.txt", 20), ("d.csv", 50), ("e.log", 40)]:
        client.upload(secrets.token_bytes(size), filename=name, progress=False)
    return client


def shown_names(browser: FileBrowser) -> list[str]:
    start = browser.page * browser.page_size
    names: list[str] = browser.visible["filename"].iloc[start : start + browser.page_size].tolist()
    return names


def row_texts(browser: FileBrowser) -> list[str]:
    return [row.children[1].value for row in browser.table.rows_box.children]


def keys_of(browser: FileBrowser, *names: str) -> list[str]:
    files = browser.files
    return [files.loc[files["filename"] == n, "s3_key"].iloc[0] for n in names]


def live_widgets() -> int:
    return len(widget_module._instances)


def test_lists_filters_sorts_and_pages(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=2)
    assert len(browser.files) == 5
    assert browser.status.text == "Loaded 5 files."
    assert shown_names(browser) == ["a.csv", "b.csv"]
    assert "page 1 of 3 · 5 files" in browser.table.page_label.value
    assert "a.csv" in row_texts(browser)[0]
    assert "10 B" in row_texts(browser)[0]
    browser.table.next_button.click()
    assert shown_names(browser) == ["c.txt", "d.csv"]
    browser.filter.value = ".csv"
    assert browser.page == 0
    assert browser.visible["filename"].tolist() == ["a.csv", "b.csv", "d.csv"]
    browser.sort_by.value = "size"
    browser.descending.value = True
    assert browser.visible["filename"].tolist() == ["d.csv", "b.csv", "a.csv"]
    browser.filter.value = "nothing-like-this"
    [empty] = browser.table.rows_box.children
    assert "No file matches the filter." in empty.value


def test_long_keys_have_a_tooltip_with_the_full_key(client: Client) -> None:
    name = "quarterly-revenue-by-region-and-product-line-final-v7-reviewed.csv"
    key = client.upload(b"long", filename=name, progress=False).s3_key
    browser = FileBrowser(client)
    [cells] = row_texts(browser)
    assert f'class="alloy-fb-key" title="{key}"' in cells
    assert f'class="alloy-fb-name" title="{name}"' in cells


def test_selection_survives_filter_and_paging_and_the_count_says_so(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=2)
    assert browser.table.count_text() == "No files selected"
    assert browser.table.clear_button.disabled
    browser.table.rows_box.children[0].children[0].value = True  # tick a.csv on page 1
    browser.table.next_button.click()
    browser.table.rows_box.children[1].children[0].value = True  # tick d.csv on page 2
    assert browser.table.count_text() == "2 selected (1 on other pages)"
    assert not browser.table.select_page.value, "page 2 is only half selected"
    browser.table.select_page.value = True  # the whole of page 2: c.txt and d.csv
    assert len(browser.selected) == 3
    browser.filter.value = ".csv"  # hides c.txt; page 1 is now a.csv, b.csv
    assert browser.table.count_text() == "3 selected (1 on other pages, 1 hidden by the filter)"
    assert not browser.table.select_page.value
    assert sorted(browser.selected["filename"]) == ["a.csv", "c.txt", "d.csv"]
    browser.table.rows_box.children[1].children[0].value = True  # b.csv
    assert browser.table.select_page.value, "every row of this page is selected"
    assert browser.table.count_text() == "4 selected (1 on other pages, 1 hidden by the filter)"
    browser.table.clear_button.click()
    assert browser.selected.empty
    assert browser.table.count_text() == "No files selected"
    assert not any(line.children[0].value for line in browser.table.rows_box.children)
    assert not browser.table.select_page.value


def test_select_page_reflects_the_current_page(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=2)
    browser.table.select_page.value = True
    assert browser.table.select_page.value
    browser.table.next_button.click()
    assert not browser.table.select_page.value, "nothing is selected on page 2"
    browser.table.prev_button.click()
    assert browser.table.select_page.value
    browser.table.rows_box.children[0].children[0].value = False
    assert not browser.table.select_page.value
    assert len(browser.selected) == 1, "unticking one row leaves the other selected"


def test_widget_count_stays_flat_across_redraws(client: Client, tmp_path: Path) -> None:
    """300 files and 12 filter edits: rows reuse their widgets."""
    paths = [tmp_path / f"f{i:03d}.csv" for i in range(300)]
    for path in paths:
        path.write_bytes(secrets.token_bytes(8))
    out = client.upload_many(paths, progress=False)
    assert out["error"].isna().all()
    browser = FileBrowser(client, page_size=25)
    assert len(browser.files) == 300
    before = live_widgets()
    for needle in ["f1", "f12", "f123", "", "f2", "zzz", "f0", "csv", "f29", "f", "f3", ""]:
        browser.filter.value = needle
    browser.table.next_button.click()
    browser.refresh_button.click()
    assert live_widgets() == before
    assert len(browser.table.rows_box.children) == 25


def test_delete_asks_first_and_reports_in_one_line(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=10)
    browser.delete_button.click()
    assert browser.status.text == "Select the files to delete first."
    keys = browser.visible["s3_key"].tolist()
    browser.select(keys[:2])
    browser.filter.value = "c.txt"
    browser.delete_button.click()
    assert browser.status.kind == "ask"
    assert browser.status.text == "Delete 2 files (2 hidden by the filter)? This cannot be undone."
    browser.select(keys[2:3])
    assert browser.status.text.startswith("Delete 3 files"), "the question follows the selection"
    browser.status.no_button.click()
    assert (browser.status.kind, browser.status.text) == ("info", "Nothing was deleted.")
    assert browser.status.yes_button.layout.display == "none"
    assert len(stocked.list_files()) == 5
    browser.delete_button.click()
    browser.status.yes_button.click()
    assert sorted(stocked.list_files()["s3_key"]) == sorted(keys[3:])
    assert len(browser.files) == 2
    assert browser.selected.empty
    assert (browser.status.kind, browser.status.text) == ("info", "Deleted 3 files.")


def test_delete_of_a_file_already_gone_is_plain_words(stocked: Client) -> None:
    browser = FileBrowser(stocked)
    a, b = keys_of(browser, "a.csv", "b.csv")
    browser.select([a, b])
    stocked.delete_file(a)  # behind the panel's back
    outcome = browser.delete_selected()
    assert dict(zip(outcome["s3_key"], outcome["deleted"], strict=True)) == {a: False, b: True}
    assert browser.status.kind == "error"
    assert browser.status.text == (
        "Deleted 1 of 2 files. The file a.csv is no longer there: it was deleted already, or "
        "it belongs to another user. Refresh to see your files."
    )


def test_actions_disable_buttons_and_show_progress_while_they_run(stocked: Client) -> None:
    browser = FileBrowser(stocked)
    seen: list[tuple[str, Any]] = []
    browser.refresh_button.observe(lambda ch: seen.append(("disabled", ch["new"])), "disabled")
    browser.refresh_button.observe(lambda ch: seen.append(("icon", ch["new"])), "icon")
    browser.status.message.observe(lambda ch: seen.append(("kind", browser.status.kind)), "value")
    browser.status.progress.observe(lambda ch: seen.append(("progress", ch["new"])), "value")
    browser.refresh_button.click()
    assert seen == [
        ("disabled", True),
        ("icon", "spinner spin"),
        ("kind", "busy"),
        ("disabled", False),
        ("icon", "refresh"),
        ("kind", "info"),
    ]
    seen.clear()
    browser.select(browser.files["s3_key"][:3])
    browser.delete_button.click()
    browser.status.yes_button.click()
    assert [v for k, v in seen if k == "progress"] == [1, 2, 3]
    assert ("disabled", True) in seen
    assert seen[-1] == ("kind", "info")
    assert not browser.refresh_button.disabled


def test_bad_key_shows_only_the_plain_error(sandbox: Sandbox) -> None:
    browser = FileBrowser(Client("wrong-key", base_url=sandbox.base_url))
    assert (browser.status.kind, browser.status.text) == (
        "error",
        "The API key was refused: check ALLOY_API_KEY.",
    )
    assert browser.table.layout.display == "none", "no 'No files.' above the error"
    assert browser.actions.layout.display == "none"


def test_unreachable_api_is_plain_words() -> None:
    with refused_port() as port:
        browser = FileBrowser(Client("k", base_url=f"http://127.0.0.1:{port}", max_retries=0))
    assert browser.status.text == (
        f"Could not reach the Alloy API at 127.0.0.1:{port}: nothing is listening there. "
        f"{SANDBOX_HINT}"
    )
    assert not TECHNICAL.search(browser.status.message.value)
    assert browser.table.layout.display == "none"


class _Broken(Client):
    def list_files(self, **kwargs: Any) -> pd.DataFrame:
        raise RuntimeError("internal invariant broken")


def test_unexpected_errors_fold_their_detail_away(sandbox: Sandbox) -> None:
    browser = FileBrowser(_Broken(WORKSPACE_KEYS[0], base_url=sandbox.base_url))
    assert browser.status.text.startswith("Something unexpected went wrong")
    assert "RuntimeError" not in browser.status.text
    assert "<details" in browser.status.message.value
    assert browser.status.detail == "RuntimeError: internal invariant broken"


def test_copy_one_row_or_the_selection(stocked: Client) -> None:
    browser = FileBrowser(stocked)
    first = browser.table.rows_box.children[0]
    key = browser.visible["s3_key"].iloc[0]
    first.children[2].click()
    first.children[2].click()
    assert (browser._clipboard.text, browser._clipboard.copies) == (key, 2)
    assert browser.status.text == "Copied the s3Key of a.csv."
    assert browser.status.extra.value == key
    browser.copy_button.click()
    assert browser.status.text == "Select the files whose s3Keys you want first."
    assert browser.status.extra.layout.display == "none", "the old keys do not linger"
    browser.table.select_page.value = True
    text = browser.copy_selected()
    assert text.splitlines() == sorted(browser.selected["s3_key"])
    assert browser._clipboard.text == text


def display(widget: Any) -> str | None:
    """A widget's CSS display, read afresh (mypy would keep an attribute chain's narrowing
    across the clicks that change it)."""
    shown: str | None = widget.layout.display
    return shown


def test_drive_picker_in_the_sandbox_creates_a_credential_and_sends(stocked: Client) -> None:
    browser = FileBrowser(stocked)
    assert browser.drive.sandbox
    assert display(browser.drive.create_button) is None, "shown"
    assert browser.drive.dropdown.layout.display == "none"
    browser.select(browser.files["s3_key"][:2])
    browser.send_button.click()
    assert "Create a sandbox credential" in browser.status.text
    browser.drive.create_button.click()
    assert browser.status.text == "Created the Google Drive credential “Sandbox Drive”."
    assert browser.drive.dropdown.label == "Sandbox Drive"
    assert display(browser.drive.create_button) == "none"
    browser.send_button.click()
    assert browser.status.text == "Sent 2 files to Google Drive (Sandbox Drive)."
    assert browser.drive.value is not None, "the new credential is chosen"
    listed = stocked.execute_action("googleDrive", "listFiles", credential_id=browser.drive.value)
    assert sorted(f["name"] for f in listed["result"]["files"]) == sorted(
        browser.selected["filename"]
    )


def test_drive_picker_names_and_the_hint_for_the_real_api() -> None:
    picker = DrivePicker(sandbox=False)
    assert NONE_YET in picker.hint.value
    assert picker.create_button.layout.display == "none"
    creds = pd.DataFrame(
        {
            "credential_id": ["a" * 24, "b" * 24, "c" * 24],
            "name": ["Team drive", "Team drive", None],
        }
    )
    picker.load(creds)
    labels = [label for label, _ in picker.dropdown.options]
    assert labels == ["Team drive (…aaaaaa)", "Team drive (…bbbbbb)", "unnamed (…cccccc)"]
    assert picker.value == "a" * 24
    assert picker.hint.layout.display == "none"


def test_status_line_keeps_one_message(stocked: Client) -> None:
    browser = FileBrowser(stocked)
    browser.send_button.click()
    assert browser.status.kind == "error"
    browser.select(browser.files["s3_key"][:1])
    browser.delete_button.click()
    assert browser.status.kind == "ask"
    assert "Select the files" not in browser.status.message.value
    browser.status.yes_button.click()
    assert browser.status.text == "Deleted 1 file."
    assert browser.status.yes_button.layout.display == "none"
