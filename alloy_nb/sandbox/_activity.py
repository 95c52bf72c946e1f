"""When the API was last used (for the idle stop), and ``GET /sandbox/status`` for the CLI.

Wraps the whole ASGI app, so every request counts, including ``/health`` (connect() checks
it just before handing out the URL, so a sandbox never idles out under a fresh connect).
The status route does not count, nor a request with ``X-Sandbox-Probe: 1`` (the status
command's health check): asking whether it is idle must not keep it alive. The status route
demands one of the sandbox's API keys, like every other route that says anything.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATUS_PATH = "/sandbox/status"
PROBE_HEADER = "X-Sandbox-Probe"
_PROBE = PROBE_HEADER.lower().encode()


class Activity:
    """Start time, last request time and requests in flight (a running request is not idle)."""

    def __init__(self) -> None:
        self.started = time.time()
        self._started_mono = time.monotonic()
        self._last = self._started_mono
        self._in_flight = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._last = time.monotonic()

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last = time.monotonic()

    def idle_seconds(self) -> float:
        with self._lock:
            return 0.0 if self._in_flight else time.monotonic() - self._last

    def uptime_seconds(self) -> float:
        return time.monotonic() - self._started_mono


class ActivityMiddleware:
    """Counts every HTTP request as activity and answers :data:`STATUS_PATH`."""

    def __init__(self, app: ASGIApp, activity: Activity, keys: list[str], data_dir: str) -> None:
        self.app = app
        self.activity = activity
        self._keys = [k.encode() for k in keys]
        self._data_dir = data_dir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATUS_PATH:
            await self._status(scope, send)
            return
        if any(name.lower() == _PROBE for name, _ in scope.get("headers", [])):
            await self.app(scope, receive, send)
            return
        self.activity.begin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.end()

    def _authorized(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        # compare_digest against every key, so timing does not tell which one came close
        return bool(given) and sum(secrets.compare_digest(given, k) for k in self._keys) > 0

    async def _status(self, scope: Scope, send: Send) -> None:
        if scope["method"] != "GET":
            status, body = 405, _error("Method Not Allowed", "use GET")
        elif not self._authorized(scope):
            msg = "send one of the sandbox's API keys as Authorization: Bearer KEY"
            status, body = 401, _error("Unauthorized", msg)
        else:
            status, body = (
                200,
                {
                    "pid": os.getpid(),
                    "dataDir": self._data_dir,
                    "startedAt": self.activity.started,
                    "uptimeSeconds": round(self.activity.uptime_seconds(), 3),
                    "idleSeconds": round(self.activity.idle_seconds(), 3),
                },
            )
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _error(error: str, message: str) -> dict[str, Any]:
    return {"error": error, "message": message}
