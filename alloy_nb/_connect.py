"""``connect()``: a Client from the environment, or one bound to a local sandbox."""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from alloy_nb._client import Client
from alloy_nb._constants import ENV_API_KEY
from alloy_nb._exceptions import MissingDependencyError

_lock = threading.Lock()
_sandbox: Any = None


def connect(*, sandbox: bool | None = None, **client_kwargs: Any) -> Client:
    """A ready Client: the real API when ``$ALLOY_API_KEY`` is set, else a local sandbox.

    The sandbox (one per process, stopped at exit) needs the ``sandbox`` extra. Pass
    ``sandbox=True`` to use it even when a key is configured, ``sandbox=False`` to never
    start one. Other keyword arguments go to :class:`Client`.

    Example::

        >>> client = alloy_nb.connect()   # doctest: +SKIP
        alloy_nb: no ALLOY_API_KEY set; using a local sandbox at http://127.0.0.1:40353
    """
    has_key = bool(client_kwargs.get("api_key") or os.environ.get(ENV_API_KEY))
    if sandbox is False or (sandbox is None and has_key):
        return Client(**client_kwargs)
    sb = _local_sandbox()
    print(
        f"alloy_nb: no {ENV_API_KEY} set; using a local sandbox at {sb.base_url}"
        if not has_key
        else f"alloy_nb: using a local sandbox at {sb.base_url}"
    )
    client_kwargs.update(api_key=sb.api_key, base_url=sb.base_url)
    return Client(**client_kwargs)


def _local_sandbox() -> Any:
    global _sandbox
    with _lock:
        if _sandbox is None:
            try:
                import alloy_nb.sandbox as sandbox_module
            except ImportError as e:
                raise MissingDependencyError(
                    "the local sandbox needs the sandbox extra: pip install 'alloy_nb[sandbox]' "
                    f"(or set {ENV_API_KEY} to use the real API)"
                ) from e
            _sandbox = sandbox_module.start()
            atexit.register(_stop_sandbox)
        return _sandbox


def _stop_sandbox() -> None:
    global _sandbox
    with _lock:
        if _sandbox is not None:
            _sandbox.stop()
            _sandbox = None
