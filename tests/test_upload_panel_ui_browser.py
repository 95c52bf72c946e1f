"""What a person sees in UploadPanel, in a real browser (JupyterLab + headless Chromium):
percent, speed and time left while a file moves; a full bar for an empty file; a folder
typed into the path box and sent with Enter; the s3Key with its copy button; the batch
summary; a failed row that looks failed and says why in plain words, readable in the light
and dark themes; and, last (it restarts the kernel), the stale panel after a restart.

Screenshots go to build/screenshots/ (`make screenshots`: docs/).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from alloy_nb.sandbox import Sandbox

from .cdp import Chromium
from .helpers import WORKSPACE_KEYS, Api
from .lab import Lab, jupyterlab, run_all_cells

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
MB = 1000 * 1000
PANELS = {"good": 0, "unreachable": 1}
DARK, LIGHT = "JupyterLab Dark", "JupyterLab Light"
READABLE = 4.5  # WCAG AA for normal text

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


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
        return f"document.querySelectorAll('.alloy-upload-panel')[{PANELS[which]}]"

    def row(self, which: str, name: str) -> str:
        return f"{self.panel(which)}.querySelector('.alloy-row[data-name={json.dumps(name)}]')"

    def drop(self, which: str, *paths: Path) -> None:
        self.chrome.set_files(".alloy-file-input", list(paths), nth=PANELS[which])

    def wait_stage(self, which: str, name: str, stage: str, timeout: float = 120) -> None:
        row = self.row(which, name)
        self.chrome.wait_for(f"{row} && {row}.dataset.stage === {json.dumps(stage)}",
                             timeout=timeout)  # fmt: skip

    def look(self, which: str, selector: str) -> dict[str, Any]:
        look: dict[str, Any] = self.chrome.evaluate(
            f"({LOOK})({self.panel(which)}, {json.dumps(selector)})"
        )
        return look

    def theme(self, name: str) -> None:
        self.chrome.evaluate("jupyterapp.commands.execute('apputils:change-theme', "
                             f"{{theme: {json.dumps(name)}}})")  # fmt: skip
        self.chrome.wait_for(f"document.body.dataset.jpThemeName === {json.dumps(name)}")
        self.chrome.evaluate("new Promise((r) => setTimeout(r, 400))")  # theme transitions end

    def screenshot(self, which: str, name: str) -> None:
        self.chrome.screenshot(".alloy-upload-panel", self.shots / name, nth=PANELS[which])


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("panel-ui")
    nobody = f"http://127.0.0.1:{closed_port()}"  # nothing listens: the API is unreachable
    cells = [
        "import alloy_nb\nclient = alloy_nb.connect()",
        "alloy_nb.UploadPanel(client)",
        f"alloy_nb.UploadPanel(alloy_nb.Client('k', base_url={nobody!r}, max_retries=0))",
    ]
    shots = ROOT / os.environ.get("ALLOY_NB_SCREENSHOTS", "build/screenshots")
    with httpx.Client(timeout=30) as http:
        user = Api(http, sandbox.base_url, WORKSPACE_KEYS[0]).new_user()
        kernel_env = {"ALLOY_API_KEY": WORKSPACE_KEYS[0], "ALLOY_BASE_URL": sandbox.base_url,
                      "ALLOY_USER_ID": user.user_id or ""}  # fmt: skip
        with jupyterlab(base / "lab", cells, kernel_env) as lab:
            chrome = Chromium()
            try:
                run_all_cells(chrome, lab, wait_for=".alloy-upload-panel")
                chrome.wait_for("document.querySelectorAll('.alloy-upload-panel').length === 2")
                files = base / "files"
                files.mkdir()
                yield Env(lab, chrome, user, files, shots)
            finally:
                chrome.close()


def test_rows_show_percent_speed_time_left_then_keys_and_a_summary(env: Env) -> None:
    """While bytes move: "42%", "61.2 MB/s · 2 s left"; at done: a full bar (also for an
    empty file), the s3Key with a copy button; a folder sent with Enter; a summary."""
    big = env.files / "survey-export.bin"
    with open(big, "wb") as f:
        block = secrets.token_bytes(MB)
        for _ in range(200):
            f.write(block)
    # Every text the row shows while it runs, recorded in the page as it changes.
    env.chrome.evaluate(f"""(() => {{
        window.__seen = [];
        new MutationObserver(() => {{
            const r = {env.row("good", big.name)};
            if (!r) return;
            const t = (c) => r.querySelector(c).innerText;
            window.__seen.push([r.dataset.stage, t('.alloy-pct'), t('.alloy-pace')]);
        }}).observe({env.panel("good")}, {{subtree: true, childList: true}});
    }})()""")
    env.drop("good", big)
    shot = ""  # the stage of the screenshot taken: uploading if caught, else hashing
    deadline = time.monotonic() + 300
    while (stage := env.chrome.evaluate(f"{env.row('good', big.name)}?.dataset.stage")) != "done":
        assert time.monotonic() < deadline, "the 200 MB file did not finish"
        pace = env.chrome.evaluate(f"{env.row('good', big.name)}?.querySelector('.alloy-pace')"
                                   "?.innerText")  # fmt: skip
        if shot != "uploading" and stage in ("hashing", "uploading") and pace:
            env.screenshot("good", "upload-panel-progress.png")
            shot = stage
        time.sleep(0.05)
    seen = env.chrome.evaluate("window.__seen")
    moving = [s for s in seen if s[0] in ("hashing", "uploading") and s[2]]
    assert moving, seen
    for _stage, pct, pace in moving:
        assert re.fullmatch(r"\d{1,3}%", pct), pct
        assert re.fullmatch(r"[\d.]+ [kMG]?B/s · (\d+ (s|min)( \d+ s)?) left", pace), pace
    assert env.chrome.evaluate(f"{env.row('good', big.name)}.querySelector('.alloy-pace')"
                               ".innerText") == ""  # fmt: skip
    big.unlink()

    folder = env.files / "export"
    folder.mkdir()
    (folder / "empty.csv").write_bytes(b"")
    (folder / "q1.csv").write_bytes(secrets.token_bytes(40_000))
    env.chrome.evaluate(f"{env.panel('good')}.querySelector('.alloy-path').focus()")
    env.chrome.call("Input.insertText", text=str(folder))
    for kind in ("keyDown", "keyUp"):
        text = "\r" if kind == "keyDown" else ""
        env.chrome.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, text=text)  # fmt: skip
    for name in ("empty.csv", "q1.csv"):
        env.wait_stage("good", name, "done")
    note = env.chrome.evaluate(f"{env.panel('good')}.querySelector('.alloy-note').innerText")
    assert note == f"2 files from {folder}/"
    empty = env.row("good", "empty.csv")
    bar = env.chrome.evaluate(f"(() => {{ const b = {empty}.querySelector('progress');"
                              " return [b.value, b.max, b.position]; })()")  # fmt: skip
    assert bar[0] == bar[1], f"an empty file at done shows a full bar: {bar}"
    assert bar[2] == 1, f"an empty file at done shows a full bar: {bar}"
    key = env.chrome.evaluate(f"{empty}.querySelector('.alloy-key').title")
    [stored] = [f for f in env.user.files() if f["filename"] == "empty.csv"]
    assert key == stored["s3Key"]
    copy = env.chrome.evaluate(f"{empty}.querySelector('button.alloy-copy').title")
    assert copy == f"Copy the s3Key {key}"
    summary = env.chrome.evaluate(f"{env.panel('good')}.querySelector('.alloy-summary').innerText")
    assert re.fullmatch(r"2 files: 2 done, 0 already stored, 0 failed; 40\.0 kB sent in "
                        r"[\d.]+ s\.", summary), summary  # fmt: skip

    again = env.files / "q1-again.csv"
    os.link(folder / "q1.csv", again)
    env.drop("good", again)  # the same bytes under another name: already stored
    env.wait_stage("good", again.name, "already stored")
    env.chrome.wait_for(f"{env.panel('good')}.querySelector('.alloy-summary').innerText"
                        ".startsWith('1 file: 0 done, 1 already stored')")  # fmt: skip
    env.screenshot("good", "upload-panel-batch.png")
    env.theme(DARK)
    try:
        assert env.look("good", ".alloy-row[data-stage='done'] .alloy-stage")["contrast"] >= 3
        env.screenshot("good", "upload-panel-batch-dark.png")
    finally:
        env.theme(LIGHT)


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_a_failed_row_looks_failed_and_says_why(env: Env, theme: str) -> None:
    """Red-tinted row, red stage, a bar that is not full, the reason in plain words, all
    readable in the light and the dark theme."""
    name = "quarterly-report.csv"
    path = env.files / name
    if not path.exists():
        path.write_bytes(secrets.token_bytes(300_000))
        env.drop("unreachable", path)
    env.wait_stage("unreachable", name, "failed", timeout=60)
    env.theme(theme)
    try:
        row = f".alloy-row[data-name='{name}']"
        error = env.look("unreachable", f"{row} .alloy-error")
        text = str(error["text"])
        assert text.startswith("Could not reach the Alloy API at 127.0.0.1:"), text
        assert "nothing is listening there" in text
        assert not re.search(r"Error\b|Errno|Exception|Traceback", text), text
        assert error["contrast"] >= READABLE, error
        stage = env.look("unreachable", f"{row} .alloy-stage")
        assert stage["text"] == "failed"
        assert stage["contrast"] >= READABLE, stage
        background = env.look("unreachable", row)["background"]
        assert reddish(background), f"the row is tinted red: {background}"
        bar = env.look("unreachable", f"{row} progress")
        assert reddish(bar["accent"]), f"the bar is red, not green: {bar}"
        selector = json.dumps(f"{row} progress")
        value = env.chrome.evaluate(f"{env.panel('unreachable')}.querySelector({selector})"
                                    ".position")  # fmt: skip
        assert value < 1, "a failed row's bar is never full"
        suffix = "-dark" if theme == DARK else ""
        env.screenshot("unreachable", f"upload-panel-failed{suffix}.png")
    finally:
        env.theme(LIGHT)


def drag_and_drop(env: Env, which: str, path: Path) -> None:
    """A real drop of a file from the desktop onto the panel's drop zone."""
    zone = f"{env.panel(which)}.querySelector('.alloy-drop-zone')"
    x, y = env.chrome.evaluate(f"(() => {{ {zone}.scrollIntoView();"
                               f" const r = {zone}.getBoundingClientRect();"
                               " return [r.x + r.width / 2, r.y + r.height / 2]; })()")  # fmt: skip
    data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        env.chrome.call("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)


RERUN = " Re-run the cell that made it to get a working panel."
RESTARTED = "The kernel was restarted, so this panel is no longer connected." + RERUN
GONE = "The kernel no longer has this panel (it was restarted or shut down)." + RERUN


def assert_stale(env: Env, texts: set[str], rows_before: int, dropped: Path | None) -> None:
    panel, stale = env.panel("good"), f"{env.panel('good')}.querySelector('.alloy-stale')"
    env.chrome.wait_for(f"!{stale}.hidden", timeout=60)
    assert env.chrome.evaluate(f"{stale}.innerText") in texts
    assert env.chrome.evaluate(f"{panel}.querySelector('.alloy-drop-zone')"
                               ".classList.contains('alloy-disabled')")  # fmt: skip
    for part in ("alloy-file-input", "alloy-path", "alloy-browse", "alloy-path-upload"):
        assert env.chrome.evaluate(f"{panel}.querySelector('.{part}').disabled"), part
    assert env.chrome.evaluate(f"{panel}.querySelectorAll('.alloy-row').length") == rows_before
    assert "Cannot send" not in env.chrome.evaluate(f"{panel}.innerText")
    assert env.chrome.evaluate("location.href").startswith(env.lab.base), "the drop was caught"
    if dropped is not None:
        assert dropped.name not in [f["filename"] for f in env.user.files()]


def test_after_a_kernel_restart_the_old_panel_asks_for_a_rerun(env: Env) -> None:
    """Restarted through the server's kernel API (as another tab would): the next drop finds
    the kernel no longer has the panel, says to re-run the cell, disables the drop zone and
    sends nothing."""
    rows_before = env.chrome.evaluate(f"{env.panel('good')}.querySelectorAll('.alloy-row').length")
    headers = {"Authorization": f"token {env.lab.token}"}
    with httpx.Client(base_url=env.lab.base, headers=headers, timeout=60) as api:
        [session] = api.get("/api/sessions").json()
        r = api.post(f"/api/kernels/{session['kernel']['id']}/restart")
        assert r.status_code == 200, r.text
    late = env.files / "after-restart.csv"
    late.write_bytes(secrets.token_bytes(50_000))
    drag_and_drop(env, "good", late)
    # The page may see the new kernel start (then it knows of the restart before the drop),
    # or learn it from the drop, when the kernel does not list the panel's comm.
    assert_stale(env, {RESTARTED, GONE}, rows_before, late)
    env.screenshot("good", "upload-panel-stale.png")
    drag_and_drop(env, "good", late)  # a second drop on the disabled zone: still nothing
    assert_stale(env, {RESTARTED, GONE}, rows_before, late)


def test_a_restart_from_jupyterlab_marks_the_panel_stale_at_once(env: Env) -> None:
    """Restarted from this page (Kernel > Restart calls the same kernel API): the panel says
    so straight away, before anything is dropped."""
    stale = f"{env.panel('good')}.querySelector('.alloy-stale')"
    env.chrome.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")  # new panels
    env.chrome.wait_for(f"document.querySelectorAll('.alloy-upload-panel').length === 2"
                        f" && {stale}.hidden", timeout=120)  # fmt: skip
    env.chrome.evaluate("jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    assert_stale(env, {RESTARTED}, 0, None)
