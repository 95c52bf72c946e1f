"""Panels without a browser: buttons clicked, state read (UploadPanel's transfers are in
test_upload_panel.py)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from alloy_nb import Client, FileBrowser, UploadPanel
from alloy_nb.sandbox import Sandbox

from .conftest import WORKSPACE_KEYS, Api
from .panel_browser import FakeBrowser, wait_rows


@pytest.fixture
def client(sandbox: Sandbox, alice: Api) -> Iterator[Client]:
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as c:
        yield c


def test_no_secret_in_widget_state(client: Client) -> None:
    panel = UploadPanel(client)
    browser = FileBrowser(client)
    FakeBrowser(panel).drop("s.bin", b"state")
    wait_rows(panel, 1)
    states = [panel.get_state(), *(c.get_state() for c in browser.children)]
    dumped = json.dumps(states, default=str)
    assert WORKSPACE_KEYS[0] not in dumped
    assert "Bearer" not in dumped
    panel.close()


@pytest.fixture
def stocked(client: Client) -> Client:
    for name, size in [("b.csv", 30), ("a.csv", 10), ("c.txt", 20), ("d.csv", 50), ("e.log", 40)]:
        client.upload(secrets.token_bytes(size), filename=name, progress=False)
    return client


def shown_names(browser: FileBrowser) -> list[str]:
    return browser.visible.iloc[browser.page * browser.page_size :][: browser.page_size][
        "filename"
    ].tolist()


def test_browser_lists_filters_sorts_and_pages(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=2)
    assert len(browser.files) == 5
    assert shown_names(browser) == ["a.csv", "b.csv"]
    assert "page 1 of 3" in browser.page_label.value
    assert "a.csv" in browser.table.children[1].children[1].value
    assert "10 B" in browser.table.children[1].children[1].value
    browser.next_button.click()
    assert shown_names(browser) == ["c.txt", "d.csv"]
    browser.filter.value = ".csv"
    assert browser.page == 0
    assert browser.visible["filename"].tolist() == ["a.csv", "b.csv", "d.csv"]
    browser.sort_by.value = "size"
    browser.descending.value = True
    assert browser.visible["filename"].tolist() == ["d.csv", "b.csv", "a.csv"]
    browser.filter.value = "nothing-like-this"
    assert "No match" in browser.table.children[1].value


def test_browser_select_and_delete_with_confirmation(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=10)
    browser.delete_button.click()
    assert "Select the files" in browser.status.value
    boxes = browser._boxes
    keys = browser.visible["s3_key"].tolist()
    boxes[keys[0]].value = True
    boxes[keys[1]].value = True
    assert browser.selected["s3_key"].tolist() == sorted(keys[:2])
    browser.delete_button.click()
    assert browser.confirm_box.layout.display == "flex"
    assert "Delete 2 file(s)?" in browser.confirm_box.children[0].value
    browser.cancel_button.click()
    assert len(stocked.list_files()) == 5
    browser.delete_button.click()
    browser.confirm_button.click()
    assert sorted(stocked.list_files()["s3_key"]) == sorted(keys[2:])
    assert len(browser.files) == 3
    assert browser.selected.empty
    assert "Deleted 2 file(s)" in browser.status.value


def test_browser_select_page_and_copy_keys(stocked: Client) -> None:
    browser = FileBrowser(stocked, page_size=2)
    browser.select_page.value = True
    assert len(browser.selected) == 2
    text = browser.copy_selected()
    assert text.splitlines() == sorted(browser.selected["s3_key"])
    assert browser._clipboard.text == text
    assert browser.keys_box.value == text


def test_browser_sends_selected_to_google_drive(stocked: Client, alice: Api) -> None:
    browser = FileBrowser(stocked)
    browser.select(browser.files["s3_key"][:2])
    browser.send_button.click()
    assert "No Google Drive credential" in browser.status.value
    cred = stocked.create_credential("googleDrive", name="team drive")["credentialId"]
    browser.refresh_button.click()
    assert browser.credential.value == cred
    assert "team drive" in browser.credential.label
    browser.send_button.click()
    assert "Sent 2 file(s) to Google Drive" in browser.status.value
    listed = stocked.execute_action("googleDrive", "listFiles", credential_id=cred)
    assert sorted(f["name"] for f in listed["result"]["files"]) == sorted(
        browser.selected["filename"]
    )


def test_browser_errors_are_shown_in_the_panel(sandbox: Sandbox) -> None:
    browser = FileBrowser(Client("wrong-key", base_url=sandbox.base_url))
    assert "Could not load the files: The API key was refused" in browser.status.value
    assert "No files" in browser.table.children[1].value
