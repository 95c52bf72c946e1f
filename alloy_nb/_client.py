"""``Client``: the typed entry point to Alloy's File Management API."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from alloy_nb import _http
from alloy_nb._auth import BearerAuth
from alloy_nb._bridge import check_object_id, credentials_frame, send_to_google_drive
from alloy_nb._constants import (
    API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_DEADLINE_SECONDS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WORKERS,
    DEFAULT_TIMEOUT_SECONDS,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_USER_ID,
    LIST_PAGE_SIZE,
    MAX_LIST_PAGES,
)
from alloy_nb._deadline import deadline_transport
from alloy_nb._exceptions import APIError, MissingCredentialsError, make_status_error
from alloy_nb._frames import deletes_frame, files_frame, uploads_frame
from alloy_nb._http import Limits
from alloy_nb._md5 import to_hex
from alloy_nb._models import UploadResult, UploadTicket
from alloy_nb._uploads import ProgressHook, upload_many, upload_one

if TYPE_CHECKING:
    import pandas as pd

    from alloy_nb._sources import UploadSource

__all__ = ["Client"]

_NO_KEY = (
    "no Alloy API key: pass Client(api_key=...) or set the {env} environment variable "
    "(Dashboard -> Settings -> API Keys). To try alloy_nb offline, use alloy_nb.connect(), "
    "which starts a local sandbox when no key is configured."
)


class Client:
    """A client for Alloy's File Management API.

    Args:
        api_key: defaults to ``$ALLOY_API_KEY``.
        base_url: defaults to ``$ALLOY_BASE_URL``, then ``https://production.runalloy.com``.
        user_id: sent as ``x-alloy-userid``; defaults to ``$ALLOY_USER_ID``.
        deadline: seconds one request to the API may take in all, retries and waits
            included (default 300; ``None``: no limit). A file's bytes are timed per chunk
            instead, and the answer after its last byte gets the whole deadline.
        max_response_bytes: the largest answer held in memory (default 64 MiB).
        http_client: an ``httpx.Client`` to use (and not close); one is made otherwise.

    Example::

        client = alloy_nb.Client()                # from the environment
        result = client.upload("report.csv")      # hash, request, PUT (or skip if stored)
        client.list_files()                       # a DataFrame
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str = API_VERSION,
        user_id: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        deadline: float | None = DEFAULT_DEADLINE_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_client: httpx.Client | None = None,
    ) -> None:
        key = api_key or os.environ.get(ENV_API_KEY)
        if not key:
            raise MissingCredentialsError(_NO_KEY.format(env=ENV_API_KEY))
        self._auth = BearerAuth(key)
        del api_key, key  # frames' locals reach error reports; the key lives in _auth only
        self.base_url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
        self.api_version = api_version
        self.user_id = user_id or os.environ.get(ENV_USER_ID) or None
        self.limits = Limits(max_retries, deadline, max_response_bytes)
        self._owns_http = http_client is None
        if http_client is None:
            if not isinstance(timeout, httpx.Timeout):
                timeout = httpx.Timeout(timeout, connect=DEFAULT_CONNECT_TIMEOUT_SECONDS)
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
            transport, _ = deadline_transport(limits)
            http_client = httpx.Client(timeout=timeout, transport=transport)
        self.http = http_client

    def __repr__(self) -> str:
        user = f", user_id={self.user_id!r}" if self.user_id else ""
        return f"alloy_nb.Client(base_url={self.base_url!r}{user})"

    @property
    def max_retries(self) -> int:
        return self.limits.max_retries

    def close(self) -> None:
        """Close the HTTP connection pool (unless it was passed in)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ----

    def _headers(self) -> dict[str, str]:
        headers = {
            "x-api-version": self.api_version,
            "Accept": "application/json",
        }
        if self.user_id:
            headers["x-alloy-userid"] = self.user_id
        return headers

    def _api(self, method: str, path: str, *, context: str, **kwargs: Any) -> Any:
        """Call the API with retries; raise the matching error for a non-2xx answer."""
        response = _http.send(
            self.http,
            method,
            self.base_url + path,
            limits=self.limits,
            auth=self._auth,
            headers=self._headers(),
            **kwargs,
        )
        if not response.is_success:
            raise make_status_error(response, context=context)
        try:
            return response.json()
        except ValueError as e:  # e.g. a reply cut short on a connection without a length
            raise APIError(
                f"{context}: the server's answer is not valid JSON ({e}); retry the call",
                request=response.request,
            ) from e

    # ---- files ----

    def request_upload(self, filename: str, mime_type: str, md5: str) -> UploadTicket:
        """Ask for a presigned PUT URL; ``md5`` in hex or base64.

        ``ticket.type == "existing"`` means the bytes are already stored under ``s3_key``.
        """
        body = {"filename": filename, "mimeType": mime_type, "md5": to_hex(md5)}
        payload = self._api(
            "POST", "/connectors/files/upload/request", json=body,
            context=f"upload request for {filename}",
        )  # fmt: skip
        return UploadTicket.from_response(payload)

    def upload(
        self,
        source: UploadSource,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        progress: bool = True,
        on_progress: ProgressHook | None = None,
        on_hash_progress: ProgressHook | None = None,
    ) -> UploadResult:
        """Upload a path, bytes, a binary file object or a DataFrame; skip it if stored.

        The MIME type is guessed from the name when not given. A DataFrame is written as
        CSV, Parquet or JSON lines by the extension of ``filename`` (default
        ``dataframe.csv``) through a temporary file. ``on_hash_progress(done, total)`` and
        ``on_progress(done, total)`` report bytes hashed and bytes sent.

        Example::

            >>> client.upload("figures/plot.png")            # doctest: +SKIP
            UploadResult(s3_key='651e…_plot.png', filename='plot.png', type='new', ...)
            >>> client.upload(df, filename="scores.parquet")  # doctest: +SKIP
        """
        return upload_one(
            self, source, filename=filename, mime_type=mime_type, progress=progress,
            on_progress=on_progress, on_hash_progress=on_hash_progress,
        )  # fmt: skip

    def upload_many(
        self,
        sources: Iterable[UploadSource],
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Upload many sources concurrently; one row per source, failures in ``error``.

        Example::

            >>> df = client.upload_many(sorted(Path("exports").glob("*.csv")))  # doctest: +SKIP
            >>> df[df.error.notna()]                                            # doctest: +SKIP
        """
        rows = upload_many(self, sources, max_workers=max_workers, progress=progress)
        return uploads_frame(rows)

    def list_files(self, *, page_size: int | None = LIST_PAGE_SIZE) -> pd.DataFrame:
        """The caller's files as ``s3_key, filename, size, last_modified`` sorted by key.

        Follows the ``limit``/``cursor`` paging extension when the server offers it; a
        server without it returns everything at once. ``page_size=None`` sends no paging
        parameters at all.
        """
        files: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            params: dict[str, Any] = {}
            if page_size is not None:
                params["limit"] = page_size
            if cursor:
                params["cursor"] = cursor
            page = self._api(
                "GET", "/connectors/files/list", params=params, context="listing files"
            )
            files.extend(page.get("files", []))
            cursor = page.get("nextCursor")
            if not cursor:
                return files_frame(files)
            if not isinstance(cursor, str) or cursor in seen:
                raise APIError(
                    f"listing files: the server sent the page cursor {cursor!r:.60} again; "
                    "the listing would never end, so it was stopped"
                )
            seen.add(cursor)
        raise APIError(
            f"listing files: still more pages after {MAX_LIST_PAGES:,}; the listing was "
            "stopped (a server that never ends its pages)"
        )

    def delete_file(self, s3_key: str) -> None:
        """Delete one of the caller's files; a foreign or missing key raises NotFoundError."""
        self._api(
            "DELETE", "/connectors/files/" + quote(s3_key, safe=""),
            context=f"deleting {s3_key}",
        )  # fmt: skip

    def delete_files(
        self, keys: Iterable[str] | pd.DataFrame, *, max_workers: int = DEFAULT_MAX_WORKERS
    ) -> pd.DataFrame:
        """Delete many keys (or the ``s3_key`` column of a listing); one row per key.

        Example::

            >>> files = client.list_files()                                  # doctest: +SKIP
            >>> client.delete_files(files[files.filename.str.endswith(".tmp")])  # doctest: +SKIP
        """
        if hasattr(keys, "columns"):
            keys = keys["s3_key"].tolist()  # type: ignore[index]
        key_list = [str(k) for k in keys]

        def one(key: str) -> dict[str, Any]:
            try:
                self.delete_file(key)
            except Exception as e:  # broad on purpose: reported per key; the batch goes on
                return {"s3_key": key, "deleted": False, "error": f"{type(e).__name__}: {e}"}
            return {"s3_key": key, "deleted": True, "error": None}

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            return deletes_frame(list(pool.map(one, key_list)))

    # ---- connector actions ----

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
    ) -> Any:
        """Run a connector action; returns the raw JSON (see :func:`alloy_nb.unwrap_result`).

        Example::

            >>> from alloy_nb.connectors import google_drive
            >>> payload = google_drive.upload_file(result.s3_key)          # doctest: +SKIP
            >>> client.execute_action(                                     # doctest: +SKIP
            ...     "googleDrive", "uploadFile", credential_id=cred,
            ...     request_body=payload["requestBody"],
            ...     query_parameters=payload["queryParameters"])
        """
        check_object_id("credential_id", credential_id)
        for label, ident in (("connector_id", connector_id), ("action_id", action_id)):
            if not isinstance(ident, str) or not ident or "/" in ident:
                raise ValueError(f"{label} must be a non-empty name such as 'googleDrive'")
        body: dict[str, Any] = {"credentialId": credential_id}
        for key, value in (
            ("requestBody", request_body), ("queryParameters", query_parameters),
            ("pathParams", path_params), ("additionalHeaders", additional_headers),
        ):  # fmt: skip
            if value is not None:
                body[key] = value
        return self._api(
            "POST", f"/connectors/{quote(connector_id, safe='')}/actions/"
            f"{quote(action_id, safe='')}/execute", json=body,
            context=f"{connector_id}/{action_id}",
        )  # fmt: skip

    def send_to_google_drive(
        self, files: Any, credential_id: str, *, parents: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Copy stored files into Google Drive; one row per file (s3_key, drive_file_id, name,
        mime_type, error).

        ``files`` is an s3Key, an :class:`UploadResult`, a list of them, or a DataFrame from
        :meth:`list_files` or :meth:`upload_many` (failed upload rows are skipped).

        Example::

            >>> client.send_to_google_drive(client.upload("report.pdf"), cred)  # doctest: +SKIP
        """
        return send_to_google_drive(self, files, credential_id, parents)

    def list_credentials(self, connector_id: str) -> pd.DataFrame:
        """The user's credentials for a connector (credential_id, name, type, created_at, ...)."""
        payload = self._api(
            "GET", f"/connectors/{quote(connector_id, safe='')}/credentials",
            context=f"listing {connector_id} credentials",
        )  # fmt: skip
        return credentials_frame(payload)

    def create_credential(self, connector_id: str, *, name: str | None = None) -> Any:
        """Create a credential; the sandbox answers ``{"credentialId", ...}`` at once, while
        the real API may answer with an ``oauthUrl`` to finish in a browser."""
        return self._api(
            "POST", f"/connectors/{quote(connector_id, safe='')}/credentials",
            json={"name": name} if name else {}, context=f"creating a {connector_id} credential",
        )  # fmt: skip
