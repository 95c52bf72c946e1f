"""The client is bounded in every dimension, and its API key stays out of frames' locals.

A real server on 127.0.0.1 (a thread with a raw socket) trickles bytes for the deadline; the
real sandbox answers 401s, uploads and actions; httpx.MockTransport only stands in for what
no real server does on demand (bad Retry-After values, repeating cursors, huge answers).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alloy_nb
from alloy_nb import Client, _constants, _files, _http
from alloy_nb.sandbox import Sandbox
from alloy_nb.sandbox._ports import listen_socket

from .helpers import Api
from .ports import refused_port

SECRET = "sk-live-never-in-locals-7f3a9c"  # a made-up key to look for
MIB = 1024**2


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client(SECRET, base_url="https://alloy.test", http_client=http, **kw)


def ticket(url: str = "https://storage.test/b/k?X-Amz-Signature=abc") -> dict[str, Any]:
    return {
        "presignedUrl": {
            "presignedUrl": url,
            "md5": "XUFAKrxLKna5cZ2REBfFkg==",
            "s3Key": "651eb6e11d156e0d7a42c59d_f.bin",
            "type": "new",
        }
    }


# ---------------------------------------------------------------- a raw server on loopback


def read_request(conn: socket.socket) -> tuple[bytes, int]:
    """The request head, and its Content-Length."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            raise ConnectionError("client went away")
        head += data
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, length - len(head.split(b"\r\n\r\n", 1)[1])


class RawServer:
    """Runs ``handle(conn, stop)`` for each connection, one at a time, on 127.0.0.1."""

    def __init__(self, handle: Callable[[socket.socket, threading.Event], None]) -> None:
        self.handle = handle
        self.stop = threading.Event()
        self.sock = listen_socket("127.0.0.1")
        # Set before listen(): accepted connections inherit it (and its TCP window).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    self.handle(conn, self.stop)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sock.close()
        assert not self.thread.is_alive()


def trickle(head: bytes, body: bytes, every: float = 2.0) -> Callable[..., None]:
    """Send ``head`` at once, then ``body`` one byte every ``every`` seconds."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        conn.sendall(head)
        for i in range(len(body)):
            if stop.wait(every):
                return
            conn.sendall(body[i : i + 1])

    return handle


def answer(body: bytes) -> bytes:
    """A complete 200 answer that closes the connection."""
    head = f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"


def timed_failure(call: Callable[[], object]) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(alloy_nb.AlloyError) as e:
        call()
    return e.value, time.monotonic() - started


# ---------------------------------------------------------------- the deadline


def test_a_body_trickled_a_byte_every_2s_cannot_hold_a_call_past_its_deadline() -> None:
    """APITimeoutError naming the deadline at 3 s, though no single read waits 5 s."""
    with (
        RawServer(trickle(JSON_HEAD, b'{"files": []}' + b" " * 7)) as server,
        Client(SECRET, base_url=server.url, timeout=5, deadline=3) as c,
    ):
        error, took = timed_failure(c.list_files)
    assert isinstance(error, alloy_nb.APITimeoutError)
    assert "3 s deadline" in str(error)
    assert 2.5 < took < 4.0


def test_headers_trickled_a_byte_every_2s_cannot_hold_a_call_past_its_deadline() -> None:
    """APITimeoutError at the 3 s deadline while the status line is still arriving."""
    with (
        RawServer(trickle(b"", JSON_HEAD, every=2.0)) as server,
        Client(SECRET, base_url=server.url, timeout=5, deadline=3) as c,
    ):
        error, took = timed_failure(c.list_files)
    assert isinstance(error, alloy_nb.APITimeoutError)
    assert 2.5 < took < 4.0


def test_with_an_http_client_passed_in_the_deadline_holds_between_reads() -> None:
    """APITimeoutError by the deadline plus one trickle interval."""
    with (
        RawServer(trickle(JSON_HEAD, b'{"files": []}' + b" " * 7)) as server,
        httpx.Client(timeout=30) as http,
    ):
        c = Client(SECRET, base_url=server.url, http_client=http, deadline=3)
        error, took = timed_failure(c.list_files)
    assert isinstance(error, alloy_nb.APITimeoutError)
    assert 2.5 < took < 6.0


class SlowFile(io.BytesIO):
    """A file whose every read takes a quarter of a second (a slow disk or network share)."""

    def read(self, size: int | None = -1) -> bytes:
        time.sleep(0.25)
        return super().read(size)


def test_sending_a_body_slowly_does_not_count_against_the_deadline() -> None:
    """An upload whose bytes take longer to send than the deadline still succeeds."""
    data = b"\0" * (6 * MIB)
    put_seconds: list[float] = []

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        head, remaining = read_request(conn)
        if head.startswith(b"POST"):
            conn.sendall(answer(json.dumps(ticket(server.url + "/bucket/k")).encode()))
            return
        started = time.monotonic()
        while remaining > 0 and not stop.is_set():
            chunk = conn.recv(min(remaining, MIB))
            if not chunk:
                return
            remaining -= len(chunk)
        put_seconds.append(time.monotonic() - started)
        conn.sendall(answer(b""))

    with RawServer(handle) as server, Client(SECRET, base_url=server.url, deadline=1.0) as c:
        result = c.upload(SlowFile(data), filename="slow.bin", progress=False)
    assert result.type == "new"
    assert len(put_seconds) == 1
    assert put_seconds[0] > 1.0, "the body took longer than the deadline"


def test_a_retry_after_longer_than_the_deadline_is_not_waited(sleeps: list[float]) -> None:
    """RateLimitError at once: no wait the deadline cannot afford."""
    c = mock_client(lambda r: httpx.Response(429, headers={"Retry-After": "30"}), deadline=5)
    with pytest.raises(alloy_nb.RateLimitError):
        c.list_files()
    assert sleeps == []


def test_deadline_and_response_cap_are_configurable_with_sane_defaults() -> None:
    """Defaults: 300 s per call, 64 MiB per answer; None turns the deadline off."""
    with Client(SECRET, base_url="http://127.0.0.1:9") as c:
        assert (c.limits.deadline, c.limits.max_response_bytes) == (300.0, 64 * MIB)
    with Client(SECRET, base_url="http://127.0.0.1:9", deadline=None) as c:
        assert c.limits.deadline is None


# ---------------------------------------------------------------- Retry-After


NO_FILES: dict[str, list[object]] = {"files": []}
BAD_RETRY_AFTER = [
    ("retry-after", "-5"),
    ("retry-after", "nan"),
    ("retry-after", "inf"),
    ("retry-after", "1e400"),
    ("retry-after", "soon"),
    ("retry-after", "Wed, 99 Foo 2024 99:99:99 GMT"),
    ("retry-after-ms", "-100"),
    ("retry-after-ms", "NaN"),
    ("retry-after-ms", "-inf"),
    ("retry-after-ms", "0x10"),
]


@pytest.mark.parametrize(("header", "value"), BAD_RETRY_AFTER)
def test_unusable_retry_after_falls_back_to_backoff(
    sleeps: list[float], header: str, value: str
) -> None:
    """The call is retried after a normal backoff (0.375-8 s); never a raw ValueError."""
    answers = [httpx.Response(503, headers={header: value}), httpx.Response(200, json=NO_FILES)]
    assert mock_client(lambda r: answers.pop(0)).list_files().empty
    assert len(sleeps) == 1
    assert 0.375 <= sleeps[0] <= 8


@pytest.mark.parametrize(
    ("header", "value"), [("retry-after", "1e300"), ("retry-after-ms", "9" * 40)]
)
def test_absurd_retry_after_is_capped(sleeps: list[float], header: str, value: str) -> None:
    """A wait of ages is capped at 60 s."""
    answers = [httpx.Response(429, headers={header: value}), httpx.Response(200, json=NO_FILES)]
    assert mock_client(lambda r: answers.pop(0)).list_files().empty
    assert sleeps == [60]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["retry-after", "retry-after-ms"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
def test_any_retry_after_text_gives_a_bounded_wait_or_none(header: str, value: str) -> None:
    """retry_after is None or a finite wait between 0 and 60 s for any header text."""
    wait = _http.retry_after(httpx.Response(503, headers={header: value}))
    assert wait is None or (math.isfinite(wait) and 0 <= wait <= 60)


# ---------------------------------------------------------------- presigned URL schemes


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://storage.test/bucket/k",
        "javascript:alert(1)",
        "//storage.test/bucket/k",
        "http:///bucket/k",
        "http://[::1/bucket/k",
    ],
)
def test_a_presigned_url_that_is_not_http_is_refused_before_any_put(url: str) -> None:
    """An AlloyError naming the scheme; no PUT is sent."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(200, json=ticket(url))

    with pytest.raises(alloy_nb.AlloyError, match="not an http"):
        mock_client(handler).upload(b"payload", filename="f.bin", progress=False)
    assert sent == ["POST"]


# ---------------------------------------------------------------- listings that never end


def test_a_repeating_list_cursor_stops_with_an_api_error() -> None:
    """APIError after the cursor comes back, not an endless loop."""
    cursors = iter(["a", "b", "a", "b"])
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"files": [], "nextCursor": next(cursors)})

    with pytest.raises(alloy_nb.APIError, match="cursor 'a' again"):
        mock_client(handler).list_files()
    assert len(calls) == 3


@pytest.mark.parametrize("cursor", [5, ["x"], {"next": "x"}])
def test_a_cursor_that_is_not_text_stops_with_an_api_error(cursor: object) -> None:
    """APIError naming the cursor; never a TypeError from building the next URL."""
    page = {"files": [], "nextCursor": cursor}
    with pytest.raises(alloy_nb.APIError, match="cursor"):
        mock_client(lambda r: httpx.Response(200, json=page)).list_files()


def test_pages_that_never_end_stop_at_the_page_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """APIError after MAX_LIST_PAGES pages (10,000 by default, 5 here)."""
    assert _constants.MAX_LIST_PAGES == 10_000
    monkeypatch.setattr(_files, "MAX_LIST_PAGES", 5)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"files": [], "nextCursor": f"c{len(calls)}"})

    with pytest.raises(alloy_nb.APIError, match="more pages after 5"):
        mock_client(handler).list_files()
    assert len(calls) == 5


# ---------------------------------------------------------------- answers too large to hold


def test_an_answer_announcing_more_than_the_cap_is_refused_unread() -> None:
    """APIError naming the cap, from Content-Length alone."""
    produced: list[int] = []

    def body() -> Iterator[bytes]:
        produced.append(1)
        yield b"{}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(65 * MIB)}, content=body())

    with pytest.raises(alloy_nb.APIError, match="67,108,864 bytes"):
        mock_client(handler).list_files()
    assert produced == []


def test_a_streamed_answer_is_cut_at_the_cap() -> None:
    """APIError once 1 MiB has arrived; the rest of a 100 MiB answer is never produced."""
    produced: list[int] = []

    def body() -> Iterator[bytes]:
        for _ in range(100):
            produced.append(1)
            yield b" " * MIB

    c = mock_client(lambda r: httpx.Response(200, content=body()), max_response_bytes=MIB)
    with pytest.raises(alloy_nb.APIError, match="larger than 1,048,576 bytes"):
        c.list_files()
    assert len(produced) <= 2


def test_a_compressed_answer_is_counted_after_decompression() -> None:
    """APIError for 8 KiB of gzip that would inflate to 8 MiB over a 1 MiB cap."""
    bomb = gzip.compress(b" " * (8 * MIB))
    assert len(bomb) < 16 * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb)

    with pytest.raises(alloy_nb.APIError, match="larger than"):
        mock_client(handler, max_response_bytes=MIB).list_files()


# ---------------------------------------------------------------- the key in frames' locals


def failure(call: Callable[[], object]) -> BaseException:
    """The error ``call`` raises (the caller's frame, which knows the key, is not in it)."""
    try:
        call()
    except alloy_nb.AlloyError as e:
        return e
    raise AssertionError("the call did not fail")


def key_free(c: Client) -> bool:
    return SECRET not in repr(c) and SECRET not in repr(vars(c))


def assert_key_hidden(error: BaseException, key: str) -> None:
    text = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert "alloy_nb" in text, "the traceback reaches into alloy_nb's frames"
    assert "= alloy_nb.Client(base_url=" in text, "frames' locals are shown"
    assert key not in text
    assert key not in repr(vars(error))


def test_401_traceback_locals_hold_no_key(sandbox: Sandbox) -> None:
    """AuthenticationError; the key is in no frame's locals."""
    with Client(SECRET, base_url=sandbox.base_url) as c:
        error = failure(c.list_files)
        assert key_free(c)
    assert isinstance(error, alloy_nb.AuthenticationError)
    assert_key_hidden(error, SECRET)


def test_5xx_after_retries_traceback_locals_hold_no_key(sleeps: list[float]) -> None:
    """ServerError after the retries; the key is in no frame's locals."""
    c = mock_client(lambda r: httpx.Response(502, text="bad gateway"), max_retries=2)
    error = failure(c.list_files)
    assert isinstance(error, alloy_nb.ServerError)
    assert_key_hidden(error, SECRET)


def test_connection_refused_traceback_locals_hold_no_key(sleeps: list[float]) -> None:
    """APIConnectionError; the key is in no frame's locals, nor in the causes' frames."""
    with (
        refused_port() as port,
        Client(SECRET, base_url=f"http://127.0.0.1:{port}", max_retries=1) as c,
    ):
        error = failure(c.list_files)
    assert isinstance(error, alloy_nb.APIConnectionError)
    assert isinstance(error.__cause__, httpx.ConnectError), "the cause keeps its type"
    assert_key_hidden(error, SECRET)


def test_timeout_traceback_locals_hold_no_key() -> None:
    """APITimeoutError; the key is in no frame's locals."""
    with (
        RawServer(trickle(b"", JSON_HEAD, every=0.5)) as server,
        Client(SECRET, base_url=server.url, timeout=0.3, max_retries=0) as c,
    ):
        error = failure(c.list_files)
    assert isinstance(error, alloy_nb.APITimeoutError)
    assert_key_hidden(error, SECRET)


def test_failing_upload_traceback_locals_hold_no_key(
    sandbox: Sandbox, alice: Api, tmp_path: Path
) -> None:
    """IntegrityError from a real PUT; the workspace key is in no frame's locals."""
    key = alice.api_key or ""
    path = tmp_path / "x.bin"
    path.write_bytes(b"a" * 10_000)

    def change_bytes(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/upload/request"):
            path.write_bytes(b"b" * 10_000)  # same size, other bytes: storage refuses them

    with httpx.Client(event_hooks={"response": [change_bytes]}) as http:
        c = Client(key, base_url=sandbox.base_url, user_id=alice.user_id, http_client=http)
        error = failure(lambda: c.upload(path, progress=False))
    assert isinstance(error, alloy_nb.IntegrityError)
    assert_key_hidden(error, key)


def test_execute_action_traceback_locals_hold_no_key(sandbox: Sandbox, alice: Api) -> None:
    """NotFoundError from a real execute call; the key is in no frame's locals."""
    key = alice.api_key or ""
    with Client(key, base_url=sandbox.base_url, user_id=alice.user_id) as c:
        error = failure(lambda: c.execute_action("googleDrive", "nothing", credential_id="0" * 24))
    assert isinstance(error, alloy_nb.NotFoundError)
    assert_key_hidden(error, key)
