"""The Alloy-compatible HTTP API (FastAPI), served unprefixed and under ``/2025-09``."""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
import re
import shutil
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from alloy_nb._constants import SUPPORTED_API_VERSIONS
from alloy_nb.sandbox._actions_api import actions_router
from alloy_nb.sandbox._credentials_api import credentials_router
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._drive import DriveStore
from alloy_nb.sandbox._errors import ERROR_RESPONSES, HTTPProblem, install_error_handlers
from alloy_nb.sandbox._files import FileService
from alloy_nb.sandbox._files_api import files_router
from alloy_nb.sandbox._gate import StorageGate
from alloy_nb.sandbox._guards import BODY_TIMEOUT_SECONDS, RequestGuard
from alloy_nb.sandbox._users_api import users_router

#: Below this much free space in the data directory, /health reports the disk as full.
MIN_FREE_BYTES = 1024 * 1024


def _operation_id(route: APIRoute) -> str:
    method = sorted(route.methods or {"get"})[0].lower()
    return f"{method}{re.sub(r'[^A-Za-z0-9]+', '_', route.path_format)}".rstrip("_")


def create_app(
    files: FileService,
    registry: Registry,
    drive: DriveStore,
    *,
    gate: StorageGate | None = None,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> FastAPI:
    """The sandbox's ASGI app over a file service, a user registry and an emulated Drive.

    Storage-bound work runs behind ``gate`` (:mod:`._gate`), everything else on the usual
    worker threads, so a hung storage never blocks authentication or ``/users``.
    """
    gate = gate or StorageGate()
    app = FastAPI(
        title="Alloy Connectivity API (alloy_nb sandbox)",
        version="2025-09",
        description="Offline, Alloy-compatible File Management API on a real S3 server.",
        generate_unique_id_function=_operation_id,
        # Swagger/ReDoc pages load their scripts from a public CDN and cannot send a bearer
        # key: an offline sandbox serves only the JSON schema.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    routers = [
        files_router(files, registry, gate),
        users_router(registry),
        credentials_router(registry),
        actions_router(files, registry, drive, gate),
    ]
    for router in routers:
        app.include_router(router)
        for version in SUPPORTED_API_VERSIONS:
            app.include_router(router, prefix=f"/{version}")

    @app.get("/health", tags=["Sandbox"], responses={503: ERROR_RESPONSES[503]})
    async def health() -> dict[str, str]:
        """ok, or 503 naming what is wrong: storage unreachable, or the data disk full."""
        full = [db.path for db in (registry, files.index) if db.full]
        data_dir = registry.path.parent
        if full or shutil.disk_usage(data_dir).free < MIN_FREE_BYTES:
            where = full[0] if full else data_dir
            raise HTTPProblem(503, f"the sandbox's data disk is full ({where}): free disk space")
        await gate.run(files.storage.ping)
        return {"status": "ok"}

    app.add_middleware(RequestGuard, body_timeout=body_timeout)
    app.state.registry, app.state.gate = registry, gate  # for diagnostics and fault tests
    app.openapi = lambda: _describe(app)  # type: ignore[method-assign]
    return app


def _describe(app: FastAPI) -> dict[str, Any]:
    """The generated schema, told the truth: errors are 400 (never 422), every call needs
    a bearer key and the version header."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer API_KEY",
    }
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if path == "/health":
                continue
            operation["security"] = [{"bearer": []}]
            params = operation.get("parameters", [])
            operation["parameters"] = [p for p in params if p["name"] != "authorization"]
            for p in operation["parameters"]:
                if p["name"] == "x-api-version":
                    p["required"] = True
                    p["schema"] = {"type": "string", "enum": list(SUPPORTED_API_VERSIONS)}
    schema["components"].get("schemas", {}).pop("HTTPValidationError", None)
    schema["components"].get("schemas", {}).pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
