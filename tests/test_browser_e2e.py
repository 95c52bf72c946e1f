"""Real browser: JupyterLab + headless Chromium (Playwright) + the panels + the sandbox.

A 200 MB file goes through the UploadPanel's file input with the default Jupyter server
settings; it must reach "done", show up in the FileBrowser with its size, and the kernel's
RSS must grow by less than 64 MiB.

Nothing waits on time: the harness (tests/lab.py, tests/playwright_lab.py) starts the kernel
through the server's API before the page opens, and every step waits for the state it needs
(kernel connected and idle, cells run, panels rendered). Screenshots go to build/screenshots/
(docs/ under `make screenshots`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from alloy_nb.sandbox import Sandbox

from .helpers import ROOT, WORKSPACE_KEYS, Api, make_file, screenshots_dir
from .lab import Lab, jupyterlab
from .playwright_lab import kernel_idle, open_and_run, playwright_chromium

SIZE = 200 * 1000 * 1000
MiB = 1024 * 1024
CELLS = [
    "import alloy_nb\nclient = alloy_nb.connect()",
    "alloy_nb.UploadPanel(client)",
    "alloy_nb.FileBrowser(client)",
]


@pytest.fixture
def lab(sandbox: Sandbox, alice: Api, tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on loopback; the notebook's kernel is started (and talks to the sandbox)
    before any page loads it."""
    kernel_env = {
        "ALLOY_API_KEY": WORKSPACE_KEYS[0],
        "ALLOY_BASE_URL": sandbox.base_url,
        "ALLOY_USER_ID": alice.user_id or "",
    }
    with jupyterlab(tmp_path / "lab", CELLS, kernel_env) as running:
        yield running


# Each step below has its own bound (a 200 MB transfer is given 300 s); pytest's overall
# limit must not be the shorter one, or a loaded machine fails a run that was progressing.
@pytest.mark.timeout(900)
def test_200_mb_through_the_upload_panel_in_a_real_browser(
    lab: Lab, tmp_path: Path, alice: Api
) -> None:
    big = tmp_path / "survey-export.bin"
    make_file(big, SIZE)
    with playwright_chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        open_and_run(page, lab, wait_for=".alloy-drop-zone")
        page.wait_for_selector(".alloy-file-browser", timeout=60_000)
        kernel_idle(page, lab)  # panels built and synced
        kernel = lab.kernel()
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
        page.locator(".alloy-upload-panel").screenshot(path=str(shots / "upload-panel.png"))

        browser_panel = page.locator(".alloy-file-browser")
        browser_panel.locator("button[title='Refresh']").click()
        browser_panel.get_by_text("survey-export.bin", exact=True).wait_for(timeout=30_000)
        assert "200.0 MB" in browser_panel.inner_text()
        # Only in build/: docs/file-browser.png is test_file_browser_e2e.py's (README).
        after_upload = ROOT / "build" / "screenshots" / "file-browser-after-upload.png"
        browser_panel.screenshot(path=str(after_upload))

    growth = (peak[0] - base_rss) / MiB
    print(
        f"\n200 MB via UploadPanel: {seconds:.1f} s ({SIZE / seconds / 1e6:.0f} MB/s), "
        f"kernel RSS growth {growth:.1f} MiB"
    )
    assert growth < 64, f"kernel RSS grew by {growth:.1f} MiB"
    [entry] = [f for f in alice.files() if f["filename"] == "survey-export.bin"]
    assert entry["size"] == SIZE
