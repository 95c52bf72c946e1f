"""Headless Chromium driven over the DevTools protocol directly, for measuring the panels.

Playwright turns on DevTools network instrumentation for every page, so every websocket
frame the page sends is also copied, base64-encoded, to the driver: that doubled the
browser's CPU per relayed byte and would measure the harness, not the panel. Here nothing
is instrumented unless a test asks for it (:meth:`Chromium.record_network`).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-sync", "--disable-background-networking", "--disable-component-update",
    "--remote-debugging-port=0", "--window-size=1200,1000",
]  # fmt: skip


class CDPError(RuntimeError):
    pass


@dataclass
class Network:
    """What the page sent while recording: PUT URLs and websocket payload bytes."""

    puts: list[str] = field(default_factory=list)
    ws_bytes: int = 0


class Chromium:
    """One headless Chromium with one page; stop it with :meth:`close`."""

    def __init__(self) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="alloy-test-chromium-"))
        self.proc = subprocess.Popen(
            [CHROMIUM, *ARGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._id = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        try:
            port_file, deadline = self._profile / "DevToolsActivePort", time.monotonic() + 30
            while not port_file.exists() or len(port_file.read_text().split()) < 2:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise CDPError("chromium did not start")
                time.sleep(0.05)
            port, path = port_file.read_text().split()[:2]
            self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=300)
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
        except BaseException:
            self.close()
            raise

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if getattr(self, "_session", None):
            message["sessionId"] = self._session
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
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise CDPError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, predicate: str, timeout: float = 120, every: float = 0.05) -> None:
        """Poll a JavaScript expression until it is truthy."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!({predicate})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {predicate}")
            time.sleep(every)

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
            if params["request"]["method"] == "PUT":
                seen.puts.append(params["request"]["url"])

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
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self._profile, ignore_errors=True)
