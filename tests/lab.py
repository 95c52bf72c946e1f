"""JupyterLab on loopback, opened in headless Chromium (tests/cdp.py): for the panels'
real-browser tests and benchmarks/bench_panel.py.

The kernel is started through the REST API before the page opens (so no "Select Kernel"
dialog can appear), and cells run through JupyterLab's own command once the kernel is idle,
not through menu clicks.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from .cdp import Chromium
from .helpers import cmdline_of

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook(*sources: str) -> dict[str, Any]:
    cells = [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": s}
        for s in sources
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Lab:
    base: str
    token: str
    proc: subprocess.Popen[bytes]
    notebook: str

    @property
    def url(self) -> str:
        return f"{self.base}/lab/tree/{self.notebook}?token={self.token}"

    def kernel(self) -> psutil.Process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                if any("ipykernel" in part for part in cmdline_of(child)):
                    return child
            time.sleep(0.2)
        raise AssertionError("no kernel started")


@contextmanager
def jupyterlab(root: Path, cells: list[str], env: dict[str, str]) -> Iterator[Lab]:
    """JupyterLab serving ``root`` with one notebook of ``cells`` and its kernel running."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "panels.ipynb").write_text(json.dumps(notebook(*cells)))
    port, token = free_port(), secrets.token_hex(16)
    state = root.parent / "jupyter-state"
    env = {
        **os.environ, **env,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTER_DATA_DIR": str(state / "data"),
        "IPYTHONDIR": str(state / "ipython"),
    }  # fmt: skip
    log = (root.parent / "lab.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/api/status", headers=headers).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError((root.parent / "lab.log").read_text()[-3000:])
            time.sleep(0.3)
        session = {"path": "panels.ipynb", "name": "panels.ipynb", "type": "notebook",
                   "kernel": {"name": "python3"}}  # fmt: skip
        r = httpx.post(f"{base}/api/sessions", json=session, headers=headers, timeout=60)
        assert r.status_code == 201, r.text
        yield Lab(base, token, proc, "panels.ipynb")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


KERNEL_IDLE = (
    "window.jupyterapp && jupyterapp.shell.currentWidget"
    " && jupyterapp.shell.currentWidget.sessionContext"
    " && jupyterapp.shell.currentWidget.sessionContext.session"
    " && jupyterapp.shell.currentWidget.sessionContext.session.kernel"
    " && jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
)


def run_all_cells(chrome: Chromium, lab: Lab, *, wait_for: str, timeout: float = 120) -> None:
    """Open the notebook, wait until its kernel is idle, run every cell, wait for a selector."""
    chrome.goto(lab.url)
    chrome.wait_for(KERNEL_IDLE, timeout=timeout, every=0.3)
    chrome.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    chrome.wait_for(f"document.querySelector({json.dumps(wait_for)})", timeout=timeout, every=0.3)
