"""Loopback sockets for the tests' own servers, outside the kernel's ephemeral port range.

Every server a test starts binds here rather than to port 0: the kernel hands port-0 binds
(and every outgoing connection) ports from the ephemeral range, so a probe-then-bind or a
"closed port" taken from there can be grabbed by any connect() in the meantime. Binding a
chosen port is itself the test of freedom, so nothing here probes first.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alloy_nb.sandbox._ports import listen_socket


def listener(backlog: int = 128) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (caller closes it)."""
    sock = listen_socket("127.0.0.1")
    sock.listen(backlog)
    return sock


def free_port() -> int:
    """A port for a child process to bind itself (JupyterLab, Chromium's DevTools): free
    outside the ephemeral range when bound here and released, so only another random
    outside-range bind could take it before the child does."""
    with listen_socket("127.0.0.1") as sock:
        return int(sock.getsockname()[1])


@contextmanager
def refused_port() -> Iterator[int]:
    """A port where connections are refused for as long as the block runs.

    The socket is bound but never listens: the kernel answers RST, and nothing else can take
    the port meanwhile (a port closed after a probe can be reused by anyone).
    """
    with listen_socket("127.0.0.1") as sock:
        yield int(sock.getsockname()[1])


def http_server(
    handler: type[BaseHTTPRequestHandler],
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
) -> ThreadingHTTPServer:
    """A threading HTTP server on a socket from :func:`listener` (not yet serving)."""
    server = server_class(("127.0.0.1", 0), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener(server.request_queue_size)
    server.server_address = server.socket.getsockname()
    server.server_name, server.server_port = "127.0.0.1", int(server.server_address[1])
    return server
