"""Fixtures: one real sandbox (API + weed mini) per test session, fresh users per test."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import alloy_nb.sandbox
from alloy_nb.sandbox import Sandbox

WORKSPACE_KEYS = ["test-key-workspace-a", "test-key-workspace-b"]


@pytest.fixture(scope="session", autouse=True)
def _private_hash_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads or writes the user's own MD5 cache (~/.cache/alloy_nb)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALLOY_NB_CACHE_DIR", str(tmp_path_factory.mktemp("hash-cache")))
        yield


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The session's sandbox: two workspaces (keys A and B) on a real weed mini."""
    with alloy_nb.sandbox.start(api_keys=WORKSPACE_KEYS) as sb:
        yield sb


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def md5_pair(data: bytes) -> tuple[str, str]:
    d = hashlib.md5(data).digest()
    return d.hex(), base64.b64encode(d).decode()


@dataclass
class Api:
    """Raw HTTP calls to the sandbox as one identity (not the alloy_nb client)."""

    http: httpx.Client
    base_url: str
    api_key: str | None
    user_id: str | None = None
    version: str | None = "2025-09"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        h = dict(self.extra)
        if self.api_key is not None:
            h["Authorization"] = f"Bearer {self.api_key}"
        if self.version is not None:
            h["x-api-version"] = self.version
        if self.user_id is not None:
            h["x-alloy-userid"] = self.user_id
        return h

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.http.request(method, self.base_url + path, headers=headers, **kw)

    def request_upload(
        self, filename: str, data: bytes, mime: str = "application/octet-stream", md5: str = ""
    ) -> httpx.Response:
        body = {"filename": filename, "mimeType": mime, "md5": md5 or md5_pair(data)[0]}
        return self.call("POST", "/connectors/files/upload/request", json=body)

    def ticket(
        self, filename: str, data: bytes, mime: str = "application/octet-stream"
    ) -> dict[str, str]:
        r = self.request_upload(filename, data, mime)
        assert r.status_code == 200, r.text
        t: dict[str, str] = r.json()["presignedUrl"]
        return t

    def put(
        self,
        ticket: dict[str, str],
        data: bytes,
        mime: str = "application/octet-stream",
        **headers: str,
    ) -> httpx.Response:
        h = {"Content-Type": mime, "Content-MD5": ticket["md5"], **headers}
        return self.http.put(ticket["presignedUrl"], content=data, headers=h)

    def upload(
        self, filename: str, data: bytes, mime: str = "application/octet-stream"
    ) -> dict[str, str]:
        t = self.ticket(filename, data, mime)
        if t["type"] == "new":
            r = self.put(t, data, mime)
            assert r.status_code == 200, r.text
        return t

    def files(self) -> list[dict[str, Any]]:
        r = self.call("GET", "/connectors/files/list")
        assert r.status_code == 200, r.text
        files: list[dict[str, Any]] = r.json()["files"]
        return files

    def keys(self) -> list[str]:
        return [f["s3Key"] for f in self.files()]

    def delete(self, s3_key: str) -> httpx.Response:
        from urllib.parse import quote

        return self.call("DELETE", "/connectors/files/" + quote(s3_key, safe=""))

    def new_user(self, username: str | None = None) -> Api:
        r = self.call("POST", "/users", json={"username": username or "u" + secrets.token_hex(6)})
        assert r.status_code == 200, r.text
        return Api(self.http, self.base_url, self.api_key, r.json()["userId"], self.version)


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


def random_bytes(n: int = 1024) -> bytes:
    return secrets.token_bytes(n)


# ---- docs/reliability.md: written by the suite when ALLOY_NB_RELIABILITY_REPORT names it ----

REPORT_SECTIONS = {
    "test_attack_matrix": "Isolation",
    "test_isolation": "Isolation",
    "test_bad_input": "Bad input",
    "test_faults": "Faults",
    "test_retries": "Faults",
    "test_lifecycle": "Faults",
    "test_hardening": "Faults",
    "test_overload": "Faults",
    "test_hotpath": "Faults",
    "test_contract": "Storage contract",
    "test_names": "Fuzzing (hypothesis)",
    "test_fuzz_api": "Fuzzing (schemathesis)",
    "test_md5": "Fuzzing (hypothesis)",
    "test_hashcache": "Fuzzing (hypothesis)",
}
SECTION_EXPECTATIONS = {
    "Isolation": "no access, nothing about the other user revealed, their file intact",
    "Bad input": "a 4xx JSON error naming the problem; never a 5xx",
    "Faults": "recovered, or a clear error; no corrupt, phantom or lost file",
    "Storage contract": "storage itself enforces it",
    "Fuzzing (hypothesis)": "the property holds for every generated input",
    "Fuzzing (schemathesis)": "no 5xx; status, content type and body as documented",
}
_observed: list[tuple[str, str, str, str]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    module = item.module.__name__.rsplit(".", 1)[-1] if hasattr(item, "module") else ""
    section = REPORT_SECTIONS.get(module)
    if section is None or not (report.when == "call" or report.failed):
        return
    doc = (getattr(item, "function", None).__doc__ or "").strip().splitlines()  # type: ignore[union-attr]
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
        "Generated by `make test` (tests/conftest.py) from the isolation, bad-input, fault,",
        "storage-contract and fuzzing tests: each row is one test case, what it expects, and",
        "what this run observed. Regenerated on every full run.",
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
    Path(target).write_text("\n".join(lines) + "\n")
