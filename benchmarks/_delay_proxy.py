"""A TCP relay that holds every chunk ``delay`` in each direction (for bench_latency.py).

    python benchmarks/_delay_proxy.py --route FD=HOST:PORT ... --delay-ms 20 --setup-rtts 1

It serves listening sockets it inherits (``FD``, so their ports are known before the sandbox
starts and can go into presigned URLs). Chunks are delayed without serialising connections
or chunks: 20 ms each way is a 40 ms round trip. A new connection also waits ``setup_rtts``
round trips before its first byte goes upstream, as a TCP handshake would. Stdin commands:
``delay MS`` (for chunks read from then on) and ``stats`` (connections accepted per
upstream port). Exits on stdin EOF (the benchmark ended or died), SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

CHUNK = 64 * 1024
QUEUED_CHUNKS = 64  # per direction: a slow reader pushes back instead of growing memory


class Proxy:
    def __init__(self, delay: float, setup_rtts: int) -> None:
        self.delay = delay
        self.setup_rtts = setup_rtts
        self.accepted: dict[str, int] = {}
        self.open: set[asyncio.Task[Any]] = set()  # held here, not only by their transports

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, not_before: float
    ) -> None:
        """Copy until EOF, each chunk held ``delay``; a dead writer drops the rest, so the
        reading side is never blocked forever on a full queue."""
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUED_CHUNKS)

        async def deliver() -> None:
            broken = False
            while True:
                due, data = await held.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if broken:
                    if not data:
                        return
                    continue
                try:
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
                except (ConnectionError, RuntimeError):
                    broken = True

        sender = asyncio.create_task(deliver())
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except ConnectionError:
                    data = b""
                await held.put((max(loop.time(), not_before) + self.delay, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def handler(
        self, name: str, host: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
            self.accepted[name] = self.accepted.get(name, 0) + 1
            me = asyncio.current_task()
            assert me is not None
            self.open.add(me)
            handshake_done = asyncio.get_running_loop().time() + self.setup_rtts * 2 * self.delay
            try:
                u_reader, u_writer = await asyncio.open_connection(host, port)
            except OSError:
                c_writer.close()
                self.open.discard(me)
                return
            for w in (c_writer, u_writer):
                sock = w.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                await asyncio.gather(
                    self._relay(c_reader, u_writer, handshake_done),
                    self._relay(u_reader, c_writer, 0.0),
                )
            except asyncio.CancelledError:
                pass  # only at shutdown; re-raised, 3.11's stream callback would log it
            finally:
                for w in (c_writer, u_writer):
                    w.close()
                self.open.discard(me)

        return handle


async def _proxy_main(routes: list[tuple[int, str, int]], proxy: Proxy) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def command(line: str) -> None:
        words = line.split()
        if words[:1] == ["delay"]:
            proxy.delay = float(words[1]) / 1000
            print("ok", flush=True)
        elif words[:1] == ["stats"]:
            print("stats", *(f"{k}={v}" for k, v in sorted(proxy.accepted.items())), flush=True)

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(command, line)
        loop.call_soon_threadsafe(stop.set)

    servers = []
    for fd, host, port in routes:
        sock = socket.socket(fileno=fd)
        servers.append(await asyncio.start_server(proxy.handler(f"{port}", host, port), sock=sock))
    threading.Thread(target=read_stdin, daemon=True).start()
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    for task in proxy.open:
        task.cancel()
    await asyncio.gather(*proxy.open, return_exceptions=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--route", action="append", required=True, help="FD=HOST:PORT")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--setup-rtts", type=int, default=1)
    args = ap.parse_args()
    routes = []
    for r in args.route:
        fd, _, target = r.partition("=")
        host, _, port = target.rpartition(":")
        routes.append((int(fd), host, int(port)))
    asyncio.run(_proxy_main(routes, Proxy(args.delay_ms / 1000, args.setup_rtts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
