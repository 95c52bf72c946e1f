"""HTTP/1.1 for the sandbox: uvicorn's h11 protocol, bounded against slow and idle clients.

uvicorn closes idle keep-alive connections, but a connection that sends half a request
head and then nothing is kept forever; enough of them exhaust the file-descriptor limit
and every legitimate call fails. Here:

* a request head must be complete within ``head_timeout`` of the connection opening (or
  of its first byte after a keep-alive pause), else 408 and the connection is closed;
* at most ``max_connections`` connections are open (kept well under the process's
  file-descriptor limit, which storage clients and databases share). A new connection
  over the cap closes the oldest one still waiting for a request head; if every one is
  busy with a request, the newcomer gets 503 with ``Retry-After``.

Slow request bodies are bounded by :class:`~._guards.RequestGuard` (``body_timeout``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from http import HTTPStatus

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: File descriptors kept free for storage connections, databases and the host process.
FD_RESERVE = 256


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one client can hold on the sandbox's API port."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive: int = 30
    max_connections: int = 1000


def connection_cap(limits: HttpLimits) -> int:
    """``max_connections``, lowered to fit the process's file-descriptor limit."""
    try:
        import resource  # POSIX only
    except ImportError:  # pragma: no cover - Windows has no such per-process limit
        return limits.max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return max(16, min(limits.max_connections, soft - FD_RESERVE))


def _refuse(transport: asyncio.BaseTransport, status: int, message: str) -> None:
    """Write a complete JSON error response outside h11's bookkeeping, then close."""
    body = json.dumps({"error": HTTPStatus(status).phrase, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    if status == 503:
        head += "retry-after: 1\r\n"
    if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
        transport.write(head.encode() + b"\r\n" + body)
    transport.close()


def bounded_protocol(limits: HttpLimits) -> type[H11Protocol]:
    """An h11 protocol class enforcing ``limits`` (one class per server: it carries them)."""
    cap = connection_cap(limits)

    class BoundedH11Protocol(H11Protocol):
        _born = 0.0
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._born = time.monotonic()
            super().connection_made(transport)
            open_now = sum(not c.transport.is_closing() for c in self.connections)
            if open_now > cap and not self._evict_one():
                _refuse(transport, 503, "too many open connections to the sandbox; retry")
                return
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.is_closing():
                self._cancel_head_timer()
            elif self.conn.their_state is not h11.IDLE:
                self._cancel_head_timer()  # the head is complete: the app bounds the body
            elif self._head_timer is None and self.timeout_keep_alive_task is None:
                self._arm_head_timer()  # first bytes of a request after a keep-alive pause

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _waiting_for_head(self) -> bool:
            return self.conn.their_state is h11.IDLE and (
                self.cycle is None or self.cycle.response_complete
            )

        def _evict_one(self) -> bool:
            idle = [
                c
                for c in self.connections
                if c is not self
                and isinstance(c, BoundedH11Protocol)
                and c._waiting_for_head()
                and not c.transport.is_closing()
            ]
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._born)
            oldest._cancel_head_timer()
            oldest.transport.close()
            return True

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_timer = self.loop.call_later(limits.head_timeout, self._head_too_slow)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self._waiting_for_head() and not self.transport.is_closing():
                _refuse(
                    self.transport,
                    408,
                    f"request head not received within {limits.head_timeout:g} s",
                )

    return BoundedH11Protocol
