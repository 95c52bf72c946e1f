"""Who is calling: the API key's workspace and the user it acts for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header

from alloy_nb._constants import SUPPORTED_API_VERSIONS
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._errors import HTTPProblem
from alloy_nb.sandbox._names import is_user_id


@dataclass(frozen=True)
class Caller:
    workspace_id: str
    user_id: str


def caller_dependency(registry: Registry) -> Any:
    def caller(
        authorization: Annotated[str | None, Header()] = None,
        x_api_version: Annotated[str | None, Header()] = None,
        x_alloy_userid: Annotated[str | None, Header()] = None,
    ) -> Caller:
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise HTTPProblem(
                401,
                "missing or malformed Authorization header: send 'Authorization: Bearer <API key>'",
                {"WWW-Authenticate": "Bearer"},
            )
        ws = registry.authenticate(key)
        if ws is None:
            raise HTTPProblem(401, "invalid API key", {"WWW-Authenticate": "Bearer"})
        supported = ", ".join(SUPPORTED_API_VERSIONS)
        if x_api_version is None:
            raise HTTPProblem(400, f"header 'x-api-version' is required; supported: {supported}")
        if x_api_version not in SUPPORTED_API_VERSIONS:
            raise HTTPProblem(
                400,
                f"header 'x-api-version' {x_api_version[:40]!r} is not supported; "
                f"supported: {supported}",
            )
        if x_alloy_userid is None:
            return Caller(ws.workspace_id, ws.default_user_id)
        if not is_user_id(x_alloy_userid):
            raise HTTPProblem(400, "header 'x-alloy-userid' must be a 24-character hex userId")
        if not registry.user_in_workspace(x_alloy_userid, ws.workspace_id):
            raise HTTPProblem(403, "header 'x-alloy-userid' is not a user of this API key")
        return Caller(ws.workspace_id, x_alloy_userid)

    return caller
