"""Action routes: execute a connector action with one of the caller's credentials.

The actions themselves are emulated where the connector lives (Google Drive: :mod:`._drive`).
"""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, StrictStr

from alloy_nb.sandbox import _drive
from alloy_nb.sandbox._auth import Caller, caller_dependency
from alloy_nb.sandbox._credentials_api import ConnectorId
from alloy_nb.sandbox._db import Credentials, Registry
from alloy_nb.sandbox._drive import DriveCall, DriveStore
from alloy_nb.sandbox._errors import ERROR_RESPONSES, HTTPProblem
from alloy_nb.sandbox._files import FileService
from alloy_nb.sandbox._gate import StorageGate
from alloy_nb.sandbox._validation import RequestBody

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
# Connectors with emulated actions: their handlers, and which of them read storage.
HANDLERS = {"googleDrive": (_drive.HANDLERS, _drive.STORAGE_BOUND)}


class ExecuteRequest(RequestBody):
    credentialId: StrictStr = Field(examples=["6901cf34fa3f225f1ceaa28c"])
    requestBody: dict[str, Any] | None = None
    queryParameters: dict[str, Any] | None = None
    pathParams: dict[str, Any] | None = None
    additionalHeaders: dict[str, Any] | None = None


def actions_router(
    files: FileService, registry: Registry, drive: DriveStore, gate: StorageGate
) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)
    credentials = Credentials(registry)
    CallerDep = Annotated[Caller, Depends(caller_dependency(registry))]

    @router.post(
        "/connectors/{connectorId}/actions/{actionId}/execute",
        tags=["Connectors"],
        summary="Execute connector action",
    )
    async def execute(
        connectorId: ConnectorId,
        actionId: Annotated[str, Path(min_length=1, max_length=64)],
        body: ExecuteRequest,
        caller: CallerDep,
    ) -> dict[str, Any]:
        if not _OBJECT_ID.fullmatch(body.credentialId):
            raise HTTPProblem(400, "field 'credentialId' must be a 24-character hex ObjectId")
        handlers, storage_bound = HANDLERS.get(connectorId, ({}, set()))
        handler = handlers.get(actionId)
        if handler is None:
            raise HTTPProblem(
                404, f"Action not found: {actionId[:64]!r} for connector {connectorId[:64]!r}"
            )

        def run() -> dict[str, Any]:
            credential = credentials.get(body.credentialId, caller.user_id, connectorId)
            if credential is None:
                raise HTTPProblem(404, "Credential not found")
            request, query = body.requestBody or {}, body.queryParameters or {}
            call = DriveCall(caller.user_id, credential.credential_id, request, query)
            return {"success": True, "result": handler(call, files, drive)}

        if actionId in storage_bound:
            return await gate.run(run)
        return await run_in_threadpool(run)

    return router
