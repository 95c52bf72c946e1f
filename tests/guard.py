"""Guard rails for every pytest run in this repository (loaded by the root conftest.py).

* **No foreign account.** Importing this module removes every ``ALLOY_*`` variable the
  shell exported (but the suite's own settings), before any test, notebook kernel, browser
  or subprocess starts, so nothing the suite runs can reach a real account. ``make
  test-live`` is the one way in: with ``ALLOY_NB_LIVE=1`` the account settings are kept
  aside for the ``live`` tests (never in the environment) and those tests are collected;
  otherwise they are deselected.
* **Nothing left behind.** The session gets its own ``$TMPDIR`` and marks every process it
  starts (an environment variable children inherit). At the end, a process of the session
  still alive (a descendant, or an orphan carrying the mark) or an ``alloy-*`` directory in
  the session's temp dir fails the run by name, and is then stopped or removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path

import psutil
import pytest

# Read by the suite itself (Makefile targets set them); every other ALLOY_* is scrubbed.
SUITE_SETTINGS = frozenset({"ALLOY_NB_RELIABILITY_REPORT", "ALLOY_NB_LIVE", "ALLOY_NB_SCREENSHOTS"})
ACCOUNT_SETTINGS = ("ALLOY_API_KEY", "ALLOY_BASE_URL", "ALLOY_USER_ID")
# Not ALLOY_*: tests that hand children a scrubbed copy of the environment keep it.
SESSION_MARK = "PYTEST_ALLOY_NB_SESSION"
LEFTOVER_GLOB = "alloy-*"
GRACE_SECONDS = 5.0


def scrub_alloy_environment(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Remove every ``ALLOY_*`` variable but the suite's own settings; return what went."""
    names = [k for k in environ if k.startswith("ALLOY_") and k not in SUITE_SETTINGS]
    return {k: environ.pop(k) for k in names}


def live_mode() -> bool:
    return os.environ.get("ALLOY_NB_LIVE") == "1"


_scrubbed = scrub_alloy_environment()
# The real account of `make test-live`, for the `live` tests' fixture only.
LIVE_ACCOUNT = {k: v for k, v in _scrubbed.items() if k in ACCOUNT_SETTINGS} if live_mode() else {}
del _scrubbed


class _Session:
    mark = ""
    started = 0.0
    tmp: Path | None = None
    home: Path | None = None
    children_before: frozenset[int] = frozenset()
    leftovers: list[str] = []  # noqa: RUF012 - one session per process


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    scrub_alloy_environment()  # again: a plugin may have set one since import
    _Session.started = time.time()
    _Session.mark = f"{os.getpid()}-{secrets.token_hex(8)}"
    os.environ[SESSION_MARK] = _Session.mark
    me = psutil.Process()
    _Session.children_before = frozenset(p.pid for p in me.children(recursive=True))
    # pytest's own tmp_path stays where it was (kept for debugging after the run).
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    _Session.tmp = Path(tempfile.mkdtemp(prefix="alloy-nb-test-"))
    os.environ["TMPDIR"] = str(_Session.tmp)
    tempfile.tempdir = str(_Session.tmp)
    # connect() with no key shares one sandbox per home, and upload() keeps a hash cache:
    # both go to the session's own directories, never the user's (set here, not in a
    # fixture, because nbval starts notebook kernels before any fixture runs).
    _Session.home = _Session.tmp / "sandbox-home"
    os.environ["ALLOY_NB_SANDBOX_HOME"] = str(_Session.home)
    os.environ["ALLOY_NB_SANDBOX_IDLE_TIMEOUT"] = "600"  # a crashed run's sandbox ends itself
    os.environ["ALLOY_NB_CACHE_DIR"] = str(_Session.tmp / "hash-cache")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":  # nbval's cells
            item.add_marker(pytest.mark.notebook)
    if live_mode():
        return
    # Deselected, not skipped: a normal run neither runs nor reports them.
    live = [item for item in items if item.get_closest_marker("live")]
    if live:
        items[:] = [item for item in items if item not in live]
        config.hook.pytest_deselected(items=live)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a notebook's last cell, shut its kernel down as "Shut Down Kernel" does.

    nbval kills the kernel (SIGKILL), so the notebook's exit handlers (the sandbox that
    ``connect()`` started, panel spool files) would never run; a kernel asked to shut down
    runs them, and nbval then finds it gone.
    """
    notebook = item.parent
    kernel = getattr(notebook, "kernel", None)
    if kernel is None or item.path.suffix != ".ipynb":
        return
    if nextitem is not None and nextitem.parent is notebook:
        return
    if kernel.is_alive():
        kernel.km.shutdown_wait_time = 30.0  # then SIGTERM, then SIGKILL, as jupyter_client does
        kernel.kc.stop_channels()
        kernel.km.shutdown_kernel(now=False)


def _session_processes() -> list[psutil.Process]:
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True) if p.pid not in _Session.children_before}
    # Orphans (re-parented to init) still carry the session's mark in their environment.
    uid = os.getuid()
    for p in psutil.process_iter(["pid", "create_time", "uids"]):
        if p.pid in found or p.pid == me.pid or p.info["create_time"] < _Session.started - 1:
            continue
        try:
            uids = p.info["uids"]
            if uids and uids.real == uid and p.environ().get(SESSION_MARK) == _Session.mark:
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue
    alive = []
    for p in found.values():
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            continue
    return alive


def _describe(p: psutil.Process) -> str:
    try:
        cmd = " ".join(p.cmdline())[:200]
        return f"process {p.pid} ({p.name()}, ppid {p.ppid()}): {cmd}"
    except psutil.Error:
        return f"process {p.pid}"


def find_leftovers() -> list[str]:
    """What this session started and did not stop or remove; stops and removes it too."""
    procs = _session_processes()
    _, alive = psutil.wait_procs(procs, timeout=GRACE_SECONDS) if procs else ([], [])
    leftovers = [_describe(p) for p in alive]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=GRACE_SECONDS)
    if _Session.tmp is not None:
        for path in sorted(_Session.tmp.glob(LEFTOVER_GLOB)):
            leftovers.append(f"temp directory {path.name} (in the session's TMPDIR)")
    return leftovers


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _Session.home is not None and _Session.home.exists():
        from alloy_nb.sandbox._shared import stop_shared_sandbox

        stop_shared_sandbox(_Session.home)  # the session's shared sandbox is the session's to stop
    _Session.leftovers = find_leftovers()
    if _Session.leftovers and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _Session.leftovers:
        return
    terminalreporter.section("left behind by the test session", sep="=", red=True, bold=True)
    for line in _Session.leftovers:
        terminalreporter.line(line, red=True)
    terminalreporter.line(
        "(stopped and removed now; fix the test or code that started it and did not stop it)"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if _Session.tmp is not None:
        shutil.rmtree(_Session.tmp, ignore_errors=True)
        _Session.tmp = None
