"""UploadPanel after its kernel is gone, in a real browser (JupyterLab + headless Chromium):
a kernel that no longer has the panel's comm, restarted through the server's kernel API,
restarted from JupyterLab, shut down. The old
panel says to re-run its cell, its drop zone is disabled, and a dropped file goes nowhere
(no "Error: Cannot send", no row, nothing stored).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from alloy_nb.sandbox import Sandbox

from .panel_ui import Env, assert_stale, drag_and_drop, panels_in_lab

pytestmark = pytest.mark.browser

RERUN = " Re-run the cell that made it to get a working panel."
RESTARTED = "The kernel was restarted, so this panel is no longer connected." + RERUN
SHUT_DOWN = "The kernel was shut down, so this panel is no longer connected." + RERUN
GONE = "The kernel no longer has this panel (it was restarted or shut down)." + RERUN


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    cells = ["import alloy_nb\nclient = alloy_nb.connect()", "alloy_nb.UploadPanel(client)"]
    with panels_in_lab(sandbox, tmp_path_factory.mktemp("panel-stale"), cells) as running:
        yield running


def kernel_api(env: Env) -> httpx.Client:
    headers = {"Authorization": f"token {env.lab.token}"}
    return httpx.Client(base_url=env.lab.base, headers=headers, timeout=60)


def rerun_cells(env: Env) -> None:
    """Run the notebook again: new panels replace the stale ones."""
    stale = f"{env.panel('good')}.querySelector('.alloy-stale')"
    env.chrome.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    env.chrome.wait_for(
        f"document.querySelectorAll('.alloy-upload-panel').length === 1 && {stale}.hidden",
        timeout=120,
    )


def test_a_drop_asks_the_kernel_whether_it_still_has_the_panel(env: Env) -> None:
    """A kernel that no longer lists the panel's comm (what any restart leaves), with no event
    to tell the page: the drop asks first, says to re-run, and sends nothing."""
    forget = (
        "from comm import get_comm_manager\nmanager = get_comm_manager()\n"
        "for c in list(manager.comms.values()):\n    manager.unregister_comm(c)"
    )
    env.chrome.evaluate(
        "jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        f".requestExecute({{code: {json.dumps(forget)}}}).done"
    )
    quiet = env.files / "unknown-to-the-kernel.csv"
    quiet.write_bytes(secrets.token_bytes(20_000))
    drag_and_drop(env, "good", quiet)
    assert_stale(env, {GONE}, 0, quiet)
    rerun_cells(env)  # a working panel again for the next test


def test_after_a_kernel_restart_the_old_panel_asks_for_a_rerun(env: Env) -> None:
    """Restarted through the server's kernel API (as another tab would): the next drop finds
    the kernel no longer has the panel, says to re-run the cell, disables the drop zone and
    sends nothing."""
    panel = env.panel("good")
    rows_before = env.chrome.evaluate(f"{panel}.querySelectorAll('.alloy-row').length")
    with kernel_api(env) as api:
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
    rerun_cells(env)
    env.chrome.evaluate("jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    assert_stale(env, {RESTARTED}, 0, None)


def test_after_a_shutdown_the_old_panel_takes_no_files(env: Env) -> None:
    """Shut down through the server's kernel API: a drop says to re-run, and sends nothing."""
    rerun_cells(env)
    with kernel_api(env) as api:
        [session] = api.get("/api/sessions").json()
        r = api.delete(f"/api/kernels/{session['kernel']['id']}")
        assert r.status_code == 204, r.text
    late = env.files / "after-shutdown.csv"
    late.write_bytes(secrets.token_bytes(30_000))
    drag_and_drop(env, "good", late)
    assert_stale(env, {SHUT_DOWN, GONE}, 0, late)
