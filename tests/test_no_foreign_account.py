"""A shell that points ALLOY_* at an account: a test run sends that account nothing.

A recording HTTP server stands in for the account. A pytest run of a notebook (kernel,
``connect()``, uploads, deletes) gets ALLOY_API_KEY / ALLOY_BASE_URL / ALLOY_USER_ID and a
sandbox storage endpoint aimed at it, exactly as an exported shell variable would be; the
session's scrub (tests/guard.py) must leave the recorder without a single request.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .guard import scrub_alloy_environment
from .ports import http_server

ROOT = Path(__file__).resolve().parent.parent


class Recorder(ThreadingHTTPServer):
    requests: list[str]

    @classmethod
    def start(cls) -> Recorder:
        server = http_server(_Handler, cls)
        assert isinstance(server, Recorder)
        server.requests = []
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _record(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        body = b'{"error": "recorder: this account must never be reached by the test suite"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _record

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_scrub_removes_every_alloy_variable_but_the_suites_own() -> None:
    """Client and sandbox settings go; the suite's own report/live/screenshot settings stay."""
    env = {
        "ALLOY_API_KEY": "k",
        "ALLOY_BASE_URL": "u",
        "ALLOY_USER_ID": "i",
        "ALLOY_SANDBOX_S3_ENDPOINT": "e",
        "ALLOY_NB_PROGRESS": "0",
        "ALLOY_ANYTHING": "x",
        "ALLOY_NB_RELIABILITY_REPORT": "r",
        "ALLOY_NB_LIVE": "1",
        "PATH": "/bin",
    }
    removed = scrub_alloy_environment(env)
    assert sorted(removed) == [
        "ALLOY_ANYTHING",
        "ALLOY_API_KEY",
        "ALLOY_BASE_URL",
        "ALLOY_NB_PROGRESS",
        "ALLOY_SANDBOX_S3_ENDPOINT",
        "ALLOY_USER_ID",
    ]
    assert env == {"ALLOY_NB_RELIABILITY_REPORT": "r", "ALLOY_NB_LIVE": "1", "PATH": "/bin"}
    assert not [k for k in os.environ if k in removed], "this session itself is scrubbed"


def test_a_notebook_run_under_pytest_sends_the_shells_account_nothing(
    recorder: Recorder, tmp_path: Path
) -> None:
    """Zero requests reach the account the shell exported, and the notebook still passes."""
    env = {
        **os.environ,
        "ALLOY_API_KEY": "foreign-account-key",
        "ALLOY_BASE_URL": recorder.url,
        "ALLOY_USER_ID": "0123456789abcdef01234567",
        "ALLOY_SANDBOX_S3_ENDPOINT": recorder.url,
    }
    pytest_args = ["-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "inner")]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "notebooks/01_quickstart.ipynb", *pytest_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert recorder.requests == [], "requests reached the shell's account"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
