"""A connector's credentials: list them as a DataFrame, create one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from alloy_nb._frames import CREDENTIAL_DTYPES, typed_frame
from alloy_nb._session import Session, segment

__all__ = ["create_credential", "credentials_frame", "list_credentials"]


def credentials_frame(payload: Any) -> pd.DataFrame:
    """``{"credentials": [...]}`` (or ``{"data": [...]}``) as typed rows.

    >>> credentials_frame({"credentials": [{"credentialId": "c1", "name": "n"}]}).iloc[0].tolist()
    ['c1', 'n', <NA>, <NA>, <NA>]
    """
    items: Iterable[dict[str, Any]] = payload.get("credentials", payload.get("data", []))
    rows = [
        {
            "credential_id": c.get("credentialId"),
            "name": c.get("name"),
            "type": c.get("type"),
            "created_at": c.get("createdAt"),
            "updated_at": c.get("updatedAt"),
        }
        for c in items
    ]
    return typed_frame(rows, CREDENTIAL_DTYPES)


def list_credentials(session: Session, connector_id: str) -> pd.DataFrame:
    payload = session.call(
        "GET",
        f"/connectors/{segment(connector_id)}/credentials",
        context=f"listing {connector_id} credentials",
    )
    return credentials_frame(payload)


def create_credential(session: Session, connector_id: str, name: str | None) -> Any:
    return session.call(
        "POST",
        f"/connectors/{segment(connector_id)}/credentials",
        json={"name": name} if name else {},
        context=f"creating a {connector_id} credential",
    )
