"""What the fault proxy (:mod:`tests.faultproxy`) does with a request: a :class:`Fault` each,
and the answers it makes up itself."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """What the proxy does with one HTTP request.

    * ``pass``: forward it and relay the answer.
    * ``reset``: forward the head and ``after`` bytes of the body, then RST both sides.
    * ``stall``: read everything, never answer (the client's timeout must fire).
    * ``status``: answer it itself with ``status`` (and ``headers``), never forwarding it.
    * ``truncate``: answer it itself with a Content-Length larger than the body it sends.
    * ``unframed``: answer it itself with 200, no Content-Length, half a JSON body, close
      (legal HTTP/1.1: the client cannot tell the body was cut).
    * ``cut_reply``: forward it (the server does the work), relay half of the answer, close.
    """

    kind: str
    after: int = 0
    status: int = 503
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


PASS = Fault("pass")
STALL = Fault("stall")
TRUNCATE = Fault("truncate")
UNFRAMED = Fault("unframed")
CUT_REPLY = Fault("cut_reply")


def reset_after(n: int) -> Fault:
    return Fault("reset", after=n)


def status(code: int, *headers: tuple[str, str], xml: bool = False) -> Fault:
    if xml:  # what S3 says
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>"
        )
        headers = (*headers, ("Content-Type", "application/xml"))
    else:  # what the API says
        body = json.dumps({"error": f"HTTP {code}", "message": "injected by the proxy"}).encode()
        headers = (*headers, ("Content-Type", "application/json"))
    return Fault("status", status=code, headers=headers, body=body)


@dataclass
class Seen:
    """One request as the proxy saw it."""

    method: str
    path: str
    fault: str
    body_forwarded: int = 0


_REASONS = {200: "OK", 429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}


def canned(fault: Fault) -> bytes:
    """The bytes the proxy answers with itself for a ``status``, ``truncate`` or ``unframed``."""
    if fault.kind in ("truncate", "unframed"):
        length = b"Content-Length: 1000\r\n" if fault.kind == "truncate" else b""
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + length
            + b'Connection: close\r\n\r\n{"presignedUrl": {"presi'
        )
    lines = [f"HTTP/1.1 {fault.status} {_REASONS.get(fault.status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in fault.headers]
    lines += [f"Content-Length: {len(fault.body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + fault.body
