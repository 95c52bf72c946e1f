"""Loopback ports for ``weed mini``, chosen where the kernel never hands out ports itself.

An outgoing connection takes its local port from the ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``). A port probed free inside that range can be
taken by any connect() before weed binds it, so every port, and its gRPC twin at
``port + 10000``, is chosen outside the range.
"""

from __future__ import annotations

import logging
import secrets
import socket
from pathlib import Path

log = logging.getLogger("alloy_nb.sandbox.weed")

GRPC_OFFSET = 10000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default; also covers the BSD/macOS range (49152-65535) from below.
_DEFAULT_RANGE = (32768, 65535)
# Below this sit the well-known and registered ports many local services default to
# (weed's own 8333, 8888, 9333 among them).
_LOWEST = 10000


class PortsUnavailable(RuntimeError):
    """No set of free loopback ports could be found."""


def ephemeral_range(path: Path = _RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range, inclusive."""
    try:
        lo, hi = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_RANGE
    return (lo, hi) if 0 < lo <= hi <= 65535 else _DEFAULT_RANGE


def candidate_ports(ephemeral: tuple[int, int]) -> list[int]:
    """Ports p where neither p nor p + 10000 is ephemeral, and p + 10000 < 65536."""
    lo, hi = ephemeral

    def outside(p: int) -> bool:
        return not lo <= p <= hi

    ports = range(1024, 65536 - GRPC_OFFSET)
    found = [p for p in ports if outside(p) and outside(p + GRPC_OFFSET)]
    preferred = [p for p in found if p >= _LOWEST]
    return preferred if len(preferred) >= 1000 else found


def port_free(port: int) -> bool:
    """Whether weed could listen here. weed (Go, SO_REUSEADDR) checks both 127.0.0.1 and
    every interface, so a port in TIME_WAIT counts as free and one with a listener on any
    address does not."""
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
            except OSError:
                return False
    return True


def pair_free(port: int) -> bool:
    return port_free(port) and port_free(port + GRPC_OFFSET)


def free_port_pairs(count: int, ephemeral: tuple[int, int] | None = None) -> list[int]:
    """``count`` distinct ports p, outside the ephemeral range with their p + 10000 twins,
    where both p and p + 10000 are free on 127.0.0.1."""
    pool = candidate_ports(ephemeral or ephemeral_range())
    if not pool:
        # Everything is ephemeral: nothing is safe from a racing connect(); the caller's
        # retry on a failed bind is all that is left.
        log.warning("the whole port range is ephemeral; weed's ports may be taken at start")
        pool = list(range(_LOWEST, 65536 - GRPC_OFFSET))
    chosen: list[int] = []
    for _ in range(10_000):
        p = pool[secrets.randbelow(len(pool))]
        taken = {c + d for c in chosen for d in (-GRPC_OFFSET, 0, GRPC_OFFSET)}
        if p in taken or p + GRPC_OFFSET in taken:
            continue
        if pair_free(p):
            chosen.append(p)
            if len(chosen) == count:
                return chosen
    raise PortsUnavailable("could not find free loopback ports for weed mini")


def listen_socket(host: str, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host``; ``port=0`` picks one outside the ephemeral range.

    Binding the chosen port is the test of freedom (no probe-then-bind window). Outside the
    ephemeral range because the kernel hands ephemeral ports to outgoing connections, which
    clients and tools on this machine then find "in use" by a listener they never asked for.

    >>> s = listen_socket("127.0.0.1")
    >>> lo, hi = ephemeral_range()
    >>> not lo <= s.getsockname()[1] <= hi
    True
    >>> s.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    lo, hi = ephemeral_range()
    pool = [p for p in range(_LOWEST, 65536) if not lo <= p <= hi]
    tries = [port] if port or not pool else [pool[secrets.randbelow(len(pool))] for _ in range(200)]
    for n, chosen in enumerate(tries, start=1):
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when
        # the proto says TCP; without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, chosen))
        except OSError:
            sock.close()
            if n == len(tries):
                raise
            continue
        return sock
    raise PortsUnavailable(f"no free port on {host}")
