"""Fixtures: one real sandbox (API + weed mini) per test session, fresh users per test."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pluggy
import pytest

import alloy_nb.sandbox
from alloy_nb import Client, _http
from alloy_nb.sandbox import Sandbox

from .faultproxy import FaultProxy
from .helpers import WORKSPACE_KEYS, Api


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The session's sandbox: two workspaces (keys A and B) on a real weed mini."""
    with alloy_nb.sandbox.start(api_keys=WORKSPACE_KEYS) as sb:
        yield sb


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def workspace_a(sandbox: Sandbox, http: httpx.Client) -> Api:
    return Api(http, sandbox.base_url, WORKSPACE_KEYS[0])


@pytest.fixture
def workspace_b(sandbox: Sandbox, http: httpx.Client) -> Api:
    return Api(http, sandbox.base_url, WORKSPACE_KEYS[1])


@pytest.fixture
def alice(workspace_a: Api) -> Api:
    """A fresh user in workspace A, so tests never see each other's files."""
    return workspace_a.new_user()


@pytest.fixture
def bob(workspace_a: Api) -> Api:
    """Another fresh user in workspace A."""
    return workspace_a.new_user()


@pytest.fixture
def carol(workspace_b: Api) -> Api:
    """A fresh user in workspace B."""
    return workspace_b.new_user()


@pytest.fixture
def client(sandbox: Sandbox, alice: Api) -> Iterator[alloy_nb.Client]:
    """An alloy_nb Client as alice in workspace A."""
    with alloy_nb.Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as c:
        yield c


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A failure while a JupyterLab runs (a real-browser test) ends with what its log says."""
    if report.failed:
        from .lab import running_labs  # the browser harness, only once something failed

        for lab in running_labs():
            report.sections.append((f"JupyterLab log tail ({lab.base})", lab.log_tail()))


# ---- docs/reliability.md: written by the suite when ALLOY_NB_RELIABILITY_REPORT names it ----

REPORT_SECTIONS = {
    "test_attack_matrix": "Isolation",
    "test_isolation": "Isolation",
    "test_bad_input": "Bad input",
    "test_faults_api": "Faults",
    "test_faults_storage": "Faults",
    "test_faults_api_storage": "Faults",
    "test_faults_concurrent": "Faults",
    "test_faults_sandbox_killed": "Faults",
    "test_retries": "Faults",
    "test_client_bounds": "Faults",
    "test_lifecycle": "Faults",
    "test_hardening": "Faults",
    "test_overload": "Faults",
    "test_hotpath": "Faults",
    "test_panel_faults": "Faults",
    "test_panel_diagnosis": "Faults",
    "test_upload_panel_browser_errors": "Faults",
    "test_contract": "Storage contract",
    "test_storage_security": "Storage security",
    "test_names": "Fuzzing (hypothesis)",
    "test_fuzz_api": "Fuzzing (schemathesis)",
    "test_md5": "Fuzzing (hypothesis)",
    "test_hashcache": "Fuzzing (hypothesis)",
    "test_no_foreign_account": "Other accounts and files",
    "test_notebook_safety": "Other accounts and files",
}
SECTION_EXPECTATIONS = {
    "Isolation": "no access, nothing about the other user revealed, their file intact",
    "Bad input": "a 4xx JSON error naming the problem; never a 5xx",
    "Faults": "recovered, or a clear error; no corrupt, phantom or lost file",
    "Storage contract": "storage itself enforces it",
    "Storage security": "refused without the sandbox's keys; storage ends with its owner",
    "Fuzzing (hypothesis)": "the property holds for every generated input",
    "Fuzzing (schemathesis)": "no 5xx; status, content type and body as documented",
    "Other accounts and files": "never reached, never deleted",
}
_observed: list[tuple[str, str, str, str]] = []

# What `make check` leaves out (-m "not browser and not notebook and not slow"), so it stays
# under a minute: the browser, notebook kernels, and tests that restart sandboxes or fuzz.
MODULE_MARKS = {
    "test_browser_e2e": ("browser",),
    "test_binder": ("notebook", "slow"),
    "test_notebook_safety": ("notebook",),
    "test_no_foreign_account": ("notebook",),
    "test_faults_api": ("slow",),
    "test_faults_storage": ("slow",),
    "test_faults_api_storage": ("slow",),
    "test_faults_concurrent": ("slow",),
    "test_faults_sandbox_killed": ("slow",),
    "test_cli": ("slow",),
    "test_lifecycle": ("slow",),
    "test_fuzz_api": ("slow",),
    "test_file_browser_e2e": ("browser",),
    "test_storage_security": ("slow",),
    "test_shared_sandbox": ("slow",),
    "test_hardening": ("slow",),
    "test_overload": ("slow",),
    "test_hashcache": ("slow",),
    "test_docs": ("slow",),
    "test_architecture": ("slow",),
}

# Single tests that start a second sandbox or move thousands of files.
SLOW_TESTS = {
    "test_client.py::test_upload_many_with_bad_sources",
    "test_client.py::test_connect_without_a_key_starts_a_local_sandbox",
    "test_client.py::test_expired_url_is_requested_again_once",
    "test_contract.py::test_expired_url_is_rejected",
    "test_bridge.py::test_drive_survives_a_restart",
}


def _module_marks(module: str) -> dict[str, bool]:
    """The marks a module's tests all carry (True) or none of them can carry (False)."""
    fixed = dict.fromkeys(MODULE_MARKS.get(module, ()), True)
    fixed["reliability"] = module in REPORT_SECTIONS
    return fixed


def _may_select(markexpr: str, fixed: dict[str, bool]) -> bool:
    """Whether ``-m markexpr`` can match a test whose marks include ``fixed``."""
    try:
        from _pytest.mark.expression import Expression  # private; if it moves, collect all

        expr = Expression.compile(markexpr)
    except Exception:
        return True
    free: list[str] = []

    def evaluate(assignment: dict[str, bool]) -> bool:
        def matcher(name: str, /, **kwargs: str | int | bool | None) -> bool:
            if name not in fixed and name not in free:
                free.append(name)
            return fixed.get(name, assignment.get(name, False))

        return expr.evaluate(matcher)

    tried = 0
    while tried < 2 ** len(free):  # names other marks may set: try every combination
        if len(free) > 8 or evaluate({n: bool(tried >> i & 1) for i, n in enumerate(free)}):
            return True
        tried += 1
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A module that ``-m`` deselects entirely is not even imported (`make check` speed)."""
    expr = config.option.markexpr
    if collection_path.suffix == ".py" and expr:
        return not _may_select(expr, _module_marks(collection_path.stem)) or None
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        for mark in MODULE_MARKS.get(module, ()):
            item.add_marker(mark)
        if module in REPORT_SECTIONS:
            item.add_marker(pytest.mark.reliability)
        if f"{item.path.name}::{getattr(item, 'originalname', item.name)}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    module = item.module.__name__.rsplit(".", 1)[-1] if hasattr(item, "module") else ""
    section = REPORT_SECTIONS.get(module)
    if section is None or not (report.when == "call" or report.failed):
        return
    doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().splitlines()
    name = item.name.split("[", 1)[0].removeprefix("test_").replace("_", " ")
    params = item.name[len(item.name.split("[", 1)[0]) :].strip("[]")
    case = f"{name} [{params}]" if params else name
    expected = doc[0] if doc else SECTION_EXPECTATIONS[section]
    observed = "as expected" if report.passed else f"FAILED ({report.when})"
    _observed.append((section, case, expected, observed))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os
    from pathlib import Path

    target = os.environ.get("ALLOY_NB_RELIABILITY_REPORT")
    if not target or not _observed:
        return
    rows = sorted(set(_observed))
    lines = [
        "# Reliability",
        "",
        "Generated by `make reliability` (tests/conftest.py) from the isolation, bad-input,",
        "fault, storage-contract and fuzzing tests: each row is one test case, what it expects,",
        "and what that run observed. `make test` writes the same table to build/reliability.md.",
        "",
        "| section | cases | as expected |",
        "|---|---|---|",
    ]
    for section in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == section]
        ok = sum(r[3] == "as expected" for r in mine)
        lines.append(f"| {section} | {len(mine)} | {ok} |")
    lines += ["", "| section | case | expected | observed |", "|---|---|---|---|"]
    for section, case, expected, observed in rows:
        cells = [
            c.replace("|", "\\|").replace("\n", " ") for c in (section, case, expected, observed)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text("\n".join(lines) + "\n")


# ---- fault injection (tests/test_faults_*.py) ----


@pytest.fixture
def direct(client: Client) -> Client:
    """Alice's client straight to the sandbox (``client``): the fault invariants' trusted view."""
    return client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff delays the retry loop asked for, instead of waiting them."""
    recorded: list[float] = []
    monkeypatch.setattr(_http, "_sleep", recorded.append)
    return recorded


def _proxy_to(url: str) -> Iterator[FaultProxy]:
    parts = urlsplit(url)
    proxy = FaultProxy((parts.hostname or "127.0.0.1", parts.port or 80)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def api_proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    """A fault proxy (tests/faultproxy.py) in front of the sandbox's API."""
    yield from _proxy_to(sandbox.base_url)


@pytest.fixture
def storage_proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    """A fault proxy in front of the sandbox's storage (clients reach it via faultroutes)."""
    yield from _proxy_to(sandbox.storage.endpoint_url)
