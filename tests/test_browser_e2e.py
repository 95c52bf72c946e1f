"""Real browser: JupyterLab + headless Chromium (Playwright) + the panels + the sandbox.

A 200 MB file goes through the UploadPanel's file input with the default Jupyter server
settings; it must reach "done", show up in the FileBrowser with its size, and the kernel's
RSS must grow by less than 64 MiB.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from playwright.sync_api import Page, sync_playwright

from alloy_nb.sandbox import Sandbox

from .conftest import WORKSPACE_KEYS, Api

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
SIZE = 200 * 1000 * 1000
MiB = 1024 * 1024

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "import alloy_nb\nclient = alloy_nb.connect()"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "alloy_nb.UploadPanel(client)"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "alloy_nb.FileBrowser(client)"},
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def lab(
    sandbox: Sandbox, alice: Api, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """JupyterLab on loopback with default settings; the kernel talks to the sandbox."""
    root = tmp_path / "lab"
    root.mkdir()
    (root / "panels.ipynb").write_text(json.dumps(NOTEBOOK))
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "ALLOY_API_KEY": WORKSPACE_KEYS[0],
        "ALLOY_BASE_URL": sandbox.base_url,
        "ALLOY_USER_ID": alice.user_id or "",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/status", params={"token": token}).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError((tmp_path / "lab.log").read_text()[-3000:])
        time.sleep(0.3)
    yield f"{base}/lab/tree/panels.ipynb?token={token}", proc
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def kernel_process(lab_proc: subprocess.Popen[bytes]) -> psutil.Process:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in psutil.Process(lab_proc.pid).children(recursive=True):
            if any("ipykernel" in part for part in child.cmdline()):
                return child
        time.sleep(0.2)
    raise AssertionError("no kernel started")


def run_all(page: Page) -> None:
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.get_by_text("Kernel status: Idle").first.wait_for(state="attached", timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def make_file(path: Path, size: int) -> None:
    block = secrets.token_bytes(MiB)
    with open(path, "wb") as f:
        for start in range(0, size, MiB):
            f.write(block[: min(MiB, size - start)])


def test_200_mb_through_the_upload_panel_in_a_real_browser(
    lab: tuple[str, subprocess.Popen[bytes]], tmp_path: Path, alice: Api
) -> None:
    url, lab_proc = lab
    big = tmp_path / "survey-export.bin"
    make_file(big, SIZE)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(url)
        for attempt in range(3):  # a click that lands before the kernel is ready is lost
            run_all(page)
            try:
                page.wait_for_selector(".alloy-drop-zone", timeout=40_000)
                break
            except Exception:
                page.screenshot(path=str(tmp_path / f"no-panel-{attempt}.png"))
                if attempt == 2:
                    raise
        page.wait_for_selector(".alloy-file-browser", timeout=60_000)
        kernel = kernel_process(lab_proc)
        time.sleep(1.0)
        base_rss = kernel.memory_info().rss
        peak = [base_rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                peak[0] = max(peak[0], kernel.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        page.set_input_files(".alloy-file-input", str(big))
        page.wait_for_selector(
            '.alloy-row[data-name="survey-export.bin"][data-stage="done"]', timeout=300_000
        )
        seconds = time.monotonic() - started
        stop.set()
        sampler.join()
        row = page.locator('.alloy-row[data-name="survey-export.bin"]')
        assert row.locator(".alloy-size").inner_text() == "200.0 MB"
        DOCS.mkdir(exist_ok=True)
        page.locator(".alloy-upload-panel").screenshot(path=str(DOCS / "upload-panel.png"))

        browser_panel = page.locator(".alloy-file-browser")
        browser_panel.locator("button[title='Refresh']").click()
        browser_panel.get_by_text("survey-export.bin", exact=True).wait_for(timeout=30_000)
        assert "200.0 MB" in browser_panel.inner_text()
        browser_panel.screenshot(path=str(DOCS / "file-browser.png"))
        browser.close()

    growth = (peak[0] - base_rss) / MiB
    print(f"\n200 MB via UploadPanel: {seconds:.1f} s ({SIZE / seconds / 1e6:.0f} MB/s), "
          f"kernel RSS growth {growth:.1f} MiB")  # fmt: skip
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    [entry] = [f for f in alice.files() if f["filename"] == "survey-export.bin"]
    assert entry["size"] == SIZE
