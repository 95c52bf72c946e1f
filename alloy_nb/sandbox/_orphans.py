"""What sandboxes that died left behind: their weed, their temporary directories.

A process is named by its pid and its start time (``/proc/<pid>/stat``), so a pid reused
by an unrelated process never passes for the owner. What a dead owner left (a temporary
``alloy-sandbox-*`` directory, a weed still running on its data) is removed by the next
start; what a live owner uses is never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from alloy_nb.sandbox._lifeline import remove_sockets

log = logging.getLogger("alloy_nb.sandbox")

TEMP_PREFIX = "alloy-sandbox-"
OWNER_FILE = "owner.json"
WEED_RECORD = "weed.json"  # in weed's data dir: owner, launcher and weed processes, ports
Proc = tuple[int, int]  # (pid, start time in clock ticks since boot; 0 where unknown)


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold ")"


def identify(pid: int) -> Proc:
    stat = _stat(pid)
    return (pid, int(stat[19]) if stat else 0)


def this_process() -> Proc:
    return identify(os.getpid())


def alive(proc: Proc) -> bool:
    """Whether this very process still runs (not a zombie, not a reused pid)."""
    pid, start = proc
    stat = _stat(pid)
    if stat is None:  # no /proc: the pid alone has to do
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not Path("/proc").is_dir()
    return stat[0] not in ("Z", "X") and (not start or int(stat[19]) == start)


def parent_of(pid: int) -> int:
    stat = _stat(pid)
    return int(stat[1]) if stat else 0


def weed_pids(data_dir: Path) -> list[int]:
    """This user's weed processes serving ``data_dir``."""
    flag = f"-dir={data_dir}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if flag in args and Path(os.fsdecode(args[0])).name == "weed":
            found.append(int(entry.name))
    return found


def read_json(path: Path) -> dict[str, object] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def recorded(record: dict[str, object] | None, name: str) -> Proc | None:
    value = (record or {}).get(name)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    return None


def stop_process(pid: int, grace: float) -> None:
    """SIGTERM, up to ``grace`` seconds, then SIGKILL; returns once it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive((pid, 0)) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        if alive((pid, 0)):
            os.kill(pid, signal.SIGKILL)
    while alive((pid, 0)) and time.monotonic() < deadline + 5:
        time.sleep(0.05)


class InUse(RuntimeError):
    """A live sandbox's storage runs on this data directory."""


def stop_orphaned_weed(data_dir: Path, grace: float) -> None:
    """Stop a weed left running on ``data_dir`` by a dead owner; :class:`InUse` if its
    owner is alive (never stop another live sandbox's storage)."""
    record = read_json(data_dir / WEED_RECORD)
    owner = recorded(record, "owner")
    for pid in weed_pids(data_dir):
        # Without a record (older versions) weed's parent was its owner.
        parent = parent_of(pid)
        if alive(owner) if owner is not None else parent != 1:
            who = owner[0] if owner is not None else parent
            raise InUse(
                f"{data_dir} is in use by another sandbox (process {who}): stop it first, "
                "or give this one another data directory"
            )
        log.warning("stopping weed mini (pid %d) left running on %s", pid, data_dir)
        stop_process(pid, grace)
    ports = (record or {}).get("ports")
    if isinstance(ports, list):
        remove_sockets([p for p in ports if isinstance(p, int)])


def claim_temp_dir(root: Path) -> None:
    """Record this process as the owner of a temporary sandbox directory."""
    write_json(root / OWNER_FILE, {"owner": list(this_process())})


def sweep_temp_dirs(grace: float = 5.0) -> list[Path]:
    """Remove temporary sandbox directories (and their storage) whose owner is dead."""
    removed = []
    for root in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            if not root.is_dir() or root.is_symlink() or root.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        owner = recorded(read_json(root / OWNER_FILE), "owner")
        weed_record = read_json(root / "s3" / WEED_RECORD)
        launcher = recorded(weed_record, "launcher")
        running = weed_pids(root / "s3")
        if owner is None:
            # Written by a version without owner records: only a weed orphaned to init
            # proves its owner dead; anything else may be in use.
            if not running or any(parent_of(pid) != 1 for pid in running):
                continue
        elif alive(owner) or (launcher is not None and alive(launcher)):
            continue  # in use, or its launcher is cleaning up right now
        for pid in running:
            log.warning("stopping weed mini (pid %d) left running by a dead sandbox", pid)
            stop_process(pid, grace)
        ports = (weed_record or {}).get("ports")
        if isinstance(ports, list):
            remove_sockets([p for p in ports if isinstance(p, int)])
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed
