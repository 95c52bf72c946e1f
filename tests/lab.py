"""JupyterLab on loopback for the real-browser tests and benchmarks/bench_panel.py: the one
launcher (browsers come from tests/cdp.py; Playwright attaches via tests/playwright_lab.py).

* Bound to 127.0.0.1 on a free port outside the ephemeral range (the sandbox's port helper),
  with a random token; settings, workspaces, runtime and IPython dirs of its own; ``ALLOY_*``
  from the shell never reaches it (the caller passes the kernel's settings).
* A notebook's kernel is started through the REST API before any page opens it, and the
  settings start the preferred kernel without asking: no "Select Kernel" dialog.
* Every wait is for a state and bounded; a failure says what it waited for and ends with
  JupyterLab's log tail (tests/conftest.py also attaches it to any failing test's report).
* Stopped on exit, also when the test fails, with its kernels; tied to this process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import psutil

from .helpers import cmdline_of
from .notebook_page import run_open_notebook
from .ports import free_port
from .procs import spawn, stop

if TYPE_CHECKING:
    from .cdp import Chromium

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
NOTEBOOK = "panels.ipynb"
START_SECONDS = 120
START_ATTEMPTS = 3  # a new port each time another process took the chosen one first
# Nothing can pop up over what a test clicks: the preferred kernel starts without asking,
# no news, no update checks, no toasts.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
_running: list[Lab] = []


def notebook(*sources: str) -> dict[str, Any]:
    """An nbformat 4 notebook of code cells, for the python3 kernel."""
    cells: list[dict[str, Any]] = [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": s}
        for s in sources
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@dataclass
class Lab:
    """A running JupyterLab: its URL and token, its files, and its notebooks' kernels."""

    base: str
    token: str
    proc: subprocess.Popen[bytes]
    root: Path
    log_path: Path
    notebook: str = NOTEBOOK
    kernel_ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The default notebook's page (the one ``jupyterlab(cells=...)`` wrote)."""
        return self.url_of(self.notebook)

    def url_of(self, name: str) -> str:
        # `reset`: a fresh workspace, so notebooks earlier tests opened are not reopened.
        return f"{self.base}/lab/tree/{quote(name)}?reset&token={self.token}"

    def api(self, method: str, path: str, timeout: float = 60, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=timeout, **kw)

    def open(self, name: str, *cells: str) -> str:
        """Write a notebook of ``cells`` and start its kernel; returns the page's URL."""
        (self.root / name).write_text(json.dumps(notebook(*cells)))
        session = {"path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}}
        r = self.api("POST", "/api/sessions", json=session)
        if r.status_code != 201:
            raise AssertionError(
                f"starting the kernel of {name}: {r.status_code} {r.text}\n{self.log_tail()}"
            )
        self.kernel_ids[name] = r.json()["kernel"]["id"]
        return self.url_of(name)

    def kernel(self, name: str | None = None) -> psutil.Process:
        """The kernel process of a notebook this Lab opened (by the id in its command line)."""
        kernel_id = self.kernel_ids[name or self.notebook]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                if any(f"kernel-{kernel_id}.json" in part for part in cmdline_of(child)):
                    return child
            time.sleep(0.2)  # the poll interval
        raise AssertionError(f"no process for kernel {kernel_id}\n{self.log_tail()}")

    def shut_down_kernels(self) -> None:
        """End every session (the next test starts from no kernels)."""
        for session in self.api("GET", "/api/sessions").json():
            self.api("DELETE", f"/api/sessions/{session['id']}")
        self.kernel_ids.clear()

    def log_tail(self, size: int = 4000) -> str:
        """The last ``size`` bytes of JupyterLab's log (server and kernels' stderr)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - size))
                return log.read().decode(errors="replace")
        except OSError as e:
            return f"(no log: {e})"


def running_labs() -> list[Lab]:
    """The JupyterLabs running now (for failure reports)."""
    return list(_running)


@contextmanager
def jupyterlab(
    root: Path, cells: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Iterator[Lab]:
    """JupyterLab serving ``root``; with ``cells``, a notebook of them (``lab.url``) whose
    kernel is running. ``env`` is added to the server's and kernels' environment."""
    root.mkdir(parents=True, exist_ok=True)
    state = root.with_name(root.name + "-jupyter")
    environ = _environment(state, env or {})
    lab = _start(root, state, environ)
    _running.append(lab)
    try:
        if cells:
            lab.open(NOTEBOOK, *cells)
        yield lab
    finally:
        _running.remove(lab)
        stop(lab.proc)


def run_all_cells(chrome: Chromium, lab: Lab, *, wait_for: str, timeout: float = 120) -> None:
    """Open the default notebook, wait until its kernel is idle, run every cell, and wait
    until they have run and ``wait_for`` (a CSS selector) matches."""
    chrome.goto(lab.url)
    run_open_notebook(
        chrome.evaluate, lab.notebook, log_tail=lab.log_tail, wait_for=wait_for, timeout=timeout
    )


def _environment(state: Path, extra: Mapping[str, str]) -> dict[str, str]:
    settings, config = state / "settings", state / "config"
    for plugin, values in SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    environ.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        IPYTHONDIR=str(state / "ipython"),
    )
    environ.update(extra)
    return environ


def _start(root: Path, state: Path, environ: dict[str, str]) -> Lab:
    token = secrets.token_hex(16)
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        log_path = state / f"lab-{attempt}.log"
        with log_path.open("wb") as log:
            proc = spawn(
                [
                    sys.executable,
                    "-m",
                    "jupyterlab",
                    "--no-browser",
                    "--ServerApp.ip=127.0.0.1",
                    f"--ServerApp.port={port}",
                    "--ServerApp.port_retries=0",
                    f"--IdentityProvider.token={token}",
                    "--allow-root",
                    f"--ServerApp.root_dir={root}",
                    "--LabApp.news_url=",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                    "--LabApp.expose_app_in_browser=True",
                    f"--LabApp.user_settings_dir={state / 'settings'}",
                    f"--LabApp.workspaces_dir={state / 'workspaces'}",
                ],
                env=environ,
                stderr=log,
            )
        lab = Lab(f"http://127.0.0.1:{port}", token, proc, root, log_path)
        try:
            if _wait_until_up(lab):
                return lab
        except BaseException:
            stop(proc)
            raise
        stop(proc)  # it exited: the port was taken between the probe and its bind
        if "already in use" not in lab.log_tail():
            break
    raise AssertionError(f"JupyterLab did not start\n--- its log ---\n{lab.log_tail()}")


def _wait_until_up(lab: Lab) -> bool:
    """True once the server answers with our token; False if it exited."""
    deadline = time.monotonic() + START_SECONDS
    while lab.proc.poll() is None:
        try:
            if lab.api("GET", "/api/status", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"JupyterLab not up after {START_SECONDS} s\n{lab.log_tail()}")
        time.sleep(0.3)  # the poll interval
    return False
