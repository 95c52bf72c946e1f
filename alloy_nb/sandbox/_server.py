"""Start the whole sandbox (storage + API) in-process, for notebooks, tests and the CLI."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn

from alloy_nb.sandbox import _orphans
from alloy_nb.sandbox._activity import Activity, ActivityMiddleware
from alloy_nb.sandbox._app import create_app
from alloy_nb.sandbox._datadir import open_state, prepare_data_dir
from alloy_nb.sandbox._datadir_lock import Owner, claim
from alloy_nb.sandbox._files import FileService
from alloy_nb.sandbox._home import DEMO_KEY_FILE
from alloy_nb.sandbox._ports import listen_socket
from alloy_nb.sandbox._protocol import HttpLimits, bounded_protocol
from alloy_nb.sandbox._reservations import CLOCK_SKEW_SECONDS, LOCAL_CLOCK_SKEW_SECONDS
from alloy_nb.sandbox._settings import (
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    S3Settings,
    SandboxSettings,
    load_settings,
)
from alloy_nb.sandbox._storage import Storage
from alloy_nb.sandbox._weed import WeedServer

log = logging.getLogger("alloy_nb.sandbox")


@dataclass(frozen=True)
class ApiKey:
    """An API key the sandbox accepts, and the default user of its workspace."""

    key: str = field(repr=False)
    user_id: str


@dataclass
class Sandbox:
    """A running sandbox. Stop it with :meth:`stop` or use it as a context manager.

    >>> import alloy_nb.sandbox
    >>> with alloy_nb.sandbox.start(api_keys=["k1", "k2"]) as sb:
    ...     print([k.key for k in sb.api_keys], sb.api_key)
    ['k1', 'k2'] k1
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
    activity: Activity = field(repr=False, default_factory=Activity)
    _owner: Owner | None = field(repr=False, default=None)
    settings: SandboxSettings = field(repr=False, default_factory=SandboxSettings)

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
        if self._owner is not None:  # last: storage is down, the directory is free
            self._owner.release()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def resolve_api_keys(api_keys: tuple[str, ...], data_dir: Path) -> tuple[list[str], bool]:
    """The configured keys, else the data directory's demo key.

    Returns the keys and whether a demo key is in use. The demo key is kept in the data
    directory (mode 0600) so that a restarted demo still sees its earlier files.
    """
    if api_keys:
        return list(api_keys), False
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
    host: str | None = None,
    port: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    api_keys: list[str] | None = None,
    s3: S3Settings | None = None,
    url_ttl: int | None = None,
    log_level: str | None = None,
    limits: HttpLimits | None = None,
    settings: SandboxSettings | None = None,
) -> Sandbox:
    """Start storage (``weed mini`` unless ``s3`` points elsewhere) and the API on a thread.

    Arguments not given come from the environment exactly as for ``python -m
    alloy_nb.sandbox`` (``$ALLOY_SANDBOX_API_KEYS``, ``$ALLOY_SANDBOX_DATA_DIR``,
    ``$ALLOY_SANDBOX_URL_TTL``, ``$ALLOY_SANDBOX_S3_*``; see :mod:`._settings`), or pass
    ``settings`` ready-made instead. ``port=0`` picks a free port. Without a data directory
    everything lives in a temporary directory that :meth:`Sandbox.stop` removes. A data
    directory is owned by this sandbox until it stops; if another live sandbox owns it, this
    raises :class:`~alloy_nb.sandbox._datadir_lock.DataDirInUse` (naming it) and touches nothing.
    ``limits`` bounds what slow or idle clients can hold (:class:`HttpLimits`).
    """
    given = (host, port, data_dir, api_keys, s3, url_ttl, log_level)
    if settings is None:
        settings = load_settings(
            host=host,
            port=port,
            data_dir=data_dir,
            api_keys=api_keys,
            s3=s3,
            url_ttl=url_ttl,
            log_level=log_level,
        )
    elif any(value is not None for value in given):
        raise TypeError("start() takes settings or its fields as arguments, not both")
    limits = limits or HttpLimits()
    host, root = settings.host, settings.data_dir
    temp = root is None
    if root is None:
        _orphans.sweep_temp_dirs()  # what sandboxes killed before their stop() left behind
        root = Path(tempfile.mkdtemp(prefix=_orphans.TEMP_PREFIX))
        _orphans.claim_temp_dir(root)
    prepare_data_dir(root)
    owner = None if temp else claim(root)  # before storage: never touch another's weed
    weed: WeedServer | None = None
    closers: list[Any] = []
    s3 = settings.s3
    try:
        if s3 is None:
            weed = WeedServer(
                root / "s3",
                bucket=DEFAULT_BUCKET,
                region=DEFAULT_REGION,
                remove_on_owner_exit=root if temp else None,
            ).start()
            s3 = weed.settings
            if settings.public_s3_endpoint:
                s3 = replace(s3, public_endpoint_url=settings.public_s3_endpoint)
        storage = Storage(s3)
        closers.append(storage.close)
        created = storage.ensure_bucket()
        skew = CLOCK_SKEW_SECONDS if weed is None else LOCAL_CLOCK_SKEW_SECONDS
        state = open_state(root, clock_skew=skew)
        closers += state.closers
        # Storage the sandbox started itself has one door, with the sandbox's keys: the
        # index can be trusted between checks (see _stored.py); any other endpoint is shared.
        files = FileService(
            storage,
            state.index,
            state.reservations,
            url_ttl=settings.url_ttl,
            sole_writer=weed is not None,
        )
        files.open_index(storage_created=created)
        keys, _demo = resolve_api_keys(settings.api_keys, root)
        registered = [ApiKey(k, state.registry.register_key(k).default_user_id) for k in keys]
        app = create_app(files, state.registry, state.drive, body_timeout=limits.body_timeout)
        activity = Activity()
        app.add_middleware(ActivityMiddleware, activity=activity, keys=keys, data_dir=str(root))
        sock = listen_socket(host, settings.port)
        bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level=settings.log_level,
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
        if owner is not None:
            owner.release()
        raise
    shown_host = f"[{host}]" if ":" in host else host
    if owner is not None:
        owner.publish(f"http://{shown_host}:{bound_port}")
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
        activity=activity,
        _owner=owner,
        settings=settings,
    )
