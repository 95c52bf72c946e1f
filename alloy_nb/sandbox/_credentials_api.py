"""Credential routes: create and list a user's connector credentials (no OAuth offline)."""

# No `from __future__ import annotations` here: FastAPI resolves route annotations at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, Field, StrictStr

from alloy_nb.sandbox._auth import Caller, caller_dependency
from alloy_nb.sandbox._db import Credentials, Registry
from alloy_nb.sandbox._errors import ERROR_RESPONSES, HTTPProblem
from alloy_nb.sandbox._validation import RequestBody

# Connectors the sandbox can hold credentials for; only Google Drive has emulated actions.
CONNECTORS = {
    "googleDrive": {"type": "googleDrive-oauth2", "label": "Google Drive"},
    "slack": {"type": "slack-oauth2", "label": "Slack"},
}

ConnectorId = Annotated[str, Path(min_length=1, max_length=64)]


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


def _connector(connector_id: str) -> dict[str, str]:
    if connector_id not in CONNECTORS:
        offered = ", ".join(CONNECTORS)
        raise HTTPProblem(
            404, f"Connector not found: {connector_id[:64]!r}; the sandbox offers {offered}"
        )
    return CONNECTORS[connector_id]


def credentials_router(registry: Registry) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES, tags=["Credentials"])
    credentials = Credentials(registry)
    CallerDep = Annotated[Caller, Depends(caller_dependency(registry))]

    @router.post(
        "/connectors/{connectorId}/credentials",
        response_model=CredentialEntry,
        summary="Create a sandbox credential (no OAuth needed offline)",
    )
    def create_credential(
        connectorId: ConnectorId,
        caller: CallerDep,
        body: Annotated[CreateCredentialRequest | None, Body()] = None,
    ) -> dict[str, str]:
        info = _connector(connectorId)
        name = (body.name if body else None) or f"Sandbox {info['label']} credential"
        return credentials.create(caller.user_id, connectorId, name, info["type"]).as_json()

    @router.get(
        "/connectors/{connectorId}/credentials",
        response_model=CredentialList,
        summary="Get connector credentials",
    )
    def list_credentials(connectorId: ConnectorId, caller: CallerDep) -> dict[str, Any]:
        _connector(connectorId)
        held = credentials.of_user(caller.user_id, connectorId)
        return {"credentials": [c.as_json() for c in held]}

    return router
