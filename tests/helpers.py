"""Helpers the tests share (plain functions and classes; fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

WORKSPACE_KEYS = ["test-key-workspace-a", "test-key-workspace-b"]
ROOT = Path(__file__).resolve().parent.parent


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


def make_file(path: Path, size: int) -> Path:
    """``size`` random bytes at ``path``, written a MiB at a time (one random block reused)."""
    block = secrets.token_bytes(1 << 20)
    with open(path, "wb") as f:
        for start in range(0, size, len(block)):
            f.write(block[: min(len(block), size - start)])
    return path


def random_bytes(n: int = 1024) -> bytes:
    return secrets.token_bytes(n)


def cmdline_of(process: Any) -> list[str]:
    """A psutil process's command line, or [] for one that exited (a zombie not yet reaped
    by its parent, or gone): scans over other programs' children must not trip on those."""
    import psutil

    try:
        return list(process.cmdline())
    except psutil.Error:
        return []


def screenshots_dir() -> Path:
    """Where real-browser tests save screenshots: build/screenshots, or docs/ under
    `make screenshots` (ALLOY_NB_SCREENSHOTS=docs)."""
    path = ROOT / os.environ.get("ALLOY_NB_SCREENSHOTS", "build/screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Peak:
    """The peak of ``sample()`` while active, sampled every ``every`` seconds on a thread;
    ``base`` is its value on entry."""

    def __init__(self, sample: Callable[[], float], every: float = 0.05) -> None:
        self.sample, self.every = sample, every
        self.base = self.peak = sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> Peak:
        self.base = self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.base
