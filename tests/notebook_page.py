"""Driving an open JupyterLab notebook page by waiting for states, never for time.

Works with any ``evaluate(expression) -> value`` function: ``Chromium.evaluate``
(tests/cdp.py) and Playwright's ``page.evaluate`` both take the expressions below. JupyterLab
runs with ``expose_app_in_browser``, so the page's own objects say when the notebook's kernel
is connected and idle, and cells run through JupyterLab's command (not menu clicks, which a
"Select Kernel" dialog could intercept). A dialog fails the wait at once, saying what it asks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

Evaluate = Callable[[str], Any]
LogTail = Callable[[], str]

# An open dialog as "dialog: <its text>", or null.
_DIALOG = """(document.querySelector('.jp-Dialog')
  ? 'dialog: ' + document.querySelector('.jp-Dialog').innerText.replace(/\\s+/g, ' ').slice(0, 300)
  : null)"""
# One word (or a dialog's text) for where the page is; "ready" once the notebook at `path`
# is current, loaded, and its kernel connected and idle.
_STATE = """((path) => {
  const app = window.jupyterapp;
  if (!app) return 'JupyterLab loading';
  const dialog = __DIALOG__;
  if (dialog) return dialog;
  const panel = app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.context) return 'no notebook open';
  if (panel.context.path !== path) return 'showing ' + panel.context.path;
  if (!panel.context.isReady) return 'notebook loading';
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel;
  if (!kernel) return 'no kernel';
  if (kernel.connectionStatus !== 'connected') return 'kernel ' + kernel.connectionStatus;
  return kernel.status === 'idle' ? 'ready' : 'kernel ' + kernel.status;
})(__PATH__)""".replace("__DIALOG__", _DIALOG)
# The command behind Run > Run All Cells; its promise settles once every cell has run.
_RUN = """(() => {
  window.__alloyRunAll = 'running';
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    (ok) => { window.__alloyRunAll = ok ? 'ok' : 'failed: a cell raised'; },
    (e) => { window.__alloyRunAll = 'failed: run-all-cells: ' + e; });
  return true;
})()"""
_RUN_STATE = f"{_DIALOG} || window.__alloyRunAll"
_ERRORS = """[...document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map((e) => e.innerText).join('\\n').slice(-3000)"""


class PageTimeout(AssertionError):
    """A page never reached the state a test waits for (or a dialog got in the way)."""


def wait_until(
    evaluate: Evaluate,
    state: str,
    want: str,
    *,
    what: str,
    log_tail: LogTail,
    timeout: float,
    fail_on: tuple[str, ...] = ("dialog:",),
) -> None:
    """Poll ``state`` (an expression giving a string) until it is ``want``.

    Fails at once when it starts with one of ``fail_on``, and after ``timeout`` seconds with the
    last state seen; both messages end with JupyterLab's log tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        seen = str(evaluate(state))
        if seen == want:
            return
        if seen.startswith(fail_on):
            raise PageTimeout(f"{what}: {seen}\n{_log_section(log_tail)}")
        if time.monotonic() > deadline:
            raise PageTimeout(
                f"{what}: still {seen!r} after {timeout:.0f} s\n{_log_section(log_tail)}"
            )
        time.sleep(0.2)  # the poll interval, not a wait for something to happen


def run_open_notebook(
    evaluate: Evaluate,
    path: str,
    *,
    log_tail: LogTail,
    wait_for: str | None = None,
    timeout: float = 120,
) -> None:
    """Wait until the notebook at ``path`` has an idle kernel, run every cell, and wait
    until they have all run and (with ``wait_for``) a CSS selector matches."""
    wait_kernel_idle(evaluate, path, log_tail=log_tail, timeout=timeout)
    evaluate(_RUN)
    try:
        wait_until(
            evaluate,
            _RUN_STATE,
            "ok",
            what=f"{path}: run all cells",
            log_tail=log_tail,
            timeout=timeout,
            fail_on=("dialog:", "failed"),
        )
    except PageTimeout as e:
        raise PageTimeout(f"{e}\n--- cell errors ---\n{evaluate(_ERRORS)}") from None
    if wait_for is not None:
        wait_for_selector(evaluate, wait_for, log_tail=log_tail, timeout=timeout)


def wait_kernel_idle(
    evaluate: Evaluate, path: str, *, log_tail: LogTail, timeout: float = 120
) -> None:
    """Wait until the notebook at ``path`` is the current one, loaded, and its kernel
    connected and idle (again after cells ran: widgets synced)."""
    wait_until(
        evaluate,
        _STATE.replace("__PATH__", json.dumps(path)),
        "ready",
        what=f"{path}: kernel connected and idle",
        log_tail=log_tail,
        timeout=timeout,
    )


def wait_for_selector(
    evaluate: Evaluate, selector: str, *, log_tail: LogTail, timeout: float = 120
) -> None:
    """Wait until ``selector`` matches an element (a widget rendered)."""
    state = f"document.querySelector({json.dumps(selector)}) ? 'shown' : 'not shown'"
    wait_until(evaluate, state, "shown", what=selector, log_tail=log_tail, timeout=timeout)


def _log_section(log_tail: LogTail) -> str:
    return f"--- JupyterLab log (last lines) ---\n{log_tail()}"
