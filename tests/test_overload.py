"""A hung storage and slow or idle clients never stop the API serving everyone else."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

import alloy_nb.sandbox
from alloy_nb.sandbox import HttpLimits, Sandbox
from alloy_nb.sandbox._protocol import FD_RESERVE, connection_cap

from .helpers import Api, random_bytes

KEY = "overload-key"
UPLOAD = "/connectors/files/upload/request"


def timed(fn: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = fn()  # type: ignore[operator]
    return r, time.monotonic() - started


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The process ``pid`` frozen (SIGSTOP) for the block; always thawed after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_frozen_storage_leaves_auth_and_users_answering(http: httpx.Client) -> None:
    """Storage frozen, 60 storage calls in flight: /users and a bad-key 401 answer in < 1 s.

    Storage is SIGSTOPped. The storage-bound calls all end in 503 with Retry-After within
    seconds (past the slot limit: after the short slot wait); after SIGCONT all is well."""
    with alloy_nb.sandbox.start(api_keys=[KEY]) as sb:
        assert sb.weed is not None
        assert sb.weed.pid is not None
        api = Api(http, sb.base_url, KEY)
        stranger = Api(http, sb.base_url, "wrong-key")
        api.upload("before.bin", random_bytes())
        upload = {"filename": "f.bin", "mimeType": "text/plain"}
        calls = [
            ("POST", UPLOAD, {"json": {**upload, "md5": os.urandom(16).hex()}}),
            ("GET", "/connectors/files/list", {}),
            ("DELETE", f"/connectors/files/{sb.user_id}_before.bin", {}),
        ] * 20
        with (
            httpx.Client(timeout=60, limits=httpx.Limits(max_connections=100)) as many,
            ThreadPoolExecutor(60) as pool,
            stopped(sb.weed.pid),
        ):
            flying = Api(many, sb.base_url, KEY)
            futures = [
                pool.submit(timed, lambda c=c: flying.call(c[0], c[1], **c[2])) for c in calls
            ]
            quick = []
            for _ in range(5):
                users, t_users = timed(lambda: api.call("GET", "/users"))
                bad, t_bad = timed(lambda: stranger.call("GET", "/users"))
                assert (users.status_code, bad.status_code) == (200, 401)
                quick += [t_users, t_bad]
                time.sleep(0.3)  # spread the probes over the time the calls are stuck
            outcomes = [f.result(timeout=60) for f in futures]
        print(f"\n/users and 401 while storage is stopped: max {max(quick) * 1000:.0f} ms")
        assert max(quick) < 1.0
        assert {r.status_code for r, _ in outcomes} == {503}
        assert all(r.headers.get("Retry-After") for r, _ in outcomes)
        assert all("storage" in r.json()["message"] for r, _ in outcomes)
        waits = sorted(t for _, t in outcomes)
        print(
            f"storage-bound 503s: fastest {waits[0]:.1f} s, median {waits[30]:.1f} s, "
            f"slowest {waits[-1]:.1f} s"
        )
        assert waits[30] < 4  # past the slot limit: refused after the short slot wait
        assert waits[-1] < 20  # in a slot: storage's own timeouts end it
        assert api.call("GET", "/connectors/files/list").status_code == 200


# ---------------------------------------------------------------- slow and idle clients


def host_port(base_url: str) -> tuple[str, int]:
    url = urlsplit(base_url)
    return url.hostname or "127.0.0.1", url.port or 80


HALF_HEAD = b"GET /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bear"


@pytest.fixture
def small_limits(sandbox: Sandbox) -> Iterator[Sandbox]:
    """A sandbox (on the session's storage) with tight limits: 2 s for a head, 1 s for a
    body, at most 50 connections."""
    limits = HttpLimits(head_timeout=2, body_timeout=1, max_connections=50)
    with alloy_nb.sandbox.start(api_keys=[KEY], s3=sandbox.storage, limits=limits) as sb:
        yield sb


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing ``sock`` within ``seconds``; None if still open."""
    got = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return None
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk
    return None


def test_200_half_sent_requests_do_not_starve_a_legit_call(
    small_limits: Sandbox, http: httpx.Client
) -> None:
    """200 half-sent requests (cap 50 connections): a legit call still answers at once.

    The oldest half-sent connections are closed to make room, the rest get 408 at the head
    timeout."""
    sb = small_limits
    socks = []
    try:
        for _ in range(200):
            s = socket.create_connection(host_port(sb.base_url), timeout=5)
            s.sendall(HALF_HEAD)
            socks.append(s)
        r, took = timed(lambda: Api(http, sb.base_url, KEY).call("GET", "/users"))
        assert r.status_code == 200
        print(f"\nlegit call with 200 half-sent requests open: {took * 1000:.0f} ms")
        assert took < 1.0
        ends = [closed_within(s, 4) for s in socks]
        assert all(e is not None for e in ends), "a half-sent request was held open"
        timed_out = [e for e in ends if e]
        assert timed_out
        assert all(e.startswith(b"HTTP/1.1 408 ") for e in timed_out)
        assert len(timed_out) <= 50  # the others were closed to make room
    finally:
        for s in socks:
            s.close()


def test_a_silent_connection_is_closed_at_the_head_timeout(small_limits: Sandbox) -> None:
    """A connection that never sends a byte is closed with 408 after the head timeout."""
    with socket.create_connection(host_port(small_limits.base_url), timeout=5) as s:
        started = time.monotonic()
        answer = closed_within(s, 5)
        assert answer is not None
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert 1.5 < time.monotonic() - started < 4


def test_a_body_that_stalls_is_a_408_and_the_connection_closes(small_limits: Sandbox) -> None:
    """A body that stops arriving gets 408 after the body timeout; the connection closes."""
    with socket.create_connection(host_port(small_limits.base_url), timeout=5) as s:
        s.sendall(
            b"POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + KEY.encode()
            + b"\r\nx-api-version: 2025-09\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"username": '
        )
        answer = closed_within(s, 4)
    assert answer is not None
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request body not received within 1 s" in answer


def test_a_busy_keep_alive_client_is_not_cut_by_the_head_timeout(small_limits: Sandbox) -> None:
    """Prompt requests on one kept-alive connection are served past the head timeout."""
    with httpx.Client(base_url=small_limits.base_url) as c:
        api = Api(c, small_limits.base_url, KEY)
        started = time.monotonic()
        while time.monotonic() - started < 3:
            assert api.call("GET", "/users").status_code == 200
            time.sleep(0.2)


def test_the_connection_cap_stays_under_the_file_descriptor_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 1,024 file descriptors, at most 1,024 - reserve connections are accepted."""
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    assert connection_cap(HttpLimits(max_connections=1000)) == 1024 - FD_RESERVE
    assert connection_cap(HttpLimits(max_connections=100)) == 100


def test_concurrent_legit_calls_beyond_storage_slots_are_served(
    sandbox: Sandbox, http: httpx.Client, alice: Api
) -> None:
    """40 storage calls at once on a healthy storage (over its 16 slots) all succeed.

    The short wait for a slot absorbs a burst."""
    barrier = threading.Barrier(40, timeout=30)

    def one(i: int) -> int:
        barrier.wait()
        return alice.request_upload(f"burst-{i}.bin", random_bytes(64)).status_code

    with ThreadPoolExecutor(40) as pool:
        assert set(pool.map(one, range(40))) == {200}
