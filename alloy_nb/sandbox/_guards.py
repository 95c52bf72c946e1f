"""What every request passes before any handler sees it (an ASGI middleware).

* Both ``Content-Length`` and ``Transfer-Encoding``: 400 and the connection is closed
  (RFC 9112 §6.3: the framing is ambiguous, the classic request-smuggling shape).
* A body over the limit, declared or streamed: 413.
* A body that does not arrive within ``body_timeout``: 408 and the connection is closed.
* A JSON body nested deeper than :data:`MAX_JSON_DEPTH`: 400, before anything parses it
  (deep nesting exhausts the parser's and the validators' recursion).
"""

from __future__ import annotations

import re

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alloy_nb.sandbox._errors import error_response, is_json

MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_SECONDS = 30.0
MAX_JSON_DEPTH = 64

_CLOSE = {"Connection": "close"}
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes, stop_at: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``raw`` nests arrays and objects (counting stops past ``stop_at``)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_at:
                    break
        else:
            depth -= 1
    return deepest


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.limit = limit
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # names arrive lower-cased
        if b"transfer-encoding" in headers and b"content-length" in headers:
            refuse = error_response(
                400,
                "request has both Content-Length and Transfer-Encoding: send only one "
                "(the connection is closed)",
                _CLOSE,
            )
            await refuse(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await error_response(413, f"request body is larger than {self.limit} bytes")(
                scope, receive, send
            )
            return
        # Bodies are small (JSON): buffer them, so a body that grows past the limit, stalls
        # or nests too deeply is refused before any handler sees it.
        buffered: list[Message] = []
        problem = None
        with anyio.move_on_after(self.body_timeout) as deadline:
            problem = await self._read(receive, buffered)
        if deadline.cancelled_caught:
            problem = error_response(
                408, f"request body not received within {self.body_timeout:g} s", _CLOSE
            )
        elif problem is None and is_json(headers.get(b"content-type", b"").decode("latin-1")):
            body = b"".join(m.get("body", b"") for m in buffered if m["type"] == "http.request")
            if json_depth(body) > MAX_JSON_DEPTH:
                problem = error_response(
                    400,
                    f"request body nests JSON objects or arrays deeper than {MAX_JSON_DEPTH} "
                    "levels: send a flatter body",
                )
        if problem is not None:
            await problem(scope, receive, send)
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, buffered: list[Message]) -> ASGIApp | None:
        seen = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                return None
            seen += len(message.get("body", b""))
            if seen > self.limit:
                return error_response(413, f"request body is larger than {self.limit} bytes")
            if not message.get("more_body", False):
                return None
