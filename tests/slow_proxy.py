"""A loopback HTTP proxy in front of the sandbox API that holds file listings back, so a
real-browser test can watch a panel while it waits (tests/test_file_browser_e2e.py)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from .ports import http_server


class SlowProxy:
    """A loopback HTTP proxy in front of the sandbox API that holds file listings for
    ``delay`` seconds (at most 10), so a test can watch the panel while it waits.

    It adds no credentials: the caller's Authorization header is what the sandbox checks.
    """

    def __init__(self, target: str, delay: float) -> None:
        self.target, self.delay = target.rstrip("/"), min(delay, 10.0)
        self.http = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if self.command == "GET" and self.path.startswith("/connectors/files/list"):
                    time.sleep(proxy.delay)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                skip = {"host", "connection", "content-length", "accept-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                r = proxy.http.request(
                    self.command, proxy.target + self.path, headers=headers, content=body
                )
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in {
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    }:
                        self.send_header(k, v)
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_DELETE = do_PUT = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http_server(Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(15)
        self.http.close()
