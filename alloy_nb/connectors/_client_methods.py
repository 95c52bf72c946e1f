"""The Client's connector methods: execute an action, send files to Drive, credentials.

A base class of :class:`alloy_nb.Client`; it needs only the client's ``_session``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from alloy_nb._session import Session
from alloy_nb.connectors import _credentials, _sending
from alloy_nb.connectors._action import ActionRequest
from alloy_nb.connectors._execute import execute
from alloy_nb.connectors._ids import check_object_id

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ConnectorMethods"]


class ConnectorMethods:
    """Connector actions over a :class:`~alloy_nb._session.Session`."""

    _session: Session

    @overload
    def execute_action(self, request: ActionRequest, /, *, credential_id: str) -> Any: ...

    @overload
    def execute_action(
        self,
        connector_id: str,
        action_id: str,
        *,
        credential_id: str,
        request_body: dict[str, Any] | None = None,
        query_parameters: dict[str, Any] | None = None,
        path_params: dict[str, Any] | None = None,
        additional_headers: dict[str, Any] | None = None,
    ) -> Any: ...

    def execute_action(
        self,
        connector_id: str | ActionRequest,
        action_id: str | None = None,
        *,
        credential_id: str,
        **fields: dict[str, Any] | None,
    ) -> Any:
        """Run a connector action; returns the raw JSON (see :func:`alloy_nb.unwrap_result`).

        Pass a request from a builder (``google_drive.upload_file(s3_key)``), or the
        connector and action ids with the body's fields. The credential id is checked
        (24 hex characters) before anything is sent. See :meth:`send_to_google_drive`
        for an example.
        """
        check_object_id("credential_id", credential_id)
        if isinstance(connector_id, ActionRequest):
            if action_id is not None or fields:
                raise TypeError("pass an ActionRequest alone, or ids and fields without one")
            request = connector_id
        else:
            request = ActionRequest(connector_id, action_id, **fields)  # type: ignore[arg-type]
        return execute(self._session, request, credential_id)

    def send_to_google_drive(
        self, files: Any, credential_id: str, *, parents: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Copy stored files into Google Drive; one row per file (s3_key, drive_file_id, name,
        mime_type, error).

        ``files`` is an s3Key, an :class:`~alloy_nb.UploadResult`, a list of them, or a
        DataFrame from ``list_files()`` or ``upload_many()`` (failed upload rows are skipped).

        Example, against an offline sandbox (which creates Drive credentials on request):

        >>> import alloy_nb.sandbox
        >>> from alloy_nb import Client
        >>> from alloy_nb.connectors import google_drive, unwrap_result
        >>> with alloy_nb.sandbox.start() as sb, Client(sb.api_key, base_url=sb.base_url) as c:
        ...     cred = c.create_credential("googleDrive", name="demo")["credentialId"]
        ...     print(c.list_credentials("googleDrive")["name"].tolist())
        ...     stored = c.upload(b"%PDF-1.4 q3", filename="q3.pdf", progress=False)
        ...     sent = c.send_to_google_drive(stored, cred)
        ...     print(sent[["name", "mime_type"]].values.tolist(), sent["error"].isna().all())
        ...     raw = c.execute_action(google_drive.list_files(), credential_id=cred)
        ...     print([(f["name"], f["size"]) for f in unwrap_result(raw)["files"]])
        ['demo']
        [['q3.pdf', 'application/pdf']] True
        [('q3.pdf', '11')]
        """
        return _sending.send_to_google_drive(self._session, files, credential_id, parents)

    def list_credentials(self, connector_id: str) -> pd.DataFrame:
        """The user's credentials for a connector (credential_id, name, type, created_at, ...)."""
        return _credentials.list_credentials(self._session, connector_id)

    def create_credential(self, connector_id: str, *, name: str | None = None) -> Any:
        """Create a credential; the sandbox answers ``{"credentialId", ...}`` at once, while
        the real API may answer with an ``oauthUrl`` to finish in a browser."""
        return _credentials.create_credential(self._session, connector_id, name)
