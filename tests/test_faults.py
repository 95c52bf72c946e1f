"""Fault injection: a TCP proxy on loopback between the client and the API or storage, storage
and sandbox killed mid-upload, concurrent uploads of one name.

After every scenario :func:`assert_invariants` checks the two promises that matter: every
successful ``UploadResult`` is listed with its size, and every listed file's stored bytes
(downloaded from storage with boto3) have the MD5 of bytes the test really uploaded.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import botocore.auth
import httpx
import psutil
import pytest
from botocore.config import Config

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client, UploadResult, _http
from alloy_nb.sandbox import S3Settings, Sandbox

from .helpers import WORKSPACE_KEYS, Api, random_bytes

# ---------------------------------------------------------------- the fault-injecting proxy


@dataclass(frozen=True)
class Fault:
    """What the proxy does with one HTTP request.

    * ``pass``: forward it and relay the answer.
    * ``reset``: forward the head and ``after`` bytes of the body, then RST both sides.
    * ``stall``: read everything, never answer (the client's timeout must fire).
    * ``status``: answer it itself with ``status`` (and ``headers``), never forwarding it.
    * ``truncate``: answer it itself with a Content-Length larger than the body it sends.
    * ``unframed``: answer it itself with 200, no Content-Length, half a JSON body, close
      (legal HTTP/1.1: the client cannot tell the body was cut).
    * ``cut_reply``: forward it (the server does the work), relay half of the answer, close.
    """

    kind: str
    after: int = 0
    status: int = 503
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


PASS = Fault("pass")
STALL = Fault("stall")
TRUNCATE = Fault("truncate")
UNFRAMED = Fault("unframed")
CUT_REPLY = Fault("cut_reply")


def reset_after(n: int) -> Fault:
    return Fault("reset", after=n)


def status(code: int, *headers: tuple[str, str], xml: bool = False) -> Fault:
    if xml:  # what S3 says
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>"
        )
        headers = (*headers, ("Content-Type", "application/xml"))
    else:  # what the API says
        body = json.dumps({"error": f"HTTP {code}", "message": "injected by the proxy"}).encode()
        headers = (*headers, ("Content-Type", "application/json"))
    return Fault("status", status=code, headers=headers, body=body)


@dataclass
class Seen:
    """One request as the proxy saw it."""

    method: str
    path: str
    fault: str
    body_forwarded: int = 0


_REASONS = {200: "OK", 429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}


class FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1 that injects one :class:`Fault` per request.

    Every request gets its own upstream connection and ``Connection: close`` is forced on
    it, so each client connection carries exactly one request and faults are counted per
    request, never hidden behind a kept-alive connection. Requests whose ``"METHOD path"``
    starts with ``match`` take the planned faults in order, then ``then``; other requests
    pass. Every socket has a timeout and every connection a deadline, so no thread can
    outlive :meth:`stop` by more than a poll interval.
    """

    POLL = 0.05
    CANNED = ("status", "truncate", "unframed")  # kinds the proxy answers itself

    def __init__(self, target: tuple[str, int], *, deadline: float = 30.0) -> None:
        self.target = target
        self.deadline = deadline
        self.seen: list[Seen] = []
        self._faults: deque[Fault] = deque()
        self._then = PASS
        self._match = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(self.POLL)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def plan(self, *faults: Fault, then: Fault = PASS, match: str = "") -> None:
        with self._lock:
            self._faults = deque(faults)
            self._then = then
            self._match = match

    def requests(self, prefix: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if f"{s.method} {s.path}".startswith(prefix)]

    def start(self) -> FaultProxy:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        """Stop accepting, close every socket, join every thread (and check they ended)."""
        self._stop.set()
        self._listener.close()
        if self._threads:
            self._threads[0].join(5)  # the acceptor: no connection thread starts after this
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.close()
        for t in threads:
            t.join(5)
        alive = [t.name for t in threads if t.is_alive()]
        assert alive == [], f"proxy threads still running: {alive}"

    # -- plumbing

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="fault-proxy")
        with self._lock:
            self._threads.append(t)
        t.start()

    def _track(self, s: socket.socket) -> socket.socket:
        s.settimeout(5)
        with self._lock:
            self._sockets.add(s)
        return s

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, self._track(conn))

    def _next_fault(self, method: str, path: str) -> Fault:
        with self._lock:
            if not f"{method} {path}".startswith(self._match):
                return PASS
            return self._faults.popleft() if self._faults else self._then

    def _serve(self, conn: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            deadline = time.monotonic() + self.deadline
            head, body = self._read_head(conn, deadline)
            if head is None:
                return
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = [h for h in header_lines if h]
            length = 0
            for h in headers:
                name, _, value = h.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            fault = self._next_fault(method, path.split("?", 1)[0])
            seen = Seen(method, path.split("?", 1)[0], fault.kind)
            with self._lock:
                self.seen.append(seen)
            if fault.kind == "stall":
                self._drain(conn, None, deadline)
                return
            if fault.kind in self.CANNED:
                self._drain(conn, length - len(body), deadline)
                conn.sendall(self._canned(fault))
                conn.shutdown(socket.SHUT_WR)
                return
            kept = [h for h in headers if h.split(":", 1)[0].strip().lower() != "connection"]
            new_head = "\r\n".join([request_line, *kept, "Connection: close", "", ""])
            upstream = self._track(socket.create_connection(self.target, timeout=5))
            upstream.sendall(new_head.encode("latin-1"))
            limit = fault.after if fault.kind == "reset" else None
            self._pump(conn, upstream, body, limit, fault.kind == "cut_reply", seen, deadline)
        except (OSError, ValueError):
            return
        finally:
            for s in (conn, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
                    with self._lock:
                        self._sockets.discard(s)

    def _read_head(self, conn: socket.socket, deadline: float) -> tuple[bytes | None, bytes]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            if len(buf) > 65536 or not self._wait_readable(conn, deadline):
                return None, b""
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        return head, rest

    def _wait_readable(self, s: socket.socket, deadline: float) -> bool:
        while not self._stop.is_set() and time.monotonic() < deadline:
            if select.select([s], [], [], self.POLL)[0]:
                return True
        return False

    def _drain(self, conn: socket.socket, remaining: int | None, deadline: float) -> None:
        """Read and drop ``remaining`` bytes (None: until the client hangs up)."""
        while remaining is None or remaining > 0:
            if not self._wait_readable(conn, deadline):
                return
            chunk = conn.recv(65536)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)

    @staticmethod
    def _canned(fault: Fault) -> bytes:
        if fault.kind in ("truncate", "unframed"):
            length = b"Content-Length: 1000\r\n" if fault.kind == "truncate" else b""
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + length
                + b'Connection: close\r\n\r\n{"presignedUrl": {"presi'
            )
        lines = [f"HTTP/1.1 {fault.status} {_REASONS.get(fault.status, 'Error')}"]
        lines += [f"{k}: {v}" for k, v in fault.headers]
        lines += [f"Content-Length: {len(fault.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + fault.body

    def _pump(
        self,
        conn: socket.socket,
        upstream: socket.socket,
        body: bytes,
        limit: int | None,
        cut_reply: bool,
        seen: Seen,
        deadline: float,
    ) -> None:
        """Relay both ways until upstream hangs up; RST both after ``limit`` body bytes."""
        reply = b""
        pending = body
        open_socks = [conn, upstream]
        while not self._stop.is_set() and time.monotonic() < deadline:
            if limit is not None and seen.body_forwarded + len(pending) >= limit:
                upstream.sendall(pending[: limit - seen.body_forwarded])
                seen.body_forwarded = limit
                _reset(upstream)
                _reset(conn)
                return
            if pending:
                upstream.sendall(pending)
                seen.body_forwarded += len(pending)
                pending = b""
            readable = select.select(open_socks, [], [], self.POLL)[0]
            for s in readable:
                data = s.recv(65536)
                if s is conn:
                    if not data:
                        open_socks.remove(conn)  # client done sending; wait for the answer
                    pending = data
                elif not data:  # upstream answered in full and closed (Connection: close)
                    if cut_reply:
                        conn.sendall(reply[: len(reply) // 2])
                    return
                elif cut_reply:
                    reply += data
                else:
                    conn.sendall(data)


def _reset(s: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.close()


class RerouteTransport(httpx.HTTPTransport):
    """Connects to ``routes[(host, port)]`` instead of the URL's own port, sending the URL's
    Host header unchanged.

    Presigned URLs sign the Host header, port included, so a proxy on another port cannot
    simply be written into the URL. httpx builds the Host header from the URL when the
    request is created; changing ``request.url`` here, just before the connection is made,
    moves only the TCP target: storage still sees the signed ``Host: 127.0.0.1:S3PORT`` and
    the signature stays valid. ``rewrite`` may edit the URL (to tamper with it) as well.
    """

    def __init__(
        self,
        routes: dict[tuple[str, int], int],
        rewrite: Callable[[httpx.URL], httpx.URL] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.routes = routes
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if self.rewrite is not None:
            url = self.rewrite(url)
        port = self.routes.get((url.host, url.port or 80))
        request.url = url.copy_with(port=port) if port else url
        return super().handle_request(request)


# ---------------------------------------------------------------- invariants


_S3_CLIENTS: dict[tuple[str, str], Any] = {}


def s3_client(settings: S3Settings) -> Any:
    key = (settings.endpoint_url, settings.access_key)
    if key not in _S3_CLIENTS:
        _S3_CLIENTS[key] = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 2},
            ),
        )
    return _S3_CLIENTS[key]


def stored_md5(settings: S3Settings, key: str) -> tuple[int, str]:
    body = s3_client(settings).get_object(Bucket=settings.bucket, Key=key)["Body"].read()
    return len(body), hashlib.md5(body).hexdigest()


def assert_invariants(
    client: Client,
    storage: S3Settings,
    results: Iterable[UploadResult],
    attempted: Iterable[bytes] = (),
) -> dict[str, int]:
    """Every result is listed with its size; every listed file's stored bytes match its MD5.

    A listed key that no result names (an upload that failed on the client's side after
    storage took the bytes) must hold the complete bytes of something in ``attempted``:
    never a half-written or foreign object. Returns the listing as ``{s3_key: size}``.
    """
    results = list(results)
    known = {hashlib.md5(b).hexdigest(): len(b) for b in attempted}
    known.update({r.md5_hex: r.size for r in results})
    by_key: dict[str, str] = {}
    for r in results:
        assert by_key.setdefault(r.s3_key, r.md5_hex) == r.md5_hex, f"{r.s3_key} overwritten"
    files = client.list_files()
    listed = dict(zip(files["s3_key"].tolist(), files["size"].tolist(), strict=True))
    for r in results:
        assert r.s3_key in listed, f"{r} is not listed"
        assert listed[r.s3_key] == r.size, f"{r.s3_key}: listed {listed[r.s3_key]} bytes"
    for key, size in listed.items():
        n, md5 = stored_md5(storage, key)
        assert n == size, f"{key}: listed {size} bytes, stored {n}"
        if key in by_key:
            assert md5 == by_key[key], f"{key}: stored bytes are not the uploaded ones"
        else:
            assert known.get(md5) == n, f"{key}: phantom or corrupt object ({n} bytes)"
    return listed


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff delays the retry loop asked for, instead of waiting them."""
    recorded: list[float] = []
    monkeypatch.setattr(_http, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def api_proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    host, port = urlsplit(sandbox.base_url).hostname, urlsplit(sandbox.base_url).port
    proxy = FaultProxy((host or "127.0.0.1", port or 80)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def storage_proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    url = urlsplit(sandbox.storage.endpoint_url)
    proxy = FaultProxy((url.hostname or "127.0.0.1", url.port or 80)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def direct(sandbox: Sandbox, alice: Api) -> Iterator[Client]:
    """Alice's client straight to the sandbox: the trusted view for the invariants."""
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as c:
        yield c


def proxied_client(
    base_url: str, user_id: str | None, *, timeout: float = 2.0, max_retries: int = 3
) -> Client:
    return Client(
        WORKSPACE_KEYS[0],
        base_url=base_url,
        user_id=user_id,
        timeout=httpx.Timeout(timeout),
        max_retries=max_retries,
    )


@contextlib.contextmanager
def storage_routed_client(
    sandbox: Sandbox,
    proxy: FaultProxy,
    user_id: str | None,
    *,
    timeout: float = 2.0,
    max_retries: int = 3,
    rewrite: Callable[[httpx.URL], httpx.URL] | None = None,
) -> Iterator[Client]:
    """A client whose API calls go straight to the sandbox and whose PUTs cross ``proxy``."""
    url = urlsplit(sandbox.storage.endpoint_url)
    transport = RerouteTransport({(url.hostname or "", url.port or 80): proxy.port}, rewrite)
    http = httpx.Client(transport=transport, timeout=httpx.Timeout(timeout))
    try:
        with Client(
            WORKSPACE_KEYS[0],
            base_url=sandbox.base_url,
            user_id=user_id,
            http_client=http,
            max_retries=max_retries,
        ) as c:
            yield c
    finally:
        http.close()


UPLOAD_REQUEST = "POST /connectors/files/upload/request"


# ---------------------------------------------------------------- client <-> API


def test_proxy_passes_uploads_and_listings_through(
    api_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api
) -> None:
    data = random_bytes(50_000)
    with proxied_client(api_proxy.url, alice.user_id) as c:
        result = c.upload(data, filename="through.bin", progress=False)
        assert c.list_files()["s3_key"].tolist() == [result.s3_key]
    assert [(s.method, s.fault) for s in api_proxy.seen] == [("POST", "pass"), ("GET", "pass")]
    assert assert_invariants(direct, sandbox.storage, [result]) == {result.s3_key: 50_000}


# Each fault hits the first attempts of the upload request, then requests pass.
API_RECOVERABLE = {
    "reset_mid_body": reset_after(16),
    "stall_past_timeout": STALL,
    "503": status(503),
    "429_retry_after_0": status(429, ("Retry-After", "0")),
    "truncated_response": TRUNCATE,
    "reply_cut_after_work": CUT_REPLY,
}


@pytest.mark.parametrize("fault", API_RECOVERABLE.values(), ids=list(API_RECOVERABLE))
def test_api_faults_are_retried_and_the_upload_lands(
    fault: Fault,
    api_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(70_000)
    times = 1 if fault is STALL else 3  # a stall costs a whole timeout per attempt
    api_proxy.plan(*[fault] * times, match=UPLOAD_REQUEST)
    started = time.monotonic()
    with proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=3) as c:
        result = c.upload(data, filename="retried.bin", progress=False)
    assert time.monotonic() - started < 10
    assert result.type == "new"
    assert result.size == len(data)
    assert result.md5_hex == hashlib.md5(data).hexdigest()
    assert [s.fault for s in api_proxy.requests(UPLOAD_REQUEST)] == [fault.kind] * times + ["pass"]
    assert len(sleeps) == times
    if fault.kind == "status" and fault.status == 429:
        assert sleeps == [0.0] * times  # Retry-After honoured
    assert assert_invariants(direct, sandbox.storage, [result]) == {result.s3_key: len(data)}


API_FATAL = {
    "reset_mid_body": (reset_after(16), alloy_nb.APIConnectionError),
    "stall_past_timeout": (STALL, alloy_nb.APITimeoutError),
    "503": (status(503), alloy_nb.ServerError),
    "429_retry_after_0": (status(429, ("Retry-After", "0")), alloy_nb.RateLimitError),
    "truncated_response": (TRUNCATE, alloy_nb.APIConnectionError),
}


@pytest.mark.parametrize(("fault", "error"), API_FATAL.values(), ids=list(API_FATAL))
def test_api_faults_that_never_end_raise_a_clear_error_and_store_nothing(
    fault: Fault,
    error: type[alloy_nb.AlloyError],
    api_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(30_000)
    api_proxy.plan(then=fault, match=UPLOAD_REQUEST)
    started = time.monotonic()
    with (
        proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=2) as c,
        pytest.raises(error) as caught,
    ):
        c.upload(data, filename="doomed.bin", progress=False)
    assert time.monotonic() - started < 10
    assert type(caught.value) is error
    assert WORKSPACE_KEYS[0] not in str(caught.value)
    if isinstance(caught.value, alloy_nb.APIStatusError):
        assert caught.value.status_code == fault.status
    assert len(api_proxy.requests(UPLOAD_REQUEST)) == 3  # the first try and two retries
    assert len(sleeps) == 2
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}


def test_listing_survives_a_mixed_storm(
    api_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api, sleeps: list[float]
) -> None:
    results = [
        direct.upload(random_bytes(1000 + i), filename=f"f{i}.bin", progress=False)
        for i in range(3)
    ]
    storm = [status(503), reset_after(0), TRUNCATE, status(429, ("Retry-After", "0")), CUT_REPLY]
    api_proxy.plan(*storm, match="GET /connectors/files/list")
    with proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=5) as c:
        files = c.list_files()
    assert sorted(files["s3_key"]) == sorted(r.s3_key for r in results)
    assert [s.fault for s in api_proxy.seen] == [f.kind for f in storm] + ["pass"]
    assert len(sleeps) == len(storm)
    assert_invariants(direct, sandbox.storage, results)


@pytest.mark.parametrize("call", ["upload", "list_files"])
def test_a_cut_reply_without_a_length_is_an_alloy_error(
    call: str,
    api_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    """A 200 whose close-delimited JSON body was cut looks complete to HTTP: the client must
    still raise an alloy_nb error (it used to leak json.JSONDecodeError), storing nothing."""
    data = random_bytes(5000)
    api_proxy.plan(then=UNFRAMED, match=UPLOAD_REQUEST if call == "upload" else "GET")
    with proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=1) as c:
        run: Callable[[], object] = (
            (lambda: c.upload(data, filename="cut.bin", progress=False))
            if call == "upload"
            else c.list_files
        )
        with pytest.raises(alloy_nb.APIError) as caught:
            run()
    assert not isinstance(caught.value, alloy_nb.APIStatusError)  # it was a 200
    assert "JSON" in str(caught.value)
    assert {s.fault for s in api_proxy.seen} == {"unframed"}
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}


# ---------------------------------------------------------------- client <-> storage


def test_storage_proxy_keeps_the_signature_valid(
    storage_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api
) -> None:
    data = random_bytes(200_000)
    with storage_routed_client(sandbox, storage_proxy, alice.user_id) as c:
        result = c.upload(data, filename="signed.bin", progress=False)
    [put] = storage_proxy.seen
    assert (put.method, put.fault, put.body_forwarded) == ("PUT", "pass", len(data))
    assert put.path == f"/{sandbox.storage.bucket}/{result.s3_key}"
    assert_invariants(direct, sandbox.storage, [result])


STORAGE_RECOVERABLE = {
    "reset_mid_put_body": reset_after(512 * 1024),
    "reset_before_body": reset_after(0),
    "503_slowdown": status(503, xml=True),
    "stall_past_timeout": STALL,
    "truncated_response": TRUNCATE,
    "reply_cut_after_stored": CUT_REPLY,
}


@pytest.mark.parametrize("fault", STORAGE_RECOVERABLE.values(), ids=list(STORAGE_RECOVERABLE))
def test_storage_faults_restart_the_body_and_the_upload_lands(
    fault: Fault,
    storage_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(2 * 1024 * 1024 + 17)
    times = 1 if fault is STALL else 2
    storage_proxy.plan(*[fault] * times, match="PUT")
    progress: list[tuple[int, int]] = []
    with storage_routed_client(sandbox, storage_proxy, alice.user_id, timeout=1.0) as c:
        result = c.upload(
            data, filename="big.bin", progress=False, on_progress=lambda *a: progress.append(a)
        )
    puts = storage_proxy.requests("PUT")
    assert [p.fault for p in puts] == [fault.kind] * times + ["pass"]
    if fault.kind == "reset":
        assert all(p.body_forwarded == fault.after for p in puts[:-1])
    assert puts[-1].body_forwarded == len(data)  # the body restarted from its first byte
    assert progress[-1] == (len(data), len(data))
    assert len(sleeps) == times
    assert result.type == "new"
    assert assert_invariants(direct, sandbox.storage, [result]) == {result.s3_key: len(data)}
    again = direct.upload(data, filename="big.bin", progress=False)
    assert (again.type, again.s3_key) == ("existing", result.s3_key)


STORAGE_FATAL = {
    "reset_mid_put_body": (reset_after(256 * 1024), alloy_nb.APIConnectionError),
    "503_slowdown": (status(503, xml=True), alloy_nb.ServerError),
    "stall_past_timeout": (STALL, alloy_nb.APITimeoutError),
}


@pytest.mark.parametrize(("fault", "error"), STORAGE_FATAL.values(), ids=list(STORAGE_FATAL))
def test_storage_faults_that_never_end_raise_and_leave_nothing_behind(
    fault: Fault,
    error: type[alloy_nb.AlloyError],
    storage_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(1024 * 1024)
    storage_proxy.plan(then=fault, match="PUT")
    with (
        storage_routed_client(
            sandbox, storage_proxy, alice.user_id, timeout=1.0, max_retries=2
        ) as c,
        pytest.raises(error) as caught,
    ):
        c.upload(data, filename="never.bin", progress=False)
    assert type(caught.value) is error
    assert "X-Amz-Signature" not in str(caught.value)
    if isinstance(caught.value, alloy_nb.APIStatusError):
        assert (caught.value.status_code, caught.value.code) == (503, "SlowDown")
    assert len(storage_proxy.requests("PUT")) == 3
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}
    ticket = direct.request_upload(
        "never.bin", "application/octet-stream", hashlib.md5(data).hexdigest()
    )
    assert ticket.type == "new"  # nothing half-written was taken for the file


def test_reply_lost_every_time_is_an_error_but_the_bytes_are_whole(
    storage_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api, sleeps: list[float]
) -> None:
    """Storage took the bytes but the 200 never arrived: the client must say it failed, and
    what storage holds is the complete file, found as ``existing`` on the next upload."""
    data = random_bytes(300_000)
    storage_proxy.plan(then=CUT_REPLY, match="PUT")
    with (
        storage_routed_client(sandbox, storage_proxy, alice.user_id, max_retries=1) as c,
        pytest.raises(alloy_nb.APIConnectionError),
    ):
        c.upload(data, filename="acked.bin", progress=False)
    assert [p.body_forwarded for p in storage_proxy.requests("PUT")] == [len(data)] * 2
    listed = assert_invariants(direct, sandbox.storage, [], [data])
    assert list(listed.values()) == [len(data)]  # stored whole, once, though the client failed
    again = direct.upload(data, filename="acked.bin", progress=False)
    assert again.type == "existing"
    assert_invariants(direct, sandbox.storage, [again])


# ---------------------------------------------------------------- concurrency


def run_at_once(n: int, fn: Callable[[int], UploadResult]) -> list[UploadResult]:
    """``fn(0..n-1)`` on n threads released together; re-raises the first failure."""
    barrier = threading.Barrier(n, timeout=30)
    out: list[UploadResult | BaseException | None] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = fn(i)
        except BaseException as e:
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "an upload hung"
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return [r for r in out if isinstance(r, UploadResult)]


def test_eight_clients_upload_the_same_file_at_once(
    sandbox: Sandbox, direct: Client, alice: Api
) -> None:
    data = random_bytes(1024 * 1024 + 3)
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(proxied_client(sandbox.base_url, alice.user_id, timeout=30))
            for _ in range(8)
        ]

        def upload(i: int) -> UploadResult:
            return clients[i].upload(data, filename="shared.bin", progress=False)

        results = run_at_once(8, upload)
    assert len(results) == 8
    assert {r.s3_key for r in results} == {f"{alice.user_id}_shared.bin"}
    assert "new" in {r.type for r in results}
    assert assert_invariants(direct, sandbox.storage, results) == {results[0].s3_key: len(data)}


def test_eight_clients_upload_different_files_with_one_name_at_once(
    sandbox: Sandbox, direct: Client, alice: Api
) -> None:
    datas = [random_bytes(100_000 + i) for i in range(8)]
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(proxied_client(sandbox.base_url, alice.user_id, timeout=30))
            for _ in range(8)
        ]

        def upload(i: int) -> UploadResult:
            return clients[i].upload(datas[i], filename="report.csv", progress=False)

        results = run_at_once(8, upload)
    assert len({r.s3_key for r in results}) == 8  # no overwrite
    assert {r.type for r in results} == {"new"}
    assert all(r.filename == "report.csv" and r.s3_key.endswith(".csv") for r in results)
    listed = assert_invariants(direct, sandbox.storage, results)
    assert listed == {r.s3_key: r.size for r in results}


def test_eight_clients_same_file_while_storage_resets_puts(
    sandbox: Sandbox,
    storage_proxy: FaultProxy,
    direct: Client,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(1024 * 1024 + 5)
    storage_proxy.plan(*[reset_after(100_000)] * 4, status(503, xml=True), match="PUT")
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(
                storage_routed_client(
                    sandbox, storage_proxy, alice.user_id, timeout=30, max_retries=6
                )
            )
            for _ in range(8)
        ]

        def upload(i: int) -> UploadResult:
            return clients[i].upload(data, filename="stormy.bin", progress=False)

        results = run_at_once(8, upload)
    assert {r.s3_key for r in results} == {f"{alice.user_id}_stormy.bin"}
    faults = [p.fault for p in storage_proxy.requests("PUT")]
    assert faults.count("reset") == 4
    assert faults.count("status") == 1
    assert len(sleeps) == 5
    assert assert_invariants(direct, sandbox.storage, results) == {results[0].s3_key: len(data)}


# ---------------------------------------------------------------- tampered and skewed URLs


def shift_amz_date(by: datetime.timedelta) -> Callable[[httpx.URL], httpx.URL]:
    def rewrite(url: httpx.URL) -> httpx.URL:
        query = dict(parse_qsl(url.query.decode()))
        if "X-Amz-Date" not in query:
            return url
        when = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        query["X-Amz-Date"] = (when + by).strftime("%Y%m%dT%H%M%SZ")
        return httpx.URL(urlunsplit(urlsplit(str(url))._replace(query=urlencode(query))))

    return rewrite


@pytest.mark.parametrize(
    ("shift", "code", "puts"),
    [
        # storage says "expired": the client asks for a new URL once, then gives up
        (datetime.timedelta(hours=-2), "AccessDenied", 2),
        # the date is signed, so any change is a bad signature: no renewal
        (datetime.timedelta(minutes=1), "SignatureDoesNotMatch", 1),
    ],
    ids=["two_hours_back", "one_minute_ahead"],
)
def test_url_with_a_shifted_x_amz_date_is_refused_and_nothing_is_stored(
    shift: datetime.timedelta,
    code: str,
    puts: int,
    sandbox: Sandbox,
    direct: Client,
    alice: Api,
    sleeps: list[float],
) -> None:
    sent: list[str] = []
    transport = RerouteTransport({}, shift_amz_date(shift))
    http = httpx.Client(
        transport=transport, event_hooks={"request": [lambda r: sent.append(r.method)]}
    )
    data = random_bytes(10_000)
    try:
        with (
            Client(
                WORKSPACE_KEYS[0],
                base_url=sandbox.base_url,
                user_id=alice.user_id,
                http_client=http,
            ) as c,
            pytest.raises(alloy_nb.PermissionDeniedError) as caught,
        ):
            c.upload(data, filename="skewed.bin", progress=False)
    finally:
        http.close()
    assert caught.value.status_code == 403
    assert caught.value.code == code
    assert sent == ["POST", "PUT"] * puts
    assert sleeps == []  # a 403 is never retried
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}


def test_sandbox_clock_twelve_minutes_slow_makes_urls_expire_and_the_error_is_clear(
    sandbox: Sandbox, http: httpx.Client, sleeps: list[float]
) -> None:
    """The API host's clock runs 12 min behind storage's: its signed HEADs still pass (S3
    allows 15 min of skew) but its 10-minute URLs are born expired. The client renews once,
    fails again, and says so; nothing is stored; with the clock fixed the upload lands."""
    real = botocore.auth.get_current_datetime
    skew = datetime.timedelta(minutes=-12)
    data = random_bytes(20_000)
    with alloy_nb.sandbox.start(api_keys=["skewed-key"], s3=sandbox.storage, url_ttl=600) as sb:
        user = Api(http, sb.base_url, "skewed-key").new_user()
        with Client("skewed-key", base_url=sb.base_url, user_id=user.user_id) as c:
            with (
                mock.patch.object(
                    botocore.auth, "get_current_datetime", lambda *a, **k: real(*a, **k) + skew
                ),
                pytest.raises(alloy_nb.PermissionDeniedError, match="expired") as caught,
            ):
                c.upload(data, filename="late.bin", progress=False)
            assert caught.value.code == "AccessDenied"
            assert assert_invariants(c, sb.storage, [], [data]) == {}
            result = c.upload(data, filename="late.bin", progress=False)
            assert result.s3_key == f"{user.user_id}_late.bin"
            assert assert_invariants(c, sb.storage, [result]) == {result.s3_key: len(data)}


# ---------------------------------------------------------------- storage killed and restarted

OWN_KEY = "fault-key"
MiB = 1024 * 1024


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Callable[[], Sandbox]]:
    """Start sandboxes on one data directory (tmp_path/data); all are stopped at the end."""
    started: list[Sandbox] = []

    def start() -> Sandbox:
        sb = alloy_nb.sandbox.start(data_dir=tmp_path / "data", api_keys=[OWN_KEY])
        started.append(sb)
        return sb

    try:
        yield start
    finally:
        for sb in started:
            sb.stop()


def test_storage_killed_mid_uploads_then_restarted(
    own_sandbox: Callable[[], Sandbox], sleeps: list[float]
) -> None:
    sb = own_sandbox()
    assert sb.weed is not None
    weed = sb.weed
    blobs = [random_bytes(3 * MiB if i == 5 else 200_000 + i) for i in range(9)]
    outcomes: list[UploadResult | BaseException] = []
    paused, resume = threading.Event(), threading.Event()

    def pause_mid_body(done: int, total: int) -> None:
        if done > MiB and not paused.is_set():  # the first MiB is on the wire
            paused.set()
            resume.wait(30)

    def uploads() -> None:
        with Client(OWN_KEY, base_url=sb.base_url, timeout=5, max_retries=1) as c:
            for i, blob in enumerate(blobs):
                hook = pause_mid_body if i == 5 else None
                try:
                    outcomes.append(
                        c.upload(blob, filename=f"f{i}.bin", progress=False, on_progress=hook)
                    )
                except alloy_nb.AlloyError as e:
                    outcomes.append(e)

    worker = threading.Thread(target=uploads, daemon=True)
    worker.start()
    try:
        assert paused.wait(60), "upload 5 never started its PUT"
        weed.kill()
    finally:
        resume.set()
    worker.join(60)
    assert not worker.is_alive(), "uploads hung after storage died"

    assert [type(o) for o in outcomes[:5]] == [UploadResult] * 5
    assert type(outcomes[5]) is alloy_nb.APIConnectionError  # the PUT in flight
    for o in outcomes[6:]:  # the API answers a quick 503 while storage is down
        assert isinstance(o, alloy_nb.ServerError)
        assert o.status_code == 503
        assert "storage is unavailable" in o.message
    results = [o for o in outcomes if isinstance(o, UploadResult)]

    # The same WeedServer object restarts on its data and on its ports, so the running
    # sandbox (and every URL it handed out) reaches storage again.
    weed.start()
    assert weed.settings.endpoint_url == sb.storage.endpoint_url
    for r in results:
        assert stored_md5(weed.settings, r.s3_key) == (r.size, r.md5_hex)
    deadline = time.monotonic() + 10
    while httpx.get(sb.base_url + "/health").status_code != 200:
        assert time.monotonic() < deadline, "the sandbox did not reach restarted storage"
        time.sleep(0.1)
    with Client(OWN_KEY, base_url=sb.base_url, max_retries=1) as c:
        listed = assert_invariants(c, sb.storage, results, blobs)
        assert set(listed) == {r.s3_key for r in results}  # nothing from the cut PUT
        late = [c.upload(blobs[i], filename=f"f{i}.bin", progress=False) for i in range(5, 9)]
        assert [r.type for r in late] == ["new"] * 4
        assert len(assert_invariants(c, sb.storage, results + late)) == len(blobs)

    # A sandbox restarted on the same data directory serves it all again, deduplicated.
    sb.stop()
    sb2 = own_sandbox()
    with Client(OWN_KEY, base_url=sb2.base_url, max_retries=1) as c:
        for r, blob in zip(results + late, blobs, strict=True):
            again = c.upload(blob, filename=r.filename, progress=False)
            assert (again.type, again.s3_key) == ("existing", r.s3_key)
        assert len(assert_invariants(c, sb2.storage, results + late)) == len(blobs)


# ---------------------------------------------------------------- sandbox SIGKILLed


@dataclass
class CliSandbox:
    proc: subprocess.Popen[bytes]
    base_url: str
    user_id: str
    weed: psutil.Process
    data_dir: Path

    @property
    def storage(self) -> S3Settings:
        creds = json.loads((self.data_dir / "s3" / "s3-credentials.json").read_text())
        [port] = [int(a.split("=")[1]) for a in self.weed.cmdline() if a.startswith("-s3.port=")]
        return S3Settings(
            f"http://127.0.0.1:{port}",
            creds["accessKey"],
            creds["secretKey"],
            "alloy-user-files",
        )

    def sigkill(self) -> None:
        """SIGKILL the sandbox and its (then orphaned) weed; wait until both are gone."""
        self.proc.kill()
        self.proc.wait(10)
        with contextlib.suppress(psutil.NoSuchProcess):
            self.weed.kill()
            self.weed.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(psutil.NoSuchProcess):
            if self.weed.is_running():
                self.weed.kill()
                self.weed.wait(10)


_READY = re.compile(rb"alloy sandbox ready base_url=(http://127\.0\.0\.1:\d+)\n")
_KEY_LINE = re.compile(rb"api_key=\S+ user_id=([0-9a-f]{24})\n")


def start_cli(data_dir: Path, log: Path, key: str = OWN_KEY) -> CliSandbox:
    """``python -m alloy_nb.sandbox`` on a free port; waits (bounded) for its ready lines."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    with open(log, "ab") as err:
        cmd = ["-m", "alloy_nb.sandbox", "--port", "0", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(
            [sys.executable, *cmd, "--api-key", key],
            stdout=subprocess.PIPE,
            stderr=err,
            env=environ,
        )
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + 60
    while not (_READY.search(out) and _KEY_LINE.search(out)):
        left = deadline - time.monotonic()
        ready = select.select([proc.stdout], [], [], max(0.0, left))[0] if left > 0 else []
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"no ready lines: {out!r} {log.read_text()[-2000:]}")
        out += chunk
    ready_m, key_m = _READY.search(out), _KEY_LINE.search(out)
    assert ready_m
    assert key_m
    # weed runs under a launcher that ties it to this sandbox (alloy_nb/sandbox/_lifeline.py)
    children = psutil.Process(proc.pid).children(recursive=True)
    [weed] = [c for c in children if "weed" in c.name()]
    return CliSandbox(proc, ready_m.group(1).decode(), key_m.group(1).decode(), weed, data_dir)


@pytest.fixture
def cli_sandboxes(tmp_path: Path) -> Iterator[Callable[[], CliSandbox]]:
    started: list[CliSandbox] = []

    def start() -> CliSandbox:
        c = start_cli(tmp_path / "data", tmp_path / "sandbox.log")
        started.append(c)
        return c

    try:
        yield start
    finally:
        for c in started:
            ports = weed_ports(c.weed)
            c.close()
            _remove_grpc_sockets(ports)


def weed_ports(weed: psutil.Process) -> list[int]:
    """The ports a weed mini process was told to use (none once it is gone)."""
    try:
        args = weed.cmdline()
    except psutil.Error:
        return []
    return [int(a.split("=")[1]) for a in args if re.fullmatch(r"-\w+\.port=\d+", a)]


def _remove_grpc_sockets(ports: list[int]) -> None:
    """A SIGKILLed weed leaves its gRPC unix sockets in /tmp; tidy those of its ports only."""
    for port in ports:
        for kind in ("master", "volume", "filer", "s3", "admin"):
            for p in (port, port + 10000):
                Path(f"/tmp/seaweedfs-{kind}-grpc-{p}.sock").unlink(missing_ok=True)


def test_sandbox_sigkilled_mid_upload_restarts_on_the_same_data_dir(
    cli_sandboxes: Callable[[], CliSandbox], sleeps: list[float]
) -> None:
    first = cli_sandboxes()
    killed_ports = weed_ports(first.weed)
    early_blobs = [random_bytes(50_000 + i) for i in range(3)]
    big = random_bytes(6 * MiB)
    with Client(OWN_KEY, base_url=first.base_url, timeout=5, max_retries=1) as c:
        early = [
            c.upload(b, filename=f"early{i}.bin", progress=False) for i, b in enumerate(early_blobs)
        ]

        def kill_mid_body(done: int, total: int) -> None:
            if done > 2 * MiB and first.proc.poll() is None:
                first.sigkill()

        with pytest.raises(alloy_nb.APIConnectionError):
            c.upload(big, filename="big.bin", progress=False, on_progress=kill_mid_body)
    assert first.proc.returncode == -signal.SIGKILL
    assert not first.weed.is_running()
    _remove_grpc_sockets(killed_ports)

    second = cli_sandboxes()
    assert second.user_id == first.user_id
    with Client(OWN_KEY, base_url=second.base_url, max_retries=1) as c:
        listed = assert_invariants(c, second.storage, early, [*early_blobs, big])
        assert set(listed) == {r.s3_key for r in early}  # no phantom for the cut upload
        for r, b in zip(early, early_blobs, strict=True):
            again = c.upload(b, filename=r.filename, progress=False)
            assert (again.type, again.s3_key) == ("existing", r.s3_key)
        done = c.upload(big, filename="big.bin", progress=False)
        assert (done.type, done.s3_key) == ("new", f"{second.user_id}_big.bin")
        assert assert_invariants(c, second.storage, [*early, done])[done.s3_key] == len(big)


def test_sandbox_sigkilled_alone_its_orphaned_storage_is_replaced_on_restart(
    cli_sandboxes: Callable[[], CliSandbox],
) -> None:
    """SIGKILL (the OOM killer, ``kill -9``) of the sandbox: its weed, which sits in a session
    of its own so a notebook's Ctrl-C cannot kill storage, is stopped by its launcher. A
    restart on the same data directory at once, while that weed may still be stopping, must
    stop it instead of failing on its locks."""
    first = cli_sandboxes()
    orphan = first.weed
    with Client(OWN_KEY, base_url=first.base_url, max_retries=1) as c:
        kept = c.upload(random_bytes(40_000), filename="kept.bin", progress=False)
    first.proc.kill()
    first.proc.wait(10)

    second = cli_sandboxes()
    with contextlib.suppress(psutil.TimeoutExpired):
        orphan.wait(15)
    assert not orphan.is_running()
    assert second.weed.pid != orphan.pid
    with Client(OWN_KEY, base_url=second.base_url, max_retries=1) as c:
        assert assert_invariants(c, second.storage, [kept]) == {kept.s3_key: kept.size}
        fresh = c.upload(random_bytes(30_000), filename="fresh.bin", progress=False)
        assert fresh.type == "new"
        assert_invariants(c, second.storage, [kept, fresh])
