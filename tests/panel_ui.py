"""Helpers for UploadPanel's real-browser tests (JupyterLab + headless Chromium over
tests/cdp.py): a notebook of panels, what a row shows, how it is coloured, a real drop."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from alloy_nb.sandbox import Sandbox

from .cdp import Chromium
from .helpers import WORKSPACE_KEYS, Api
from .lab import Lab, jupyterlab, run_all_cells

ROOT = Path(__file__).resolve().parent.parent
PANELS = {"good": 0, "unreachable": 1}
DARK, LIGHT = "JupyterLab Dark", "JupyterLab Light"

# Colour of CSS ``prop`` of the first element matching ``sel`` under ``root``, as RGBA 0-255
# (a canvas resolves color-mix() and theme variables), and the contrast of its text against
# what is painted behind it.
LOOK = """(root, sel) => {
  const el = root.querySelector(sel);
  const c = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = (css) => { c.clearRect(0, 0, 1, 1); c.fillStyle = '#000'; c.fillStyle = css;
    c.fillRect(0, 0, 1, 1); const d = c.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255]; };
  const over = (t, u) => t.slice(0, 3).map((v, i) => v * t[3] + u[i] * (1 - t[3]));
  const lum = (x) => { const [r, g, b] = x.map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const layers = [];
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const b = rgba(getComputedStyle(n).backgroundColor); if (b[3] > 0) layers.push(b);
    if (b[3] >= 1) break; }
  let bg = [255, 255, 255];
  for (const l of layers.reverse()) bg = over(l, bg);
  const fg = over(rgba(getComputedStyle(el).color), bg);
  const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const style = getComputedStyle(el);
  return {contrast: (hi + 0.05) / (lo + 0.05), background: rgba(style.backgroundColor),
          accent: rgba(style.accentColor), text: el.innerText};
}"""


def panel_js(index: int) -> str:
    """JavaScript for the page's ``index``-th UploadPanel element."""
    return f"document.querySelectorAll('.alloy-upload-panel')[{index}]"


def row_js(index: int, name: str) -> str:
    """JavaScript for the row of file ``name`` in the ``index``-th UploadPanel (or null)."""
    return f"{panel_js(index)}.querySelector('.alloy-row[data-name={json.dumps(name)}]')"


def reddish(rgba: list[float]) -> bool:
    r, g, b, alpha = rgba
    return alpha > 0 and r > g + 60 and r > b + 60


@dataclass
class Env:
    lab: Lab
    chrome: Chromium
    user: Api
    files: Path
    shots: Path

    def panel(self, which: str) -> str:
        return panel_js(PANELS[which])

    def row(self, which: str, name: str) -> str:
        return row_js(PANELS[which], name)

    def drop(self, which: str, *paths: Path) -> None:
        self.chrome.set_files(".alloy-file-input", list(paths), nth=PANELS[which])

    def wait_stage(self, which: str, name: str, stage: str, timeout: float = 120) -> None:
        row = self.row(which, name)
        self.chrome.wait_for(
            f"{row} && {row}.dataset.stage === {json.dumps(stage)}", timeout=timeout
        )

    def look(self, which: str, selector: str) -> dict[str, Any]:
        look: dict[str, Any] = self.chrome.evaluate(
            f"({LOOK})({self.panel(which)}, {json.dumps(selector)})"
        )
        return look

    def theme(self, name: str) -> None:
        self.chrome.evaluate(
            f"jupyterapp.commands.execute('apputils:change-theme', {{theme: {json.dumps(name)}}})"
        )
        self.chrome.wait_for(f"document.body.dataset.jpThemeName === {json.dumps(name)}")
        self.chrome.evaluate("new Promise((r) => setTimeout(r, 400))")  # theme transitions end

    def screenshot(self, which: str, name: str) -> None:
        self.chrome.screenshot(".alloy-upload-panel", self.shots / name, nth=PANELS[which])


@contextmanager
def panels_in_lab(sandbox: Sandbox, base: Path, cells: list[str]) -> Iterator[Env]:
    """JupyterLab with ``cells`` run (a fresh sandbox user's key in the kernel's env), in
    Chromium, once every UploadPanel the cells make has rendered."""
    shots = ROOT / os.environ.get("ALLOY_NB_SCREENSHOTS", "build/screenshots")
    panels = sum("UploadPanel(" in c for c in cells)
    with httpx.Client(timeout=30) as http:
        user = Api(http, sandbox.base_url, WORKSPACE_KEYS[0]).new_user()
        kernel_env = {
            "ALLOY_API_KEY": WORKSPACE_KEYS[0],
            "ALLOY_BASE_URL": sandbox.base_url,
            "ALLOY_USER_ID": user.user_id or "",
        }
        with jupyterlab(base / "lab", cells, kernel_env) as lab:
            chrome = Chromium()
            try:
                run_all_cells(chrome, lab, wait_for=".alloy-upload-panel")
                chrome.wait_for(
                    f"document.querySelectorAll('.alloy-upload-panel').length === {panels}"
                )
                files = base / "files"
                files.mkdir()
                yield Env(lab, chrome, user, files, shots)
            finally:
                chrome.close()


def drag_and_drop(env: Env, which: str, path: Path) -> None:
    """A real drop of a file from the desktop onto the panel's drop zone."""
    zone = f"{env.panel(which)}.querySelector('.alloy-drop-zone')"
    x, y = env.chrome.evaluate(
        f"(() => {{ {zone}.scrollIntoView();"
        f" const r = {zone}.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        env.chrome.call("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)


def assert_stale(env: Env, texts: set[str], rows_before: int, dropped: Path | None) -> None:
    """The panel says one of ``texts``, takes no files, and ``dropped`` went nowhere."""
    panel, stale = env.panel("good"), f"{env.panel('good')}.querySelector('.alloy-stale')"
    env.chrome.wait_for(f"!{stale}.hidden", timeout=60)
    said = env.chrome.evaluate(f"{stale}.innerText")
    assert said in texts, said
    assert env.chrome.evaluate(
        f"{panel}.querySelector('.alloy-drop-zone').classList.contains('alloy-disabled')"
    )
    for part in ("alloy-file-input", "alloy-path", "alloy-browse", "alloy-path-upload"):
        assert env.chrome.evaluate(f"{panel}.querySelector('.{part}').disabled"), part
    assert env.chrome.evaluate(f"{panel}.querySelectorAll('.alloy-row').length") == rows_before
    assert "Cannot send" not in env.chrome.evaluate(f"{panel}.innerText")
    assert env.chrome.evaluate("location.href").startswith(env.lab.base), "the drop was caught"
    if dropped is not None:
        assert dropped.name not in [f["filename"] for f in env.user.files()]
