"""Connector credentials and action execution, with Google Drive emulated offline."""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, StrictStr

from alloy_nb.sandbox._auth import Caller, caller_dependency
from alloy_nb.sandbox._db import Credential, Credentials, Registry
from alloy_nb.sandbox._drive import DriveStore
from alloy_nb.sandbox._errors import ERROR_RESPONSES, HTTPProblem
from alloy_nb.sandbox._files import FileService, NotFound
from alloy_nb.sandbox._gate import StorageGate
from alloy_nb.sandbox._names import filename_of
from alloy_nb.sandbox._validation import RequestBody

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
UPLOAD_TYPES = ("media", "multipart", "resumable")
DRIVE_FIELDS = ("kind", "id", "name", "mimeType", "parents", "size", "md5Checksum", "createdTime")
# Connectors the sandbox can hold credentials for; only Google Drive has emulated actions.
CONNECTORS = {
    "googleDrive": {"type": "googleDrive-oauth2", "label": "Google Drive"},
    "slack": {"type": "slack-oauth2", "label": "Slack"},
}


class CreateCredentialRequest(RequestBody):
    name: StrictStr | None = Field(default=None, max_length=256)


class CredentialEntry(BaseModel):
    credentialId: str
    name: str
    type: str
    createdAt: str
    updatedAt: str


class CredentialList(BaseModel):
    credentials: list[CredentialEntry]


class ExecuteRequest(RequestBody):
    credentialId: StrictStr = Field(examples=["6901cf34fa3f225f1ceaa28c"])
    requestBody: dict[str, Any] | None = None
    queryParameters: dict[str, Any] | None = None
    pathParams: dict[str, Any] | None = None
    additionalHeaders: dict[str, Any] | None = None


@dataclass(frozen=True)
class ActionContext:
    caller: Caller
    credential: Credential
    body: ExecuteRequest
    files: FileService
    drive: DriveStore

    @property
    def request_body(self) -> dict[str, Any]:
        return self.body.requestBody or {}

    @property
    def query(self) -> dict[str, Any]:
        return self.body.queryParameters or {}


def _fields(ctx: ActionContext) -> list[str] | None:
    raw = ctx.query.get("fields")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise HTTPProblem(400, "queryParameters.fields must be a comma-separated string")
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in DRIVE_FIELDS and f != "*"]
    if unknown:
        raise HTTPProblem(400, f"queryParameters.fields: unknown field(s) {', '.join(unknown)}; "
                            f"known: {', '.join(DRIVE_FIELDS)}")  # fmt: skip
    return list(DRIVE_FIELDS) if "*" in wanted else wanted


def _text(where: str, value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HTTPProblem(400, f"{where} must be a non-empty string")
    return value


def drive_upload_file(ctx: ActionContext) -> dict[str, Any]:
    """``googleDrive/uploadFile``: copy one of the caller's stored files into the Drive."""
    rb = ctx.request_body
    key_field = next((k for k in ("s3Key", "file", "media", "content") if k in rb), "s3Key")
    s3_key = _text(f"requestBody.{key_field}", rb.get(key_field), required=True)
    assert s3_key is not None
    metadata = rb.get("metadata")
    if metadata is None:  # lenient: metadata fields at the requestBody's top level
        metadata = {k: rb[k] for k in ("name", "mimeType", "parents") if k in rb}
    if not isinstance(metadata, dict):
        raise HTTPProblem(400, "requestBody.metadata must be an object {name, mimeType, parents}")
    name = _text("requestBody.metadata.name", metadata.get("name"), required=False)
    mime = _text("requestBody.metadata.mimeType", metadata.get("mimeType"), required=False)
    parents = metadata.get("parents", [])
    if not isinstance(parents, list) or not all(isinstance(p, str) and p for p in parents):
        raise HTTPProblem(400, "requestBody.metadata.parents must be a list of folder ids")
    upload_type = ctx.query.get("uploadType")
    if upload_type not in UPLOAD_TYPES:
        raise HTTPProblem(
            400, f"queryParameters.uploadType must be one of {', '.join(UPLOAD_TYPES)}"
        )
    fields = _fields(ctx)
    name = name or filename_of(s3_key)
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        body = ctx.files.open_file(ctx.caller.user_id, s3_key)
    except NotFound:
        raise HTTPProblem(
            404, "File not found: the s3Key is not one of this user's files"
        ) from None
    try:
        drive_file = ctx.drive.add(
            ctx.credential.credential_id, name, mime, parents, body.iter_chunks(1024 * 1024)
        )
    finally:
        body.close()
    return drive_file.as_json(fields)


def drive_list_files(ctx: ActionContext) -> dict[str, Any]:
    """``googleDrive/listFiles``: what this credential's Drive holds, with md5 and size."""
    fields = _fields(ctx) or list(DRIVE_FIELDS)
    files = ctx.drive.list(ctx.credential.credential_id)
    return {"kind": "drive#fileList", "files": [f.as_json(fields) for f in files]}


ACTIONS: dict[tuple[str, str], Callable[[ActionContext], dict[str, Any]]] = {
    ("googleDrive", "uploadFile"): drive_upload_file,
    ("googleDrive", "listFiles"): drive_list_files,
}
STORAGE_BOUND = {("googleDrive", "uploadFile")}  # these run behind the storage gate

ConnectorId = Annotated[str, Path(min_length=1, max_length=64)]


def actions_router(
    files: FileService, registry: Registry, drive: DriveStore, gate: StorageGate
) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)
    credentials = Credentials(registry)
    CallerDep = Annotated[Caller, Depends(caller_dependency(registry))]

    def known(connector_id: str) -> dict[str, str]:
        if connector_id not in CONNECTORS:
            raise HTTPProblem(404, f"Connector not found: {connector_id[:64]!r}; "
                                f"the sandbox offers {', '.join(CONNECTORS)}")  # fmt: skip
        return CONNECTORS[connector_id]

    @router.post(
        "/connectors/{connectorId}/credentials",
        response_model=CredentialEntry,
        tags=["Credentials"],
        summary="Create a sandbox credential (no OAuth needed offline)",
    )
    def create_credential(
        connectorId: ConnectorId,
        caller: CallerDep,
        body: Annotated[CreateCredentialRequest | None, Body()] = None,
    ) -> dict[str, str]:
        info = known(connectorId)
        name = (body.name if body else None) or f"Sandbox {info['label']} credential"
        return credentials.create(caller.user_id, connectorId, name, info["type"]).as_json()

    @router.get(
        "/connectors/{connectorId}/credentials",
        response_model=CredentialList,
        tags=["Credentials"],
        summary="Get connector credentials",
    )
    def list_credentials(connectorId: ConnectorId, caller: CallerDep) -> dict[str, Any]:
        known(connectorId)
        return {
            "credentials": [c.as_json() for c in credentials.of_user(caller.user_id, connectorId)]
        }

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
        handler = ACTIONS.get((connectorId, actionId))
        if handler is None:
            raise HTTPProblem(404, f"Action not found: {actionId[:64]!r} for connector "
                                f"{connectorId[:64]!r}")  # fmt: skip

        def run() -> dict[str, Any]:
            credential = credentials.get(body.credentialId, caller.user_id, connectorId)
            if credential is None:
                raise HTTPProblem(404, "Credential not found")
            ctx = ActionContext(caller, credential, body, files, drive)
            return {"success": True, "result": handler(ctx)}

        if (connectorId, actionId) in STORAGE_BOUND:
            return await gate.run(run)
        return await run_in_threadpool(run)

    return router
