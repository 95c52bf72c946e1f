"""Who is calling: the API key's workspace and the user it acts for.

Answers found in the registry are remembered (workspaces and users are never deleted, so a
positive answer stays true), which keeps authentication off the worker threads: the
dependency is async and touches SQLite only for what it has not seen yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header

from alloy_nb._constants import SUPPORTED_API_VERSIONS
from alloy_nb.sandbox._db import Registry, Workspace, hash_api_key
from alloy_nb.sandbox._errors import HTTPProblem
from alloy_nb.sandbox._names import is_user_id


@dataclass(frozen=True)
class Caller:
    workspace_id: str
    user_id: str


class _Seen:
    """Positive registry answers, bounded (forgotten all at once when full)."""

    LIMIT = 10_000

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.workspaces: dict[str, Workspace] = {}
        self.members: set[tuple[str, str]] = set()

    def workspace(self, api_key: str) -> Workspace | None:
        key_hash = hash_api_key(api_key)
        ws = self.workspaces.get(key_hash)
        if ws is None:
            ws = self.registry.authenticate(api_key)
            if ws is not None:
                if len(self.workspaces) >= self.LIMIT:
                    self.workspaces.clear()
                self.workspaces[key_hash] = ws
        return ws

    def member(self, user_id: str, workspace_id: str) -> bool:
        if (user_id, workspace_id) in self.members:
            return True
        if not self.registry.user_in_workspace(user_id, workspace_id):
            return False
        if len(self.members) >= self.LIMIT:
            self.members.clear()
        self.members.add((user_id, workspace_id))
        return True


def caller_dependency(registry: Registry) -> Any:
    seen = _Seen(registry)

    async def caller(
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
        ws = seen.workspace(key)
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
        if not seen.member(x_alloy_userid, ws.workspace_id):
            raise HTTPProblem(403, "header 'x-alloy-userid' is not a user of this API key")
        return Caller(ws.workspace_id, x_alloy_userid)

    return caller
