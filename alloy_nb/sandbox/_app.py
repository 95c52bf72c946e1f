"""The Alloy-compatible HTTP API (FastAPI), served unprefixed and under ``/2025-09``."""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alloy_nb._constants import MAX_FILENAME_BYTES, SUPPORTED_API_VERSIONS
from alloy_nb._md5 import parse_md5
from alloy_nb.sandbox._actions import actions_router
from alloy_nb.sandbox._auth import Caller, caller_dependency
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._drive import DriveStore
from alloy_nb.sandbox._errors import (
    ERROR_RESPONSES,
    ApiError,
    error_response,
    install_error_handlers,
)
from alloy_nb.sandbox._files import MAX_PAGE, BadCursor, FileService, NotFound, listing_entry
from alloy_nb.sandbox._validation import RequestBody

MAX_BODY_BYTES = 64 * 1024
_MIME = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=[\w.+\-\"]+)*")
_USERNAME = re.compile(r"[\w.@+-]{1,128}")


# ---- request and response models (they also document /openapi.json) ----


class UploadRequest(RequestBody):
    filename: StrictStr = Field(examples=["document.pdf"])
    mimeType: StrictStr = Field(examples=["application/pdf"])
    md5: StrictStr = Field(examples=["2942bfabb3d05332b66eb128e0842cff"])


class PresignedUrl(BaseModel):
    presignedUrl: str
    md5: str
    s3Key: str
    type: Literal["new", "existing"]


class UploadResponse(BaseModel):
    presignedUrl: PresignedUrl


class FileEntry(BaseModel):
    s3Key: str
    filename: str
    size: int
    lastModified: str


class FileList(BaseModel):
    files: list[FileEntry]
    nextCursor: str | None = Field(
        default=None, description="Only present when `limit` was given and more files follow."
    )


class DeleteResponse(BaseModel):
    success: bool
    message: str


class CreateUserRequest(RequestBody):
    username: StrictStr
    fullName: StrictStr | None = None


class CreateUserResponse(BaseModel):
    userId: str


class UserEntry(BaseModel):
    userId: str
    username: str
    fullName: str | None
    createdAt: str


class UserList(BaseModel):
    users: list[UserEntry]


def _router(files: FileService, registry: Registry) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)
    CallerDep = Annotated[Caller, Depends(caller_dependency(registry))]

    @router.post(
        "/connectors/files/upload/request",
        response_model=UploadResponse,
        tags=["Files"],
        summary="Generate presigned upload URL",
    )
    def request_upload(body: UploadRequest, caller: CallerDep) -> dict[str, Any]:
        _require_text("filename", body.filename)
        if len(body.filename.encode("utf-8")) > MAX_FILENAME_BYTES:
            raise ApiError(400, f"field 'filename' is longer than {MAX_FILENAME_BYTES} bytes")
        _require_text("mimeType", body.mimeType)
        if not _MIME.fullmatch(body.mimeType) or len(body.mimeType) > 255:
            raise ApiError(400, "field 'mimeType' must be a MIME type such as 'application/pdf'")
        _require_text("md5", body.md5)
        try:
            md5 = parse_md5(body.md5)
        except ValueError as e:
            raise ApiError(400, f"field {e}") from None
        t = files.request_upload(caller.user_id, body.filename, body.mimeType, md5)
        return {
            "presignedUrl": {
                "presignedUrl": t.presigned_url,
                "md5": t.md5_base64,
                "s3Key": t.s3_key,
                "type": t.type,
            }
        }

    @router.get(
        "/connectors/files/list",
        response_model=FileList,
        response_model_exclude_none=True,
        tags=["Files"],
        summary="List user files",
    )
    def list_files(
        caller: CallerDep,
        limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
        cursor: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> dict[str, Any]:
        try:
            page = files.list_files(caller.user_id, limit=limit, cursor=cursor)
        except BadCursor:
            raise ApiError(
                400, "query parameter 'cursor' is invalid: pass the nextCursor of a listing"
            ) from None
        out: dict[str, Any] = {"files": [listing_entry(o) for o in page.files]}
        if page.next_cursor:
            out["nextCursor"] = page.next_cursor
        return out

    @router.delete(
        "/connectors/files/{s3Key:path}",
        response_model=DeleteResponse,
        tags=["Files"],
        summary="Delete user file",
    )
    def delete_file(
        s3Key: Annotated[str, Path(min_length=1, max_length=1024)],
        caller: CallerDep,
    ) -> dict[str, Any]:
        try:
            files.delete_file(caller.user_id, s3Key)
        except NotFound:
            raise ApiError(404, "File not found") from None
        return {"success": True, "message": "File deleted successfully"}

    @router.post("/users", response_model=CreateUserResponse, tags=["Users"])
    def create_user(body: CreateUserRequest, caller: CallerDep) -> dict[str, Any]:
        if not _USERNAME.fullmatch(body.username):
            raise ApiError(
                400,
                "field 'username' must be 1-128 letters, digits or . _ @ + - characters",
            )
        if body.fullName is not None and len(body.fullName) > 256:
            raise ApiError(400, "field 'fullName' is longer than 256 characters")
        user = registry.create_user(caller.workspace_id, body.username, body.fullName)
        if user is None:
            raise ApiError(409, f"field 'username' {body.username!r} is already taken")
        return {"userId": user.user_id}

    @router.get("/users", response_model=UserList, tags=["Users"])
    def list_users(caller: CallerDep) -> dict[str, Any]:
        return {
            "users": [
                {
                    "userId": u.user_id,
                    "username": u.username,
                    "fullName": u.full_name,
                    "createdAt": u.created_at,
                }
                for u in registry.users(caller.workspace_id)
            ]
        }

    return router


def _require_text(field: str, value: str) -> None:
    if not value.strip():
        raise ApiError(400, f"field '{field}' must not be empty")


class BodyLimit:
    """Reject request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = error_response(413, f"request body is larger than {self.limit} bytes")
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await too_big(scope, receive, send)
                return
        # Bodies are small (JSON): buffer up to the limit, so a streamed body that grows
        # past it is refused before any handler sees it.
        buffered: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await too_big(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


def _operation_id(route: APIRoute) -> str:
    method = sorted(route.methods or {"get"})[0].lower()
    return f"{method}{re.sub(r'[^A-Za-z0-9]+', '_', route.path_format)}".rstrip("_")


def create_app(files: FileService, registry: Registry, drive: DriveStore) -> FastAPI:
    """The sandbox's ASGI app over a file service and a user registry."""
    app = FastAPI(
        title="Alloy Connectivity API (alloy_nb sandbox)",
        version="2025-09",
        description="Offline, Alloy-compatible File Management API on a real S3 server.",
        generate_unique_id_function=_operation_id,
    )
    install_error_handlers(app)
    routers = [_router(files, registry), actions_router(files, registry, drive)]
    for router in routers:
        app.include_router(router)
        for version in SUPPORTED_API_VERSIONS:
            app.include_router(router, prefix=f"/{version}")

    @app.get("/health", tags=["Sandbox"], responses={503: ERROR_RESPONSES[503]})
    def health() -> dict[str, str]:
        files.storage.ping()
        return {"status": "ok"}

    app.add_middleware(BodyLimit)
    app.openapi = lambda: _describe(app)  # type: ignore[method-assign]
    return app


def _describe(app: FastAPI) -> dict[str, Any]:
    """The generated schema, told the truth: errors are 400 (never 422), every call needs
    a bearer key and the version header."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)  # fmt: skip
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer", "description": "Authorization: Bearer API_KEY",
    }  # fmt: skip
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
