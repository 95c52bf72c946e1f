"""UploadPanel in a real browser: JupyterLab + headless Chromium + the sandbox.

200 MB through the direct path (hash in the browser, PUT to storage, confirm) and through
the relay, with speed and kernel memory measured; the same bytes again under another name
("already stored", nothing sent); the relay fallback when storage refuses CORS; several
files at once. Screenshots go to build/screenshots/.
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

from alloy_nb import Client
from alloy_nb.sandbox import Sandbox, start
from alloy_nb.widgets._transfer import DIRECT, FALLBACK, RELAYED

from .cdp import Chromium
from .cors_proxy import CorsRefusingProxy
from .helpers import WORKSPACE_KEYS, Api, Peak, make_file
from .lab import Lab, jupyterlab, run_all_cells
from .panel_ui import row_js

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
MB, MiB = 1000 * 1000, 1024 * 1024
SIZE = 200 * MB
# The targets (60 and 40 MB/s, 4 s) hold on a quiet machine, where Client.upload from
# Python reaches about 145 MB/s (benchmarks/results.md, P2). On a busier machine (a CI run
# with CPU hogs) the floor is the same share of what Client.upload reaches there and then,
# less a quarter: the browser path has three times as many processes sharing the cores
# (browser, its network service, JupyterLab, kernel) as Python's (one), so it loses more.
CLIENT_QUIET = 145.0
BUSY_ALLOWANCE = 0.75
NOCORS_KEY = "nocors-key"
PANELS = {"direct": 0, "relay": 1, "nocors": 2}


@dataclass
class Env:
    lab: Lab
    chrome: Chromium
    user: Api
    side_user: Api
    proxy: CorsRefusingProxy
    files: Path

    def drop(self, which: str, *paths: Path) -> None:
        self.chrome.set_files(".alloy-file-input", list(paths), nth=PANELS[which])

    def row(self, which: str, name: str) -> str:
        return row_js(PANELS[which], name)

    def wait_row(self, which: str, name: str, stage: str, timeout: float = 300) -> None:
        row = self.row(which, name)
        self.chrome.wait_for(
            f"{row} && ['{stage}', 'failed'].includes({row}.dataset.stage)", timeout=timeout
        )
        assert self.text(which, name, "stage") == stage, self.chrome.evaluate(f"{row}.innerText")

    def text(self, which: str, name: str, part: str) -> str:
        value = self.chrome.evaluate(
            f"{self.row(which, name)}.querySelector('.alloy-{part}').innerText"
        )
        return str(value)

    def screenshot(self, which: str, name: str) -> None:
        self.chrome.screenshot(".alloy-upload-panel", SHOTS / name, nth=PANELS[which])


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("panel-browser")
    with httpx.Client(timeout=30) as http:
        user = Api(http, sandbox.base_url, WORKSPACE_KEYS[0]).new_user()
        storage = urlsplit(sandbox.storage.endpoint_url)
        proxy = CorsRefusingProxy(storage.hostname or "", storage.port or 80).start()
        s3 = dataclasses.replace(
            sandbox.storage, bucket="nocors-" + secrets.token_hex(4), public_endpoint_url=proxy.url
        )
        side = start(api_keys=[NOCORS_KEY], s3=s3)
        side_user = Api(http, side.base_url, NOCORS_KEY).new_user()
        nocors = (
            f"alloy_nb.Client({NOCORS_KEY!r}, base_url={side.base_url!r}, "
            f"user_id={side_user.user_id!r})"
        )
        cells = [
            "import alloy_nb\nclient = alloy_nb.connect()",
            "alloy_nb.UploadPanel(client)",
            "alloy_nb.UploadPanel(client, transfer='relay')",
            f"alloy_nb.UploadPanel({nocors})",
        ]
        kernel_env = {
            "ALLOY_API_KEY": WORKSPACE_KEYS[0],
            "ALLOY_BASE_URL": sandbox.base_url,
            "ALLOY_USER_ID": user.user_id or "",
        }
        chrome: Chromium | None = None
        try:
            with jupyterlab(base / "lab", cells, kernel_env) as lab:
                chrome = Chromium()
                run_all_cells(chrome, lab, wait_for=".alloy-upload-panel:nth-of-type(1)")
                chrome.wait_for("document.querySelectorAll('.alloy-upload-panel').length === 3")
                files = base / "files"
                files.mkdir()
                yield Env(lab, chrome, user, side_user, proxy, files)
        finally:
            if chrome is not None:
                chrome.close()
            side.stop()
            proxy.stop()


@pytest.fixture
def client_speed(env: Env, sandbox: Sandbox) -> float:
    """MB/s of Client.upload (hash + PUT) of 200 MB from Python, here and now."""
    path = make_file(env.files / "baseline.bin", SIZE)
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=env.user.user_id) as c:
        started = time.monotonic()
        c.upload(path, progress=False)
        speed = SIZE / (time.monotonic() - started) / MB
    path.unlink()
    print(f"\nClient.upload of 200 MB here: {speed:.0f} MB/s")
    return speed


def floor(target: float, client_speed: float) -> float:
    """``target`` MB/s, or its share of what Client.upload reaches on a busier machine."""
    if client_speed >= CLIENT_QUIET:
        return target
    return target * client_speed / CLIENT_QUIET * BUSY_ALLOWANCE


def timed_drop(env: Env, which: str, path: Path) -> tuple[float, float]:
    """Drop one file; seconds until "done" and the kernel's RSS growth in MiB."""
    kernel = env.lab.kernel()
    with Peak(lambda: kernel.memory_info().rss) as rss:
        started = time.monotonic()
        env.drop(which, path)
        env.wait_row(which, path.name, "done")
        seconds = time.monotonic() - started
    return seconds, rss.growth / MiB


def test_200_mb_direct_to_storage(env: Env, client_speed: float) -> None:
    """Hash in the browser, PUT to storage, confirm: at least 60 MB/s, kernel RSS +< 64 MiB."""
    big = make_file(env.files / "survey-export.bin", SIZE)
    seconds, growth = timed_drop(env, "direct", big)
    assert env.text("direct", big.name, "size") == "200.0 MB"
    assert DIRECT in env.text("direct", big.name, "detail")
    env.screenshot("direct", "upload-panel-direct.png")
    rate = SIZE / seconds / MB
    print(
        f"\n200 MB via UploadPanel (direct): {seconds:.2f} s ({rate:.0f} MB/s), "
        f"kernel RSS growth {growth:.1f} MiB"
    )
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    assert rate >= floor(60, client_speed), f"{rate:.0f} MB/s (Client.upload: {client_speed:.0f})"
    [entry] = [f for f in env.user.files() if f["filename"] == big.name]
    assert entry["size"] == SIZE


def test_same_bytes_under_another_name_are_already_stored_at_once(
    env: Env, client_speed: float
) -> None:
    """Dedup: "already stored" within 4 s; no PUT, no file bytes over the websocket."""
    original = env.files / "survey-export.bin"
    if not original.exists():  # run alone: store it first
        make_file(original, SIZE)
        env.drop("direct", original)
        env.wait_row("direct", original.name, "done")
    again = env.files / "survey-copy.bin"
    os.link(original, again)
    sent = env.chrome.record_network()
    try:
        started = time.monotonic()
        env.drop("direct", again)
        env.wait_row("direct", again.name, "already stored", timeout=30)
        seconds = time.monotonic() - started
    finally:
        env.chrome.stop_recording()
    print(
        f"\n200 MB again under another name: already stored in {seconds:.2f} s, "
        f"{len(sent.puts)} PUTs, {sent.ws_bytes} websocket bytes sent"
    )
    again.unlink()
    original.unlink()
    assert sent.puts == []
    assert 0 < sent.ws_bytes < 64 * 1024, f"{sent.ws_bytes} bytes sent to the kernel"
    limit = 4 * 60 / floor(60, client_speed)  # 4 s, longer in the same proportion when busy
    assert seconds < limit, f"{seconds:.1f} s (Client.upload: {client_speed:.0f} MB/s)"


def test_200_mb_through_the_kernel_relay(env: Env, client_speed: float) -> None:
    """transfer="relay": windowed chunks to the kernel, PUT by the kernel: at least 40 MB/s."""
    big = make_file(env.files / "relayed-export.bin", SIZE)
    seconds, growth = timed_drop(env, "relay", big)
    assert RELAYED in env.text("relay", big.name, "detail")
    env.screenshot("relay", "upload-panel-relay.png")
    rate = SIZE / seconds / MB
    print(
        f"\n200 MB via UploadPanel (relay): {seconds:.2f} s ({rate:.0f} MB/s), "
        f"kernel RSS growth {growth:.1f} MiB"
    )
    big.unlink()
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    assert rate >= floor(40, client_speed), f"{rate:.0f} MB/s (Client.upload: {client_speed:.0f})"
    [entry] = [f for f in env.user.files() if f["filename"] == big.name]
    assert entry["size"] == SIZE


def test_storage_refusing_cors_falls_back_to_the_relay(env: Env) -> None:
    """The browser's PUT is refused by CORS: the row says so and the kernel relays the file."""
    path = make_file(env.files / "behind-strict-cors.csv", 20 * MB)
    before = len(env.proxy.seen)
    env.drop("nocors", path)
    env.wait_row("nocors", path.name, "done", timeout=120)
    assert FALLBACK in env.text("nocors", path.name, "detail")
    env.screenshot("nocors", "upload-panel-fallback.png")
    seen = env.proxy.seen[before:]
    assert [s.method for s in seen if s.origin] == ["OPTIONS"], seen  # refused preflight only
    assert [s.method for s in seen if not s.origin] == ["PUT"], seen  # the kernel's PUT
    listed = env.side_user.files()
    assert [(f["filename"], f["size"]) for f in listed] == [(path.name, 20 * MB)]


def test_several_files_at_once_a_few_at_a_time(env: Env) -> None:
    """Six files dropped together: one row each, at most `parallel` (3) in flight at once."""
    paths = [make_file(env.files / f"batch-{i}.bin", (5 + i) * MB) for i in range(6)]
    env.chrome.evaluate("""(() => {
        window.__maxActive = 0;
        const panel = document.querySelectorAll('.alloy-upload-panel')[0];
        const active = ['hashing', 'checking', 'uploading', 'sending', 'confirming'];
        new MutationObserver(() => {
            const n = [...panel.querySelectorAll('.alloy-row')]
                .filter((r) => active.includes(r.dataset.stage)).length;
            window.__maxActive = Math.max(window.__maxActive, n);
        }).observe(panel, { subtree: true, childList: true, attributes: true });
    })()""")
    env.drop("direct", *paths)
    for p in paths:
        env.wait_row("direct", p.name, "done", timeout=120)
    most = env.chrome.evaluate("window.__maxActive")
    for p in paths:
        p.unlink()
    env.screenshot("direct", "upload-panel-batch.png")
    assert 1 <= most <= 3, most
