"""Start the whole sandbox (storage + API) in-process, for notebooks, tests and the CLI."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from alloy_nb._constants import (
    ENV_SANDBOX_API_KEYS,
    PRESIGNED_URL_TTL_SECONDS,
    SANDBOX_DEFAULT_BUCKET,
    SANDBOX_DEFAULT_HOST,
    SANDBOX_DEFAULT_REGION,
)
from alloy_nb.sandbox._app import create_app
from alloy_nb.sandbox._datadir import open_state, prepare_data_dir
from alloy_nb.sandbox._files import FileService
from alloy_nb.sandbox._protocol import HttpLimits, bounded_protocol
from alloy_nb.sandbox._reservations import CLOCK_SKEW_SECONDS, LOCAL_CLOCK_SKEW_SECONDS
from alloy_nb.sandbox._storage import S3Settings, Storage
from alloy_nb.sandbox._weed import WeedServer

log = logging.getLogger("alloy_nb.sandbox")

DEMO_KEY_FILE = "demo-api-key"


@dataclass(frozen=True)
class ApiKey:
    """An API key the sandbox accepts, and the default user of its workspace."""

    key: str = field(repr=False)
    user_id: str


@dataclass
class Sandbox:
    """A running sandbox. Stop it with :meth:`stop` or use it as a context manager.

    >>> with alloy_nb.sandbox.start() as sb:  # doctest: +SKIP
    ...     print(sb.base_url, sb.api_key)
    """

    base_url: str
    api_keys: list[ApiKey]
    data_dir: Path
    storage: S3Settings
    weed: WeedServer | None
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _closers: list[Any] = field(repr=False)
    _temp_dir: bool = field(repr=False, default=False)

    @property
    def api_key(self) -> str:
        """The first API key (the only one, unless several were configured)."""
        return self.api_keys[0].key

    @property
    def user_id(self) -> str:
        return self.api_keys[0].user_id

    def stop(self) -> None:
        """Stop the API, then storage; idempotent."""
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(15)
        for close in self._closers:
            close()
        self._closers.clear()
        if self.weed is not None:
            self.weed.stop()
        if self._temp_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def resolve_api_keys(api_keys: list[str] | None, data_dir: Path) -> tuple[list[str], bool]:
    """Keys given, else from the environment, else the data directory's demo key.

    Returns the keys and whether a demo key is in use. The demo key is kept in the data
    directory (mode 0600) so that a restarted demo still sees its earlier files.
    """
    if api_keys:
        return list(api_keys), False
    from_env = [k.strip() for k in os.environ.get(ENV_SANDBOX_API_KEYS, "").split(",")]
    if any(from_env):
        return [k for k in from_env if k], False
    path = data_dir / DEMO_KEY_FILE
    if path.exists():
        return [path.read_text().strip()], True
    key = "sandbox_" + secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return [key], True


def start(
    *,
    host: str = SANDBOX_DEFAULT_HOST,
    port: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    api_keys: list[str] | None = None,
    s3: S3Settings | None = None,
    url_ttl: int = PRESIGNED_URL_TTL_SECONDS,
    log_level: str = "warning",
    limits: HttpLimits | None = None,
) -> Sandbox:
    """Start storage (``weed mini`` unless ``s3`` points elsewhere) and the API on a thread.

    ``port=0`` picks a free port. Without ``data_dir`` everything lives in a temporary
    directory that :meth:`Sandbox.stop` removes. ``limits`` bounds what slow or idle
    clients can hold (:class:`HttpLimits`).
    """
    limits = limits or HttpLimits()
    temp = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="alloy-sandbox-")) if temp else Path(data_dir)  # type: ignore[arg-type]
    prepare_data_dir(root)
    weed: WeedServer | None = None
    closers: list[Any] = []
    try:
        if s3 is None:
            weed = WeedServer(
                root / "s3", bucket=SANDBOX_DEFAULT_BUCKET, region=SANDBOX_DEFAULT_REGION
            ).start()
            s3 = weed.settings
        storage = Storage(s3)
        closers.append(storage.close)
        created = storage.ensure_bucket()
        skew = CLOCK_SKEW_SECONDS if weed is None else LOCAL_CLOCK_SKEW_SECONDS
        state = open_state(root, clock_skew=skew)
        closers += state.closers
        # Storage the sandbox started itself has one door, with the sandbox's keys: the
        # index can be trusted between checks (see _stored.py); any other endpoint is shared.
        files = FileService(storage, state.index, state.reservations, url_ttl=url_ttl,
                            sole_writer=weed is not None)  # fmt: skip
        files.open_index(storage_created=created)
        keys, _demo = resolve_api_keys(api_keys, root)
        registered = [ApiKey(k, state.registry.register_key(k).default_user_id) for k in keys]
        app = create_app(files, state.registry, state.drive, body_timeout=limits.body_timeout)
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when
        # the proto says TCP; without it every response waits ~40 ms for a delayed ACK.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="off",
            http=bounded_protocol(limits),
            timeout_keep_alive=limits.keep_alive,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="alloy-sandbox", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox API did not start")
            time.sleep(0.02)
        closers.insert(0, sock.close)
    except BaseException:
        for close in closers:
            close()
        if weed is not None:
            weed.stop()
        if temp:
            shutil.rmtree(root, ignore_errors=True)
        raise
    shown_host = f"[{host}]" if ":" in host else host
    return Sandbox(
        base_url=f"http://{shown_host}:{bound_port}",
        api_keys=registered,
        data_dir=root,
        storage=s3,
        weed=weed,
        _server=server,
        _thread=thread,
        _closers=closers,
        _temp_dir=temp,
    )
