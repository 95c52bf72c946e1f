"""Headless Chromium: the one browser launcher of the real-browser tests, and a page driven
over the DevTools protocol directly.

Playwright tests attach to the same browser (``connect_over_cdp(chrome.endpoint)``, see
tests/playwright_lab.py). Tests that measure the panels drive the page here instead:
Playwright turns on DevTools network instrumentation for every page, so every websocket frame
the page sends is also copied, base64-encoded, to the driver; that doubled the browser's CPU
per relayed byte and would measure the harness, not the panel. Here nothing is instrumented
unless a test asks for it (:meth:`Chromium.record_network`).

DevTools listens on 127.0.0.1, on a free port outside the ephemeral range; it refuses
websocket connections from web pages (no ``--remote-allow-origins``), and the browser-wide
endpoint path is a random id. The profile is a private temp directory removed at
:meth:`Chromium.close`.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import websocket

from .ports import free_port
from .procs import spawn, stop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-breakpad",  # no crash handler process, nothing written to ~/.config
    "--disable-crash-reporter",
    "--window-size=1200,1000",
]
START_SECONDS = 30


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class CDPError(RuntimeError):
    pass


@dataclass
class Network:
    """What the page sent while recording: PUTs to other origins, websocket payload bytes.

    Only cross-origin PUTs count: those are the page's uploads to storage. JupyterLab PUTs to
    its own server on its own schedule (the workspace autosave, notebook saves), and one of
    those landing in a recording window made a dedup test fail in CI.
    """

    puts: list[str] = field(default_factory=list)
    ws_bytes: int = 0


class Chromium:
    """One headless Chromium; with ``page`` (the default) one page driven over CDP.

    Stop it with :meth:`close` (also a context manager). ``endpoint`` is the browser's
    DevTools websocket URL, for Playwright's ``connect_over_cdp``.
    """

    def __init__(self, *, page: bool = True) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="alloy-test-chromium-"))
        port = free_port()  # Chromium binds it (port 0 could land in the ephemeral range)
        self.proc = spawn(
            [
                CHROMIUM,
                *ARGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            on_owner_death=signal.SIGKILL,
        )
        self._id = 0
        self._session = ""
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._ws: websocket.WebSocket | None = None
        try:
            self.endpoint = self._wait_for_devtools(port)
            self._ws = websocket.create_connection(self.endpoint, timeout=300)
            if page:
                target = self.call("Target.createTarget", url="about:blank")["targetId"]
                attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
                self._session = attached["sessionId"]
        except BaseException:
            self.close()
            raise

    def _wait_for_devtools(self, port: int) -> str:
        """The browser's DevTools websocket URL, once it answers on ``port``.

        Chromium writes DevToolsActivePort only for ``--remote-debugging-port=0``; with a
        chosen port its /json/version endpoint is the one place to learn the URL.
        """
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise CDPError(f"chromium exited with {self.proc.returncode} at start")
            try:
                version = httpx.get(f"http://127.0.0.1:{port}/json/version", timeout=2)
                return str(version.json()["webSocketDebuggerUrl"])
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise CDPError(
                    f"chromium did not open DevTools on port {port} in {START_SECONDS} s"
                )
            time.sleep(0.05)  # poll interval while Chromium starts

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        if self._ws is None:
            raise CDPError(f"{method}: the browser is closed")
        self._ws.send(json.dumps(message))
        while True:
            reply = json.loads(self._ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            handler = self._handlers.get(reply.get("method", ""))
            if handler is not None:
                handler(reply["params"])

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, predicate: str, timeout: float = 120, every: float = 0.05) -> None:
        """Poll a JavaScript expression until it is truthy."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!({predicate})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {predicate}")
            time.sleep(every)  # the poll interval

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def set_files(self, selector: str, paths: list[Path], nth: int = 0) -> None:
        """Choose files in the ``nth`` ``<input type=file>`` matching ``selector``."""
        root = self.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        nodes = self.call("DOM.querySelectorAll", nodeId=root, selector=selector)["nodeIds"]
        self.call("DOM.setFileInputFiles", nodeId=nodes[nth], files=[str(p) for p in paths])

    def screenshot(self, selector: str, path: Path, nth: int = 0) -> None:
        box = self.evaluate(
            f"(() => {{ const e = document.querySelectorAll({json.dumps(selector)})[{nth}];"
            " e.scrollIntoView(); const r = e.getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()"
        )
        shot = self.call("Page.captureScreenshot", format="png", clip={**box, "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def js_heap_used(self) -> float:
        metrics = self.call("Performance.getMetrics")["metrics"]
        return float(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize"))

    def record_network(self) -> Network:
        """Start counting what the page sends (instrumentation on from here)."""
        seen = Network()

        def request(params: dict[str, Any]) -> None:
            url = params["request"]["url"]
            page = params.get("documentURL", "")
            if params["request"]["method"] == "PUT" and origin(url) != origin(page):
                seen.puts.append(url)

        def frame(params: dict[str, Any]) -> None:
            payload = params["response"]["payloadData"]
            binary = params["response"]["opcode"] == 2
            seen.ws_bytes += len(base64.b64decode(payload)) if binary else len(payload)

        self._handlers["Network.requestWillBeSent"] = request
        self._handlers["Network.webSocketFrameSent"] = frame
        self.call("Network.enable")
        return seen

    def stop_recording(self) -> None:
        self.call("Network.disable")
        self.evaluate("0")  # drain events that were already on their way
        self._handlers.clear()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        stop(self.proc, grace=10)
        shutil.rmtree(self._profile, ignore_errors=True)
