"""User routes: create and list the users of the caller's workspace (no storage needed)."""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, StrictStr

from alloy_nb.sandbox._auth import Caller, caller_dependency
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._errors import ERROR_RESPONSES, HTTPProblem
from alloy_nb.sandbox._validation import RequestBody

_USERNAME = re.compile(r"[\w.@+-]{1,128}")


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


def users_router(registry: Registry) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)
    CallerDep = Annotated[Caller, Depends(caller_dependency(registry))]

    @router.post("/users", response_model=CreateUserResponse, tags=["Users"])
    def create_user(body: CreateUserRequest, caller: CallerDep) -> dict[str, Any]:
        if not _USERNAME.fullmatch(body.username):
            raise HTTPProblem(
                400,
                "field 'username' must be 1-128 letters, digits or . _ @ + - characters",
            )
        if body.fullName is not None and len(body.fullName) > 256:
            raise HTTPProblem(400, "field 'fullName' is longer than 256 characters")
        user = registry.create_user(caller.workspace_id, body.username, body.fullName)
        if user is None:
            raise HTTPProblem(409, f"field 'username' {body.username!r} is already taken")
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
