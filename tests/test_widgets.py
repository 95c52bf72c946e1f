"""Panels without a browser: buttons clicked, state read (UploadPanel's transfers are in
test_upload_panel.py)."""

from __future__ import annotations

import json

from alloy_nb import Client, FileBrowser, UploadPanel

from .helpers import WORKSPACE_KEYS
from .panel_browser import FakeBrowser, wait_rows


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
