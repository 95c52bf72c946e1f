"""One connector action call, as data: what the builders return and ``execute_action`` sends."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from alloy_nb.connectors._ids import check_name

__all__ = ["ActionRequest"]

_WIRE = (
    ("request_body", "requestBody"),
    ("query_parameters", "queryParameters"),
    ("path_params", "pathParams"),
    ("additional_headers", "additionalHeaders"),
)


@dataclass(frozen=True, eq=False)
class ActionRequest(Mapping[str, Any]):
    """A connector action, all but the credential: pass it to ``Client.execute_action``.

    Read as a mapping, it is the execute body without ``credentialId`` (only the fields
    that are set), so it compares equal to the documented JSON.

    >>> request = ActionRequest("googleDrive", "listFiles", query_parameters={"fields": "*"})
    >>> dict(request)
    {'queryParameters': {'fields': '*'}}
    >>> request.body("6901cf34fa3f225f1ceaa28c")
    {'credentialId': '6901cf34fa3f225f1ceaa28c', 'queryParameters': {'fields': '*'}}
    """

    connector_id: str
    action_id: str
    request_body: dict[str, Any] | None = None
    query_parameters: dict[str, Any] | None = None
    path_params: dict[str, Any] | None = None
    additional_headers: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_name("connector_id", self.connector_id)
        check_name("action_id", self.action_id)

    def _fields(self) -> dict[str, Any]:
        values = ((wire, getattr(self, attr)) for attr, wire in _WIRE)
        return {wire: value for wire, value in values if value is not None}

    def __getitem__(self, key: str) -> Any:
        return self._fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ActionRequest):
            mine = (self.connector_id, self.action_id, self._fields())
            return mine == (other.connector_id, other.action_id, other._fields())
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]  # it holds dicts, like the body it stands for

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython: the ids, then the body
        p.text(f"ActionRequest {self.connector_id}/{self.action_id}")
        p.break_()
        p.pretty(self._fields())

    def body(self, credential_id: str) -> dict[str, Any]:
        """The execute request's JSON body with ``credentialId`` first."""
        return {"credentialId": credential_id, **self._fields()}
