"""A sandbox behind a delay proxy, in processes of their own, for bench_latency.py.

    python benchmarks/_delay_rig.py serve --data-dir DIR --public-s3 URL

:class:`Rig` starts two children: this module's ``serve`` (weed mini and the sandbox API,
whose presigned URLs name the proxy, so the Host header they sign is the one the client
sends) and ``_delay_proxy.py`` in front of both the API and storage. Neither runs in the
benchmark's process, so its process CPU time is the client's alone. Both children exit on
stdin EOF (the benchmark ended or died), SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

from alloy_nb.sandbox._ports import listen_socket

HERE = Path(__file__).resolve().parent


def _serve(data_dir: Path, public_s3: str) -> None:
    """The sandbox (API + its own weed mini, presigning for ``public_s3``) until stdin
    closes; then ``data_dir`` is removed. Storage the sandbox started itself, as for users
    of ``connect()``: the index is trusted between checks (sole writer)."""
    import alloy_nb.sandbox
    from alloy_nb.sandbox._settings import load_settings

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the benchmark closed it, or died
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    settings = load_settings(data_dir=data_dir / "api", s3_public_endpoint=public_s3)
    try:
        with alloy_nb.sandbox.start(settings=settings) as sb:
            print(f"ready {sb.base_url} {sb.storage.endpoint_url} {sb.user_id}", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # also when the benchmark was killed


class _Lines:
    """A child's stdout, line by line, with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._q.put(line)
        self._q.put("")

    def next(self, timeout: float) -> str:
        try:
            line = self._q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no answer in {timeout:.0f} s") from None
        if not line:
            raise RuntimeError("the child process exited")
        return line.strip()


class Rig:
    """The sandbox (API + weed) and the delay proxy in front of both, with ``root`` as their
    directory (the server process removes it when it exits); stop() ends them all."""

    def __init__(self, *, delay_ms: float, setup_rtts: int = 1) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="alloy-bench-latency-"))
        self.api_key = "bench_" + secrets.token_urlsafe(18)
        self._procs: list[subprocess.Popen[str]] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
        env["ALLOY_SANDBOX_API_KEYS"] = self.api_key
        # Outside the ephemeral range, as the sandbox's own API port (listen_socket).
        listeners = [listen_socket("127.0.0.1") for _ in range(2)]
        try:
            for s in listeners:
                s.listen(512)
            api_port, s3_port = (s.getsockname()[1] for s in listeners)
            public_s3 = f"http://127.0.0.1:{s3_port}"
            server = self._spawn(
                env, __file__, "serve", "--data-dir", str(self.root), "--public-s3", public_s3
            )
            _, api, s3, self.user_id = _Lines(server.stdout).next(120).split()  # type: ignore[arg-type]
            self.base_url = f"http://127.0.0.1:{api_port}"
            self.ports = {"api": api_port, "s3": s3_port}
            targets = (api.split("//")[1], s3.split("//")[1])
            routes = [f"{s.fileno()}={t}" for s, t in zip(listeners, targets, strict=True)]
            delays = ["--delay-ms", str(delay_ms), "--setup-rtts", str(setup_rtts)]
            route_args = [a for r in routes for a in ("--route", r)]
            fds = tuple(s.fileno() for s in listeners)
            proxy = self._spawn(env, str(HERE / "_delay_proxy.py"), *delays, *route_args, fds=fds)
            self._proxy, self._proxy_out = proxy, _Lines(proxy.stdout)  # type: ignore[arg-type]
            assert self._proxy_out.next(30) == "ready"
        except BaseException:
            self.stop()
            raise
        finally:
            for s in listeners:
                s.close()
        self._upstream = {"api": api.rsplit(":", 1)[1], "s3": s3.rsplit(":", 1)[1]}

    def _spawn(
        self, env: dict[str, str], *args: str, fds: tuple[int, ...] = ()
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            pass_fds=fds,
        )
        self._procs.append(proc)
        return proc

    def _ask(self, line: str) -> str:
        assert self._proxy.stdin is not None
        self._proxy.stdin.write(line + "\n")
        self._proxy.stdin.flush()
        return self._proxy_out.next(10)

    def set_delay(self, ms: float) -> None:
        """One-way delay for chunks read from now on."""
        assert self._ask(f"delay {ms}") == "ok"

    def connections(self) -> dict[str, int]:
        """Connections the proxy accepted so far, by ``api`` and ``s3``."""
        got = dict(w.split("=") for w in self._ask("stats").split()[1:])
        return {name: int(got.get(port, 0)) for name, port in self._upstream.items()}

    def stop(self) -> None:
        """Close the children's stdin (they stop cleanly), then wait; kill what lingers."""
        for proc in reversed(self._procs):
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
        for proc in reversed(self._procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["serve"])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--public-s3", required=True)
    args = ap.parse_args()
    _serve(args.data_dir, args.public_s3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
