"""File Management routes: request an upload URL, list, delete."""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field, StrictStr

from alloy_nb._constants import MAX_FILENAME_BYTES
from alloy_nb._md5 import parse_md5
from alloy_nb.sandbox._auth import Caller, caller_dependency
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._errors import ERROR_RESPONSES, HTTPProblem
from alloy_nb.sandbox._files import MAX_PAGE, BadCursor, FileService, NotFound, listing_json
from alloy_nb.sandbox._gate import StorageGate
from alloy_nb.sandbox._validation import RequestBody

_MIME = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=[\w.+\-\"]+)*")


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


def require_text(field: str, value: str) -> None:
    if not value.strip():
        raise HTTPProblem(400, f"field '{field}' must not be empty")


def files_router(files: FileService, registry: Registry, gate: StorageGate) -> APIRouter:
    """Every storage call goes through ``gate``; authentication runs before, without it."""
    router = APIRouter(responses=ERROR_RESPONSES)
    CallerDep = Annotated[Caller, Depends(caller_dependency(registry))]

    @router.post(
        "/connectors/files/upload/request",
        response_model=UploadResponse,
        tags=["Files"],
        summary="Generate presigned upload URL",
    )
    async def request_upload(body: UploadRequest, caller: CallerDep) -> dict[str, Any]:
        require_text("filename", body.filename)
        if len(body.filename.encode("utf-8")) > MAX_FILENAME_BYTES:
            raise HTTPProblem(400, f"field 'filename' is longer than {MAX_FILENAME_BYTES} bytes")
        require_text("mimeType", body.mimeType)
        if not _MIME.fullmatch(body.mimeType) or len(body.mimeType) > 255:
            raise HTTPProblem(400, "field 'mimeType' must be a MIME type such as 'application/pdf'")
        require_text("md5", body.md5)
        try:
            md5 = parse_md5(body.md5)
        except ValueError as e:
            raise HTTPProblem(400, f"field {e}") from None
        t = await gate.run(files.request_upload, caller.user_id, body.filename, body.mimeType, md5)
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
    async def list_files(
        caller: CallerDep,
        limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
        cursor: Annotated[str | None, Query(max_length=4096)] = None,
    ) -> Response:
        # Encoded here rather than validated against FileList (which still documents it):
        # a listing is built from the sandbox's own rows, and per-row models dominated it.
        def page() -> bytes:
            try:
                found = files.list_files(caller.user_id, limit=limit, cursor=cursor)
            except BadCursor:
                raise HTTPProblem(
                    400, "query parameter 'cursor' is invalid: pass the nextCursor of a listing"
                ) from None
            return listing_json(found.files, found.next_cursor)

        return Response(await gate.run(page), media_type="application/json")

    @router.delete(
        "/connectors/files/{s3Key:path}",
        response_model=DeleteResponse,
        tags=["Files"],
        summary="Delete user file",
    )
    async def delete_file(
        s3Key: Annotated[str, Path(min_length=1, max_length=1024)],
        caller: CallerDep,
    ) -> dict[str, Any]:
        try:
            await gate.run(files.delete_file, caller.user_id, s3Key)
        except NotFound:
            raise HTTPProblem(404, "File not found") from None
        return {"success": True, "message": "File deleted successfully"}

    return router
