"""An overall deadline per call, also inside a single read.

httpx's timeouts bound each read, so a server that sends a byte every two seconds can hold a
call for hours. Here a :class:`Deadline` is made per call and made current for the thread
while the call runs; the network backend of the ``httpx.Client`` that alloy_nb makes caps
every connect, read and write at the time the deadline has left, and fails at once when it
has passed. With an ``httpx.Client`` passed in, the deadline is checked between reads only.

A request body is not timed by the deadline: sending a large file on a slow link is bounded
by the write timeout of each chunk instead, and the answer after its last byte gets the
whole deadline again (bytes still queued in buffers reach the server in that time).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Generator, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

SOCKET_OPTION = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

__all__ = ["Deadline", "deadline_transport"]

log = logging.getLogger("alloy_nb")

_current: ContextVar[Deadline | None] = ContextVar("alloy_nb_deadline", default=None)


class Deadline:
    """A moment one call must finish by (``seconds=None``: never)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = math.inf if seconds is None else time.monotonic() + seconds
        self._paused = False

    def remaining(self) -> float:
        """Seconds left (infinite while a body is being sent, or without a deadline)."""
        return math.inf if self._paused else self._end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """Make this the deadline the network backend enforces on this thread."""
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    def sending(self, chunks: Iterable[bytes]) -> Generator[bytes, None, None]:
        """Yield a request body's chunks with the clock stopped; it starts again, in full,
        after the last one (bytes still queued in buffers reach the server meanwhile)."""
        self._paused = True
        try:
            yield from chunks
        finally:
            self._paused = False
            if self.seconds is not None:
                self._end = time.monotonic() + self.seconds

    def cap(self, timeout: float | None) -> float | None:
        """``timeout`` shortened to what is left; ``None`` (no limit) becomes what is left."""
        left = self.remaining()
        if math.isinf(left):
            return timeout
        return max(0.0, left if timeout is None else min(timeout, left))

    def timeouts(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """A client's timeouts with connect, read and pool capped (writes keep theirs)."""
        return httpx.Timeout(
            connect=self.cap(timeout.connect),
            read=self.cap(timeout.read),
            write=timeout.write,
            pool=self.cap(timeout.pool),
        )


def _cap(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    deadline = _current.get()
    if deadline is None:
        return timeout
    if deadline.expired():
        raise error("the call's deadline has passed")
    return deadline.cap(timeout)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """An ``HTTPTransport`` whose reads, writes and connects honour the current deadline.

    httpx has no public way to pass a network backend, so it is set on the transport's
    connection pool; if that pool is not where it is expected (another httpx), a warning
    is logged and the deadline is checked between reads only.
    """
    transport = httpx.HTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
    else:
        log.warning("this httpx keeps its network backend elsewhere: deadlines hold between reads")
    return transport
