"""Storage as a browser meets it when its CORS rules are missing: a loopback proxy in front
of the real S3 endpoint that refuses every preflight and drops every ``Access-Control-*``
header, passing everything else (signed requests included: Host is kept) through untouched.

``mode="errors"`` instead passes preflights and success answers untouched and drops the
``Access-Control-*`` headers of error answers only (storage that leaves CORS off its 4xx
answers, so a page sees status 0 for them); ``mode="pass"`` changes nothing. :meth:`hold`
stops the next PUT whose path contains a name until the test releases it (to let its URL
expire, or to change the file first).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from .ports import listener

REFUSED = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass
class Seen:
    method: str
    path: str
    origin: str | None


@dataclass
class Hold:
    """A PUT held at the proxy: ``arrived`` is set (and ``path`` known) when it comes."""

    name: str
    path: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


@dataclass
class CorsRefusingProxy:
    target_host: str
    target_port: int
    mode: str = "refuse"  # "refuse" | "errors" | "pass"
    seen: list[Seen] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CorsRefusingProxy:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            server = loop.run_until_complete(
                asyncio.start_server(self._serve, sock=listener(), limit=1 << 20)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="cors-refusing-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def hold(self, name: str) -> Hold:
        """Hold the next PUT whose path contains ``name`` until ``Hold.released`` is set."""
        held = Hold(name)
        self.holds.append(held)
        return held

    def stop(self) -> None:
        for held in self.holds:
            held.released.set()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request per connection (the upstream leg is sent ``Connection: close``)."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        lookup = {k.strip().lower(): v.strip() for k, v in headers}
        self.seen.append(Seen(method, path, lookup.get("origin")))
        held = next((h for h in self.holds if method == "PUT" and h.name in path), None)
        if held is not None:  # the browser waits for the answer meanwhile
            self.holds.remove(held)
            held.path = path
            held.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, held.released.wait, 60)
        if method == "OPTIONS" and self.mode == "refuse":
            writer.write(REFUSED)
            await writer.drain()
            writer.close()
            return
        kept = [f"{k}:{v}" for k, v in headers if k.strip().lower() != "connection"]
        upstream = "\r\n".join([lines[0], *kept, "Connection: close", "", ""])
        up_reader, up_writer = await asyncio.open_connection(
            self.target_host, self.target_port, limit=1 << 20
        )
        up_writer.write(upstream.encode("latin-1"))
        length = int(lookup.get("content-length", "0"))
        try:
            await asyncio.gather(
                self._pipe_body(reader, up_writer, length),
                self._answer(up_reader, writer, self.mode),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            up_writer.close()
            writer.close()

    @staticmethod
    async def _pipe_body(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remaining: int
    ) -> None:
        while remaining > 0:
            data = await reader.read(min(remaining, 1 << 20))
            if not data:
                return
            remaining -= len(data)
            writer.write(data)
            await writer.drain()

    @staticmethod
    async def _answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        strip = mode == "refuse" or (mode == "errors" and status >= 400)
        kept = [
            line for line in lines if not (strip and line.lower().startswith("access-control-"))
        ]
        writer.write("\r\n".join(kept).encode("latin-1"))
        while data := await reader.read(1 << 20):
            writer.write(data)
            await writer.drain()
        await writer.drain()
