"""Real browser: JupyterLab + headless Chromium (Playwright) + the panels + the sandbox.

A 200 MB file goes through the UploadPanel's file input with the default Jupyter server
settings; it must reach "done", show up in the FileBrowser with its size, and the kernel's
RSS must grow by less than 64 MiB.

Nothing waits on time: the kernel is started through the server's API before the page opens
(JupyterLab is also told to start the preferred kernel without asking), every step waits
for the state it needs (kernel connected and idle, cells run, panels rendered), and the
server picks its own port.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from playwright.sync_api import Page, sync_playwright

from alloy_nb.sandbox import Sandbox

from .helpers import WORKSPACE_KEYS, Api, cmdline_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
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


# JupyterLab settings that take chance out of the run: the preferred kernel starts without
# asking (never a "Select Kernel" dialog), and no toast can cover what the test clicks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
}  # fmt: skip

# True once the notebook is open and its kernel connected and idle (window.jupyterapp).
NOTEBOOK_READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return Boolean(panel && panel.context && panel.context.isReady && kernel
        && kernel.connectionStatus === "connected" && kernel.status === "idle");
}"""
KERNEL_IDLE = (
    "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
)


@dataclass
class Lab:
    url: str
    kernel: psutil.Process


def screenshots_dir() -> Path:
    """build/screenshots; `make screenshots` sets ALLOY_NB_SCREENSHOTS=docs to refresh docs."""
    return ROOT / os.environ.get("ALLOY_NB_SCREENSHOTS", "build/screenshots")


def wait_for_server(proc: subprocess.Popen[bytes], runtime: Path, log: Path) -> dict[str, Any]:
    """The server's own record of where it listens (it picks a free port itself)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        for info_file in runtime.glob(f"jpserver-{proc.pid}.json"):
            try:
                info: dict[str, Any] = json.loads(info_file.read_text())
            except json.JSONDecodeError:  # being written
                continue
            if info.get("port"):
                return info
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("JupyterLab did not start:\n" + log.read_text()[-3000:])


@pytest.fixture
def lab(sandbox: Sandbox, alice: Api, tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on loopback; the notebook's kernel is started (and talks to the sandbox)
    before any page loads it."""
    root = tmp_path / "lab"
    root.mkdir()
    (root / "panels.ipynb").write_text(json.dumps(NOTEBOOK))
    config = tmp_path / "jupyter-config"
    for plugin, settings in LAB_SETTINGS.items():
        path = config / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(settings))
    runtime = tmp_path / "jupyter-runtime"
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "ALLOY_API_KEY": WORKSPACE_KEYS[0],
        "ALLOY_BASE_URL": sandbox.base_url,
        "ALLOY_USER_ID": alice.user_id or "",
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    log_path = tmp_path / "lab.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         "--ServerApp.port=0", f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        info = wait_for_server(proc, runtime, log_path)
        base = f"http://127.0.0.1:{info['port']}"
        with httpx.Client(base_url=base, headers={"Authorization": f"token {token}"}) as api:
            # The server answers only once it is up; the file above is written just before.
            session = api.post("/api/sessions", timeout=120, json={
                "path": "panels.ipynb", "name": "panels.ipynb", "type": "notebook",
                "kernel": {"name": "python3"}})  # fmt: skip
            assert session.status_code == 201, session.text
        kernel_id = session.json()["kernel"]["id"]
        yield Lab(f"{base}/lab/tree/panels.ipynb?token={token}", kernel_process(proc, kernel_id))
    finally:
        proc.terminate()  # the server shuts its kernels down
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def kernel_process(lab_proc: subprocess.Popen[bytes], kernel_id: str) -> psutil.Process:
    """The kernel the server started for the session (its connection file names it)."""
    for child in psutil.Process(lab_proc.pid).children(recursive=True):
        if any(kernel_id in part for part in cmdline_of(child)):
            return child
    raise AssertionError(f"no process for kernel {kernel_id}")


def run_all(page: Page, tmp_path: Path) -> None:
    """Wait for the open notebook's kernel to be connected and idle, then run every cell
    (the command behind Run > Run All Cells; it resolves when the cells have run)."""
    page.wait_for_function(NOTEBOOK_READY, timeout=120_000)
    if page.locator(".jp-Dialog").count():
        page.screenshot(path=str(tmp_path / "dialog.png"))
        raise AssertionError("a dialog is open: " + page.locator(".jp-Dialog").inner_text())
    ok = page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    assert ok is True, "a cell failed"


def make_file(path: Path, size: int) -> None:
    block = secrets.token_bytes(MiB)
    with open(path, "wb") as f:
        for start in range(0, size, MiB):
            f.write(block[: min(MiB, size - start)])


# Each step below has its own bound (a 200 MB transfer is given 300 s); pytest's overall
# limit must not be the shorter one, or a loaded machine fails a run that was progressing.
@pytest.mark.timeout(900)
def test_200_mb_through_the_upload_panel_in_a_real_browser(
    lab: Lab, tmp_path: Path, alice: Api
) -> None:
    big = tmp_path / "survey-export.bin"
    make_file(big, SIZE)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(lab.url)
        run_all(page, tmp_path)
        page.wait_for_selector(".alloy-drop-zone", timeout=60_000)
        page.wait_for_selector(".alloy-file-browser", timeout=60_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)  # panels built and synced
        kernel = lab.kernel
        base_rss = kernel.memory_info().rss
        peak = [base_rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                try:
                    peak[0] = max(peak[0], kernel.memory_info().rss)
                except psutil.Error:  # the kernel is gone: the test fails on its own
                    return

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
        shots = screenshots_dir()
        shots.mkdir(parents=True, exist_ok=True)
        page.locator(".alloy-upload-panel").screenshot(path=str(shots / "upload-panel.png"))

        browser_panel = page.locator(".alloy-file-browser")
        browser_panel.locator("button[title='Refresh']").click()
        browser_panel.get_by_text("survey-export.bin", exact=True).wait_for(timeout=30_000)
        assert "200.0 MB" in browser_panel.inner_text()
        browser_panel.screenshot(path=str(shots / "file-browser.png"))
        browser.close()

    growth = (peak[0] - base_rss) / MiB
    print(f"\n200 MB via UploadPanel: {seconds:.1f} s ({SIZE / seconds / 1e6:.0f} MB/s), "
          f"kernel RSS growth {growth:.1f} MiB")  # fmt: skip
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    [entry] = [f for f in alice.files() if f["filename"] == "survey-export.bin"]
    assert entry["size"] == SIZE
