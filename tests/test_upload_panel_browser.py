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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from playwright.sync_api import Page, sync_playwright

from alloy_nb.sandbox import Sandbox, start
from alloy_nb.widgets._transfer import DIRECT, FALLBACK, RELAYED

from .conftest import WORKSPACE_KEYS, Api
from .cors_proxy import CorsRefusingProxy
from .lab import CHROMIUM, CHROMIUM_ARGS, Lab, jupyterlab, run_all_cells

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
MB, MiB = 1000 * 1000, 1024 * 1024
SIZE = 200 * MB
NOCORS_KEY = "nocors-key"
PANELS = {"direct": 0, "relay": 1, "nocors": 2}


def make_file(path: Path, size: int) -> Path:
    block = secrets.token_bytes(MiB)
    with open(path, "wb") as f:
        for start_at in range(0, size, MiB):
            f.write(block[: min(MiB, size - start_at)])
    return path


@dataclass
class Traffic:
    """What the page sent: storage PUTs and bytes over the kernel websocket."""

    lab_origin: str
    puts: list[str] = field(default_factory=list)
    ws_bytes: int = 0

    def watch(self, page: Page) -> None:
        def request(r: Any) -> None:  # JupyterLab itself PUTs its workspace: not storage
            if r.method == "PUT" and not r.url.startswith(self.lab_origin):
                self.puts.append(r.url)

        page.on("request", request)

        def on_socket(ws: Any) -> None:
            def count(payload: str | bytes) -> None:
                self.ws_bytes += len(payload)

            ws.on("framesent", count)

        page.on("websocket", on_socket)


@dataclass
class Env:
    lab: Lab
    page: Page
    traffic: Traffic
    user: Api
    side: Sandbox
    proxy: CorsRefusingProxy
    files: Path

    def panel(self, which: str) -> Any:
        return self.page.locator(".alloy-upload-panel").nth(PANELS[which])

    def drop(self, which: str, *paths: Path) -> None:
        self.panel(which).locator(".alloy-file-input").set_input_files([str(p) for p in paths])

    def row(self, which: str, name: str, stage: str, timeout_ms: int = 300_000) -> Any:
        selector = f'.alloy-row[data-name="{name}"][data-stage="{stage}"]'
        return self.panel(which).locator(selector).wait_for(timeout=timeout_ms)


class RssPeak:
    def __init__(self, proc: psutil.Process) -> None:
        self.proc, self.base = proc, proc.memory_info().rss
        self.peak, self._stop = self.base, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / MiB


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("panel-browser")
    with httpx.Client(timeout=30) as http:
        user = Api(http, sandbox.base_url, WORKSPACE_KEYS[0]).new_user()
        storage = urlsplit(sandbox.storage.endpoint_url)
        proxy = CorsRefusingProxy(storage.hostname or "", storage.port or 80).start()
        s3 = dataclasses.replace(sandbox.storage, bucket="nocors-" + secrets.token_hex(4),
                                 public_endpoint_url=proxy.url)  # fmt: skip
        side = start(api_keys=[NOCORS_KEY], s3=s3)
        cells = [
            "import alloy_nb\nclient = alloy_nb.connect()",
            "alloy_nb.UploadPanel(client)",
            "alloy_nb.UploadPanel(client, transfer='relay')",
            f"alloy_nb.UploadPanel(alloy_nb.Client({NOCORS_KEY!r}, base_url={side.base_url!r}))",
        ]
        kernel_env = {"ALLOY_API_KEY": WORKSPACE_KEYS[0], "ALLOY_BASE_URL": sandbox.base_url,
                      "ALLOY_USER_ID": user.user_id or ""}  # fmt: skip
        try:
            with jupyterlab(base / "lab", cells, kernel_env) as lab, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                traffic = Traffic(lab.base)
                traffic.watch(page)
                run_all_cells(page, lab, wait_for=".alloy-upload-panel >> nth=2")
                files = base / "files"
                files.mkdir()
                yield Env(lab, page, traffic, user, side, proxy, files)
                browser.close()
        finally:
            side.stop()
            proxy.stop()


def timed_drop(env: Env, which: str, path: Path) -> tuple[float, float]:
    """Drop one file; seconds until "done" and the kernel's RSS growth in MiB."""
    with RssPeak(env.lab.kernel()) as rss:
        started = time.monotonic()
        env.drop(which, path)
        env.row(which, path.name, "done")
        seconds = time.monotonic() - started
    return seconds, rss.growth_mib


def test_200_mb_direct_to_storage(env: Env) -> None:
    """Hash in the browser, PUT to storage, confirm: at least 60 MB/s, kernel RSS +< 64 MiB."""
    big = make_file(env.files / "survey-export.bin", SIZE)
    puts, ws = len(env.traffic.puts), env.traffic.ws_bytes
    seconds, growth = timed_drop(env, "direct", big)
    row = env.panel("direct").locator('.alloy-row[data-name="survey-export.bin"]')
    assert row.locator(".alloy-size").inner_text() == "200.0 MB"
    assert DIRECT in row.locator(".alloy-detail").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    env.panel("direct").screenshot(path=str(SHOTS / "upload-panel-direct.png"))
    rate = SIZE / seconds / MB
    print(f"\n200 MB via UploadPanel (direct): {seconds:.2f} s ({rate:.0f} MB/s), "
          f"kernel RSS growth {growth:.1f} MiB")  # fmt: skip
    assert len(env.traffic.puts) - puts == 1
    assert env.traffic.ws_bytes - ws < 256 * 1024, "file bytes went over the websocket"
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    assert rate >= 60, f"{rate:.0f} MB/s"
    [entry] = [f for f in env.user.files() if f["filename"] == "survey-export.bin"]
    assert entry["size"] == SIZE


def test_same_bytes_under_another_name_are_already_stored_at_once(env: Env) -> None:
    """Dedup: "already stored" within 4 s; no PUT, no file bytes over the websocket."""
    original = env.files / "survey-export.bin"
    if not original.exists():
        make_file(original, SIZE)
        env.drop("direct", original)
        env.row("direct", original.name, "done")
    again = env.files / "survey-copy.bin"
    os.link(original, again)
    puts, ws = len(env.traffic.puts), env.traffic.ws_bytes
    started = time.monotonic()
    env.drop("direct", again)
    env.row("direct", again.name, "already stored", timeout_ms=30_000)
    seconds = time.monotonic() - started
    sent = env.traffic.ws_bytes - ws
    print(f"\n200 MB again under another name: already stored in {seconds:.2f} s, "
          f"{len(env.traffic.puts) - puts} PUTs, {sent} websocket bytes sent")  # fmt: skip
    assert len(env.traffic.puts) == puts
    assert sent < 64 * 1024, f"{sent} bytes sent to the kernel"
    assert seconds < 4, f"{seconds:.1f} s"


def test_200_mb_through_the_kernel_relay(env: Env) -> None:
    """transfer="relay": windowed chunks to the kernel, PUT by the kernel: at least 40 MB/s."""
    big = make_file(env.files / "relayed-export.bin", SIZE)
    puts, ws = len(env.traffic.puts), env.traffic.ws_bytes
    seconds, growth = timed_drop(env, "relay", big)
    row = env.panel("relay").locator('.alloy-row[data-name="relayed-export.bin"]')
    assert RELAYED in row.locator(".alloy-detail").inner_text()
    env.panel("relay").screenshot(path=str(SHOTS / "upload-panel-relay.png"))
    rate = SIZE / seconds / MB
    print(f"\n200 MB via UploadPanel (relay): {seconds:.2f} s ({rate:.0f} MB/s), "
          f"kernel RSS growth {growth:.1f} MiB")  # fmt: skip
    assert len(env.traffic.puts) == puts, "the browser PUT to storage"
    assert env.traffic.ws_bytes - ws >= SIZE
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    assert rate >= 40, f"{rate:.0f} MB/s"


def test_storage_refusing_cors_falls_back_to_the_relay(env: Env) -> None:
    """The browser's PUT is refused by CORS: the row says so and the kernel relays the file."""
    path = make_file(env.files / "behind-strict-cors.csv", 20 * MB)
    before = len(env.proxy.seen)
    env.drop("nocors", path)
    env.row("nocors", path.name, "done", timeout_ms=120_000)
    row = env.panel("nocors").locator(f'.alloy-row[data-name="{path.name}"]')
    assert FALLBACK in row.locator(".alloy-detail").inner_text()
    env.panel("nocors").screenshot(path=str(SHOTS / "upload-panel-fallback.png"))
    seen = env.proxy.seen[before:]
    assert [s.method for s in seen if s.origin] == ["OPTIONS"], seen  # refused preflight only
    assert [s.method for s in seen if not s.origin] == ["PUT"], seen  # the kernel's PUT
    with httpx.Client(timeout=30) as http:
        listed = Api(http, env.side.base_url, NOCORS_KEY).files()
    assert [(f["filename"], f["size"]) for f in listed] == [(path.name, 20 * MB)]


def test_several_files_at_once_a_few_at_a_time(env: Env) -> None:
    """Six files dropped together: one row each, at most `parallel` (3) in flight at once."""
    paths = [make_file(env.files / f"batch-{i}.bin", (5 + i) * MB) for i in range(6)]
    env.page.evaluate("""() => {
        window.__maxActive = 0;
        const panel = document.querySelectorAll('.alloy-upload-panel')[0];
        const active = ['hashing', 'checking', 'uploading', 'sending', 'confirming'];
        new MutationObserver(() => {
            const n = [...panel.querySelectorAll('.alloy-row')]
                .filter((r) => active.includes(r.dataset.stage)).length;
            window.__maxActive = Math.max(window.__maxActive, n);
        }).observe(panel, { subtree: true, childList: true, attributes: true });
    }""")
    env.drop("direct", *paths)
    for p in paths:
        env.row("direct", p.name, "done", timeout_ms=120_000)
    most = env.page.evaluate("() => window.__maxActive")
    env.panel("direct").screenshot(path=str(SHOTS / "upload-panel-batch.png"))
    assert 1 <= most <= 3, most
