"""UploadPanel in a real browser when storage answers a direct PUT with an error.

JupyterLab + headless Chromium + the sandbox. Storage is met two ways: as it is (weed mini
sends its bucket's CORS headers on error answers too, so the page reads the 403 or 400) and
behind a proxy that leaves CORS headers off every error answer (as storage that does so
would: the page then sees only status 0). Either way an expired URL is renewed once and the
file goes directly to storage, and a file that changed after it was hashed ends with "the
file changed while it was uploading" and nothing stored; neither is sent through the kernel.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from alloy_nb.sandbox import Sandbox, start
from alloy_nb.sandbox._weed_security import apply_bucket_cors
from alloy_nb.widgets._diagnosis import url_expired
from alloy_nb.widgets._relay import CHANGED
from alloy_nb.widgets._transfer import DIRECT

from .cdp import Chromium
from .cors_proxy import CorsRefusingProxy
from .helpers import Api, make_file
from .lab import jupyterlab, run_all_cells
from .panel_ui import row_js

pytestmark = pytest.mark.browser

MB, MiB = 1000 * 1000, 1024 * 1024
SIZE = 20 * MB
# Long enough that a renewed URL is surely used in time on a busy machine; the first URL is
# held at the proxy until it has expired.
URL_TTL = 8
STORAGES = ("pass", "errors")  # the proxy's mode: CORS on error answers kept, or left off
KEYS = {"pass": "errors-pass-key", "errors": "errors-stripped-key"}


@dataclass
class Side:
    user: Api
    proxy: CorsRefusingProxy


@dataclass
class Env:
    chrome: Chromium
    sides: dict[str, Side]
    files: Path

    def row(self, storage: str, name: str) -> str:
        return row_js(STORAGES.index(storage), name)

    def drop(self, storage: str, path: Path) -> None:
        self.chrome.set_files(".alloy-file-input", [path], nth=STORAGES.index(storage))

    def wait_end(self, storage: str, name: str, timeout: float = 120) -> tuple[str, str]:
        """The row's stage and detail text once it is done or failed."""
        row = self.row(storage, name)
        self.chrome.wait_for(
            f"{row} && ['done', 'failed'].includes({row}.dataset.stage)", timeout=timeout
        )
        stage = str(self.chrome.evaluate(f"{row}.dataset.stage"))
        cells = ".alloy-error, .alloy-detail"
        return stage, str(self.chrome.evaluate(f"{row}.querySelector('{cells}').innerText"))


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("panel-errors")
    storage = urlsplit(sandbox.storage.endpoint_url)
    proxies, sides, cells = [], {}, ["import alloy_nb"]
    sandboxes: list[Sandbox] = []
    chrome: Chromium | None = None
    http = httpx.Client(timeout=30)
    try:
        for mode in STORAGES:
            proxy = CorsRefusingProxy(storage.hostname or "", storage.port or 80, mode=mode)
            proxies.append(proxy.start())
            s3 = dataclasses.replace(
                sandbox.storage,
                public_endpoint_url=proxy.url,
                bucket=f"{mode}-" + secrets.token_hex(4),
            )
            side = start(api_keys=[KEYS[mode]], s3=s3, url_ttl=URL_TTL)
            sandboxes.append(side)
            apply_bucket_cors(s3)  # the rule weed's own sandbox bucket gets
            user = Api(http, side.base_url, KEYS[mode]).new_user()
            sides[mode] = Side(user, proxy)
            cells.append(
                f"alloy_nb.UploadPanel(alloy_nb.Client({KEYS[mode]!r}, "
                f"base_url={side.base_url!r}, user_id={user.user_id!r}))"
            )
        with jupyterlab(base / "lab", cells, {}) as lab:
            chrome = Chromium()
            run_all_cells(chrome, lab, wait_for=".alloy-upload-panel")
            chrome.wait_for("document.querySelectorAll('.alloy-upload-panel').length === 2")
            files = base / "files"
            files.mkdir()
            yield Env(chrome, sides, files)
    finally:
        if chrome is not None:
            chrome.close()
        for side in sandboxes:
            side.stop()
        for proxy in proxies:
            proxy.stop()
        http.close()


def puts_of(side: Side, name: str) -> int:
    """PUTs of ``name`` that came from the page (the kernel's carry no Origin)."""
    return sum(1 for s in side.proxy.seen if s.method == "PUT" and s.origin and name in s.path)


@pytest.mark.parametrize("storage", STORAGES)
def test_expired_url_is_renewed_and_the_file_goes_direct(env: Env, storage: str) -> None:
    """An expired URL is renewed once; the file goes straight to storage, none via the kernel."""
    side = env.sides[storage]
    path = make_file(env.files / f"late-{storage}.bin", SIZE)
    held = side.proxy.hold(path.name)
    sent = env.chrome.record_network()
    try:
        env.drop(storage, path)
        assert held.arrived.wait(120), "the browser never sent its PUT"
        while not url_expired("http://x" + held.path, time.time() - 1.5):  # a second's margin
            time.sleep(0.2)
        held.released.set()
        stage, detail = env.wait_end(storage, path.name)
    finally:
        env.chrome.stop_recording()
    assert (stage, DIRECT in detail) == ("done", True), detail
    assert puts_of(side, path.name) == 2  # the expired one and the renewed one
    assert len(sent.puts) == 2, sent.puts  # the browser sent both: the recorder sees storage
    assert sent.ws_bytes < 64 * 1024, f"{sent.ws_bytes} bytes sent to the kernel"
    listed = [(f["filename"], f["size"]) for f in side.user.files()]
    assert (path.name, SIZE) in listed


@pytest.mark.parametrize("storage", STORAGES)
def test_file_changed_after_hashing_says_so_and_stores_nothing(env: Env, storage: str) -> None:
    """The file changes between hashing and the PUT: the row says so; nothing is stored."""
    side = env.sides[storage]
    path = make_file(env.files / f"moving-{storage}.bin", SIZE)
    held = side.proxy.hold(path.name)
    sent = env.chrome.record_network()
    try:
        env.drop(storage, path)
        assert held.arrived.wait(120), "the browser never sent its PUT"
        with open(path, "r+b") as f:  # the user saves the file again, same size
            f.write(os.urandom(SIZE))
        held.released.set()
        stage, detail = env.wait_end(storage, path.name)
    finally:
        env.chrome.stop_recording()
    assert (stage, detail) == ("failed", CHANGED)
    assert sent.ws_bytes < 64 * 1024, f"{sent.ws_bytes} bytes sent to the kernel"
    assert path.name not in [f["filename"] for f in side.user.files()]
