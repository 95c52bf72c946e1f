"""``python -m alloy_nb.sandbox serve|status|stop``: the OS user's shared sandbox.

``serve`` is what ``connect()`` launches (detached, output to ``<home>/sandbox.log``): a
sandbox on the home's persistent data that records itself in the state file and stops
after an idle period. ``status`` shows it, ``stop`` ends it and waits until it is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from alloy_nb._constants import ENV_SANDBOX_HOME
from alloy_nb.sandbox._activity import STATUS_PATH
from alloy_nb.sandbox._datadir_lock import is_owned, read_owner
from alloy_nb.sandbox._home import (
    LAST_PORT_FILE,
    LOG_FILE,
    SharedSandboxError,
    SharedState,
    connect_lock,
    ensure_home,
    get_json,
    health,
    is_sandbox_process,
    read_state,
    remove_state,
    sandbox_home,
    terminate,
    write_state,
)
from alloy_nb.sandbox._settings import ENV_IDLE_TIMEOUT, SettingsError, idle_timeout, load_settings
from alloy_nb.sandbox._shared import STOP_GRACE, stop_shared_sandbox

NOT_RUNNING = 3  # like `systemctl status`


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m alloy_nb.sandbox",
        description="The shared local sandbox that alloy_nb.connect() uses.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    home_help = f"the shared sandbox's home and data directory (default ${ENV_SANDBOX_HOME}, "
    home_help += "else $XDG_DATA_HOME/alloy_nb/sandbox)"
    serve = sub.add_parser("serve", help="run the shared sandbox (what connect() starts)")
    serve.add_argument("--home", help=home_help)
    serve.add_argument("--port", type=int, help="default: the last one, if free, else any")
    serve.add_argument(
        "--idle-timeout",
        type=float,
        help=f"stop after this many seconds without an API request; 0 never "
        f"(default ${ENV_IDLE_TIMEOUT}, else 1800)",
    )
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])
    for name, text in (("status", "show the running sandbox"), ("stop", "stop it and wait")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--home", help=home_help)
        cmd.add_argument("--data-dir", help="a sandbox started with --data-dir, not the shared one")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "status":
            return status(args)
        return stop(args)
    except (SharedSandboxError, SettingsError) as e:
        print(f"alloy sandbox: {e}", file=sys.stderr)
        return 1


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home).expanduser().absolute() if args.home else sandbox_home()


def serve(args: argparse.Namespace) -> int:
    from alloy_nb.sandbox._datadir_lock import DataDirInUse
    from alloy_nb.sandbox._server import start

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    home = ensure_home(_home(args))
    idle = idle_timeout(args.idle_timeout)
    stop_requested = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_requested.set())
    port = args.port if args.port is not None else _last_port(home)
    settings = load_settings(port=port, data_dir=home, log_level=args.log_level)
    try:
        try:
            sandbox = start(settings=settings)
        except OSError as e:
            if e.errno != errno.EADDRINUSE or not port:
                raise
            sandbox = start(settings=replace(settings, port=0))
    except DataDirInUse as e:
        print(f"alloy sandbox refused to start: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # broad on purpose: one line in the log says why
        print(f"alloy sandbox failed to start: {e}", file=sys.stderr)
        return 1
    try:
        write_state(
            home,
            SharedState(
                pid=os.getpid(),
                url=sandbox.base_url,
                api_key=sandbox.api_key,
                user_id=sandbox.user_id,
                data_dir=str(home),
                started=sandbox.activity.started,
                idle_timeout=idle,
                log=str(home / LOG_FILE),
            ),
        )
        (home / LAST_PORT_FILE).write_text(sandbox.base_url.rsplit(":", 1)[1])
        print(f"alloy sandbox ready base_url={sandbox.base_url} pid={os.getpid()}", flush=True)
        poll = min(1.0, idle / 4) if idle > 0 else 1.0
        while not stop_requested.wait(poll):
            if (
                idle > 0
                and sandbox.activity.idle_seconds() >= idle
                and _idle_stop(home, sandbox, idle)
            ):
                print(f"alloy sandbox stopped after {idle:g} s without requests", flush=True)
                return 0
        print("alloy sandbox stopping on request", flush=True)
    finally:
        remove_state(home, os.getpid())
        sandbox.stop()
    return 0


def _idle_stop(home: Path, sandbox: Any, idle: float) -> bool:
    """Stop while holding connect.lock, so no connect() hands out this sandbox meanwhile;
    if a connect() holds it now, wait for the next round (it is about to use us)."""
    with connect_lock(home, timeout=0, blocking=False) as held:
        if not held or sandbox.activity.idle_seconds() < idle:
            return False
        remove_state(home, os.getpid())
        sandbox.stop()
        return True


def _last_port(home: Path) -> int:
    """Clients in other kernels hold URLs to the last port: reuse it when it is free."""
    try:
        port = int((home / LAST_PORT_FILE).read_text())
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as start() binds
            s.bind(("127.0.0.1", port))
    except (OSError, ValueError, OverflowError):
        return 0
    return port


def status(args: argparse.Namespace) -> int:
    if args.data_dir:
        return _owner_status(Path(args.data_dir).absolute())
    home = _home(args)
    state = read_state(home) if home.is_dir() else None
    if state is None:
        if home.is_dir() and is_owned(home):
            return _owner_status(home)
        print(f"no shared sandbox is running (home: {home})")
        return NOT_RUNNING
    state_health = health(state.url, timeout=10, probe=True)
    rows = [("url", state.url), ("pid", str(state.pid)), ("data dir", state.data_dir)]
    if state_health == "down":
        print(f"the shared sandbox recorded in {home} does not answer (pid {state.pid})")
        return NOT_RUNNING
    code, body = get_json(state.url, STATUS_PATH, state.api_key)
    if code == 200 and isinstance(body, dict):
        idle = f"{_duration(body['idleSeconds'])}"
        if state.idle_timeout > 0:
            idle += f" (stops after {_duration(state.idle_timeout)} idle)"
        rows += [("uptime", _duration(body["uptimeSeconds"])), ("idle", idle)]
    rows += [("storage", "ok" if state_health == "ok" else "FAILED (next connect() restarts it)")]
    rows += [("log", state.log)]
    print("alloy sandbox running (shared)")
    for name, value in rows:
        print(f"  {name:<9} {value}")
    return 0


def _owner_status(data_dir: Path) -> int:
    info = read_owner(data_dir) if is_owned(data_dir) else None
    if not info:
        print(f"no sandbox is running on {data_dir}")
        return NOT_RUNNING
    print("alloy sandbox running")
    print(f"  {'url':<9} {info.get('url') or '(starting)'}")
    print(f"  {'pid':<9} {info.get('pid')}")
    print(f"  {'data dir':<9} {data_dir}")
    started = info.get("started")
    if isinstance(started, (int, float)):
        print(f"  {'uptime':<9} {_duration(time.time() - started)}")
    return 0


def stop(args: argparse.Namespace) -> int:
    if args.data_dir:
        return _stop_owner(Path(args.data_dir).absolute())
    home = _home(args)
    state = read_state(home) if home.is_dir() else None
    if stop_shared_sandbox(home):
        where = f" at {state.url}" if state else ""
        print(f"stopped the shared sandbox{where} (pid {state.pid if state else '?'})")
        return 0
    if home.is_dir() and is_owned(home):  # started by hand on the home: stop it like any
        return _stop_owner(home)
    print(f"no shared sandbox is running (home: {home})")
    return 0


def _stop_owner(data_dir: Path) -> int:
    info = read_owner(data_dir) if is_owned(data_dir) else None
    pid = (info or {}).get("pid")
    if not isinstance(pid, int):
        print(f"no sandbox is running on {data_dir}")
        return 0
    if not is_sandbox_process(pid):
        print(
            f"the sandbox on {data_dir} runs inside pid {pid} (not `python -m alloy_nb.sandbox`); "
            "stop it there",
            file=sys.stderr,
        )
        return 1
    terminate(pid, grace=STOP_GRACE, wait_for=10)
    with contextlib.suppress(OSError):
        remove_state(data_dir, pid)
    print(f"stopped the sandbox pid {pid} on {data_dir}")
    return 0


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.0f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
