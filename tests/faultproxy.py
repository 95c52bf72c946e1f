"""A fault-injecting HTTP/1.1 proxy on loopback, for the fault tests (tests/test_faults_*.py).

Put between the client and the API, or between the client and storage, it answers each request
as planned (:class:`Fault`): forwarded, reset mid-body, stalled, refused with a status, or with
its reply cut. It depends on nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .faultplan import PASS, Fault, Seen, canned
from .ports import listener


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
        self._listener = listener()
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
                conn.sendall(canned(fault))
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
