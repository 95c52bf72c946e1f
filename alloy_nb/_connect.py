"""``connect()``: a Client from the environment, or one bound to the user's local sandbox."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from alloy_nb._client import Client
from alloy_nb._constants import ENV_API_KEY, ENV_SANDBOX_HOME
from alloy_nb._exceptions import AlloyError, MissingDependencyError

_SANDBOX_EXTRA = ("fastapi", "uvicorn", "boto3")


class SandboxError(AlloyError, RuntimeError):
    """The local sandbox could not be found, started or restarted."""


def connect(*, sandbox: bool | None = None, **client_kwargs: Any) -> Client:
    """A ready Client: the real API when ``$ALLOY_API_KEY`` is set, else the local sandbox.

    The local sandbox is shared by every notebook of this OS user: the first ``connect()``
    starts it in the background on a data directory that persists (files and credentials
    survive kernel restarts), later ones reuse it, and one whose storage failed is
    restarted on the same data. It stops itself after 30 idle minutes
    (``$ALLOY_NB_SANDBOX_IDLE_TIMEOUT`` seconds); ``python -m alloy_nb.sandbox status`` and
    ``stop`` show or end it; ``$ALLOY_NB_SANDBOX_HOME`` moves it. Starting one needs the
    ``sandbox`` extra. Pass ``sandbox=True`` to use it even when a key is configured,
    ``sandbox=False`` to never use it. Other keyword arguments go to :class:`Client`.

    Example::

        >>> import alloy_nb
        >>> client = alloy_nb.connect()  # doctest: +ELLIPSIS
        alloy_nb: ...local sandbox...at http://127.0.0.1:...
    """
    has_key = bool(client_kwargs.get("api_key") or os.environ.get(ENV_API_KEY))
    if sandbox is False or (sandbox is None and has_key):
        return Client(**client_kwargs)
    found = _shared_sandbox()
    state = found.state
    verb = {
        "started": "started a local sandbox (shared by your notebooks) at",
        "reused": "using your local sandbox at",
        "adopted": "using the local sandbox running at",
        "restarted": "restarted your local sandbox (its storage had stopped) at",
    }[found.how]
    prefix = f"no {ENV_API_KEY} set; " if not has_key else ""
    print(f"alloy_nb: {prefix}{verb} {state.url}")
    client_kwargs.update(api_key=state.api_key, base_url=state.url)
    return Client(**client_kwargs)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: set to None in sys.modules
        return False


def _shared_sandbox() -> Any:
    # Finding a running sandbox needs only the standard library; the check below keeps a
    # missing extra from surfacing later as a cryptic failure of the background process.
    missing = [m for m in _SANDBOX_EXTRA if not _installed(m)]
    from alloy_nb.sandbox import _home, _shared

    home = _home.sandbox_home()
    state = _home.read_state(home) if home.is_dir() else None
    if missing and (state is None or _home.health(state.url) != "ok"):
        raise MissingDependencyError(
            f"the local sandbox needs the sandbox extra ({', '.join(missing)} missing): "
            f"pip install 'alloy_nb[sandbox]' (or set {ENV_API_KEY} to use the real API)"
        )
    try:
        return _shared.find_or_start(home)
    except _home.SharedSandboxError as e:
        raise SandboxError(str(e)) from None
    except OSError as e:
        raise SandboxError(
            f"the local sandbox's home {home} is not usable ({e.strerror or e}); "
            f"set {ENV_SANDBOX_HOME} to a writable directory"
        ) from None
