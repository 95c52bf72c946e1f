"""Real-browser test helpers: JupyterLab on loopback, headless Chromium, a slow proxy.

JupyterLab runs with ``expose_app_in_browser`` so a test can wait for the notebook's kernel
to be idle and run cells through JupyterLab's own commands, instead of racing the UI (a
click before the kernel is ready brings up a "Select Kernel" dialog under load).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
DARK, LIGHT = "JupyterLab Dark", "JupyterLab Light"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def notebook(*cells: str) -> dict[str, Any]:
    return {
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": source} for source in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip


@dataclass
class Lab:
    root: Path
    base: str
    token: str
    proc: subprocess.Popen[bytes]

    def url(self, name: str) -> str:
        return f"{self.base}/lab/tree/{name}?token={self.token}"

    def write(self, name: str, *cells: str) -> str:
        """A notebook in the lab's root; returns its URL."""
        (self.root / name).write_text(json.dumps(notebook(*cells)))
        return self.url(name)

    def shut_down_kernels(self) -> None:
        with httpx.Client(base_url=self.base, params={"token": self.token}, timeout=30) as http:
            for session in http.get("/api/sessions").json():
                http.delete(f"/api/sessions/{session['id']}")


@contextmanager
def jupyterlab(tmp: Path, env: dict[str, str]) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token, its own config/runtime dirs, ALLOY_* scrubbed."""
    root = tmp / "lab"
    root.mkdir()
    labconfig = tmp / "jupyter-config" / "labconfig"
    labconfig.mkdir(parents=True)
    no_news = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (labconfig / "page_config.json").write_text(json.dumps(no_news))
    port, token = free_port(), secrets.token_hex(16)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    clean.update(
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        **env,
    )
    log_path = tmp / "lab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", "--allow-root",
             f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.expose_app_in_browser=True"],
            env=clean, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        )  # fmt: skip
        lab = Lab(root, f"http://127.0.0.1:{port}", token, proc)
        try:
            _wait_until_up(lab, log_path)
            yield lab
        finally:
            _stop(proc)


def _wait_until_up(lab: Lab, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        with suppress(httpx.HTTPError):
            r = httpx.get(f"{lab.base}/api/status", params={"token": lab.token}, timeout=5)
            if r.status_code == 200:
                return
        if time.monotonic() > deadline or lab.proc.poll() is not None:
            raise AssertionError(log_path.read_text()[-3000:])
        time.sleep(0.3)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets JupyterLab shut its kernels down; the group kill catches stragglers."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


_READY = """async () => {
  const app = window.jupyterapp;
  if (!app) return false;
  await app.restored;
  const panel = app.shell.currentWidget;
  if (!panel || !panel.sessionContext) return false;
  await panel.context.ready;
  await panel.sessionContext.ready;
  return true;
}"""
_IDLE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""


def open_and_run(page: Page, url: str, *, timeout_ms: int = 120_000) -> None:
    """Open a notebook, wait until its kernel is idle, then run every cell."""
    page.goto(url)
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout_ms)
    page.wait_for_function(_READY, timeout=timeout_ms, polling=500)
    page.wait_for_function(_IDLE, timeout=timeout_ms, polling=200)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


_THEMED = """(name) => {
  if (document.body.dataset.jpThemeName !== name) return false;
  const notebook = document.querySelector('.jp-Notebook');
  if (!notebook) return false;
  const probe = document.createElement('div');
  probe.style.cssText = 'transition: none; background: var(--jp-layout-color0)';
  document.body.appendChild(probe);
  const want = getComputedStyle(probe).backgroundColor;
  probe.remove();
  return getComputedStyle(notebook).backgroundColor === want;  // transitions are over
}"""


def set_theme(page: Page, theme: str) -> None:
    """Switch JupyterLab's theme and wait until the notebook is painted in its colours."""
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', "
                  f"{{theme: {json.dumps(theme)}}})")  # fmt: skip
    page.wait_for_function(_THEMED, arg=theme, timeout=30_000)


# Contrast of each matched element's text against what is painted behind it (WCAG ratio).
CONTRAST = """(selectors) => {
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000';
    ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data; return [r, g, b, a / 255]; };
  const over = (top, under) => top.slice(0, 3).map((c, i) => c * top[3] + under[i] * (1 - top[3]));
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const behind = (el) => { const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor); if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break; }
    let base = [255, 255, 255];
    for (const layer of layers.reverse()) base = over(layer, base);
    return base; };
  const out = [];
  for (const sel of selectors) for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const bg = behind(el), fg = over(rgba(getComputedStyle(el).color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({sel, text: el.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return out;
}"""


class SlowProxy:
    """A loopback HTTP proxy in front of the sandbox API that holds file listings for
    ``delay`` seconds (at most 10), so a test can watch the panel while it waits.

    It adds no credentials: the caller's Authorization header is what the sandbox checks.
    """

    def __init__(self, target: str, delay: float) -> None:
        self.target, self.delay = target.rstrip("/"), min(delay, 10.0)
        self.http = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if self.command == "GET" and self.path.startswith("/connectors/files/list"):
                    time.sleep(proxy.delay)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                skip = {"host", "connection", "content-length", "accept-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                r = proxy.http.request(self.command, proxy.target + self.path,
                                       headers=headers, content=body)  # fmt: skip
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in {"content-length", "transfer-encoding", "connection",
                                         "content-encoding"}:  # fmt: skip
                        self.send_header(k, v)
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_DELETE = do_PUT = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(15)
        self.http.close()
