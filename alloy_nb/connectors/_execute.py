"""Sending one action request with a credential."""

from __future__ import annotations

from typing import Any

from alloy_nb._session import Session, segment
from alloy_nb.connectors._action import ActionRequest
from alloy_nb.connectors._ids import check_object_id

__all__ = ["execute"]


def execute(session: Session, request: ActionRequest, credential_id: str) -> Any:
    """Run ``request`` with a credential; the raw JSON answer (see ``unwrap_result``)."""
    check_object_id("credential_id", credential_id)
    connector, action = segment(request.connector_id), segment(request.action_id)
    path = f"/connectors/{connector}/actions/{action}/execute"
    return session.call(
        "POST",
        path,
        json=request.body(credential_id),
        context=f"{request.connector_id}/{request.action_id}",
    )
