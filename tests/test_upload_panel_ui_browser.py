"""What a person sees in UploadPanel, in a real browser (JupyterLab + headless Chromium):
percent, speed and time left while a file moves; a full bar for an empty file; a folder
typed into the path box and sent with Enter; the s3Key with its copy button; the batch
summary; a failed row that looks failed and says why in plain words, readable in the light
and dark themes. The stale panel after a restart: test_upload_panel_stale_browser.py.

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

import pytest

from alloy_nb.sandbox import Sandbox

from .panel_ui import DARK, LIGHT, Env, panels_in_lab, reddish

pytestmark = pytest.mark.browser

MB = 1000 * 1000
READABLE = 4.5  # WCAG AA for normal text


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # Bound but never listening, and held for the whole module: connections are refused
    # and no other process can take the port meanwhile.
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{refused.getsockname()[1]}"
        cells = [
            "import alloy_nb\nclient = alloy_nb.connect()",
            "alloy_nb.UploadPanel(client)",
            f"alloy_nb.UploadPanel(alloy_nb.Client('k', base_url={nobody!r}, max_retries=0))",
        ]
        with panels_in_lab(sandbox, tmp_path_factory.mktemp("panel-ui"), cells) as running:
            yield running


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
        pace = env.chrome.evaluate(
            f"{env.row('good', big.name)}?.querySelector('.alloy-pace')?.innerText"
        )
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
    assert (
        env.chrome.evaluate(f"{env.row('good', big.name)}.querySelector('.alloy-pace').innerText")
        == ""
    )
    big.unlink()

    folder = env.files / "export"
    folder.mkdir()
    (folder / "empty.csv").write_bytes(b"")
    (folder / "q1.csv").write_bytes(secrets.token_bytes(40_000))
    env.chrome.evaluate(f"{env.panel('good')}.querySelector('.alloy-path').focus()")
    env.chrome.call("Input.insertText", text=str(folder))
    for kind in ("keyDown", "keyUp"):
        text = "\r" if kind == "keyDown" else ""
        env.chrome.call(
            "Input.dispatchKeyEvent",
            type=kind,
            key="Enter",
            code="Enter",
            windowsVirtualKeyCode=13,
            text=text,
        )
    for name in ("empty.csv", "q1.csv"):
        env.wait_stage("good", name, "done")
    note = env.chrome.evaluate(f"{env.panel('good')}.querySelector('.alloy-note').innerText")
    assert note == f"2 files from {folder}/"
    empty = env.row("good", "empty.csv")
    bar = env.chrome.evaluate(
        f"(() => {{ const b = {empty}.querySelector('progress');"
        " return [b.value, b.max, b.position]; })()"
    )
    assert bar[0] == bar[1], f"an empty file at done shows a full bar: {bar}"
    assert bar[2] == 1, f"an empty file at done shows a full bar: {bar}"
    key = env.chrome.evaluate(f"{empty}.querySelector('.alloy-key').title")
    [stored] = [f for f in env.user.files() if f["filename"] == "empty.csv"]
    assert key == stored["s3Key"]
    copy = env.chrome.evaluate(f"{empty}.querySelector('button.alloy-copy').title")
    assert copy == f"Copy the s3Key {key}"
    summary = env.chrome.evaluate(f"{env.panel('good')}.querySelector('.alloy-summary').innerText")
    assert re.fullmatch(
        r"2 files: 2 done, 0 already stored, 0 failed; 40\.0 kB sent in "
        r"[\d.]+ s\.",
        summary,
    ), summary

    again = env.files / "q1-again.csv"
    os.link(folder / "q1.csv", again)
    env.drop("good", again)  # the same bytes under another name: already stored
    env.wait_stage("good", again.name, "already stored")
    env.chrome.wait_for(
        f"{env.panel('good')}.querySelector('.alloy-summary').innerText"
        ".startsWith('1 file: 0 done, 1 already stored')"
    )
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
        value = env.chrome.evaluate(
            f"{env.panel('unreachable')}.querySelector({selector}).position"
        )
        assert value < 1, "a failed row's bar is never full"
        suffix = "-dark" if theme == DARK else ""
        env.screenshot("unreachable", f"upload-panel-failed{suffix}.png")
    finally:
        env.theme(LIGHT)
