"""``Client``: the typed entry point to Alloy's File Management API and connector actions.

A facade: it builds one :class:`~alloy_nb._session.Session` from its arguments and the
environment (``_settings``) and hands it to the modules that make the calls (``_files``,
``_uploads``; connector actions come from ``connectors._client_methods``); none of them
imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx

from alloy_nb import _files, _uploads
from alloy_nb._constants import (
    API_VERSION,
    DEFAULT_DEADLINE_SECONDS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WORKERS,
    LIST_PAGE_SIZE,
)
from alloy_nb._frames import deletes_frame, files_frame, uploads_frame
from alloy_nb._http import Limits
from alloy_nb._models import UploadResult, UploadTicket
from alloy_nb._settings import make_session
from alloy_nb.connectors._client_methods import ConnectorMethods

if TYPE_CHECKING:
    import pandas as pd

    from alloy_nb._sources import UploadSource
    from alloy_nb._uploads import ProgressHook

__all__ = ["Client"]


class Client(ConnectorMethods):
    """A client for Alloy's File Management API and its connector actions.

    Args:
        api_key: the API key; defaults to ``$ALLOY_API_KEY``. It is kept out of reprs,
            logs, errors and frames' locals.
        base_url: defaults to ``$ALLOY_BASE_URL``, then ``https://production.runalloy.com``.
        api_version: sent as ``x-api-version`` (default ``2025-09``).
        user_id: sent as ``x-alloy-userid`` to act for one of the key's users; defaults to
            ``$ALLOY_USER_ID``, else none.
        timeout: seconds each read, write and wait for a pooled connection may take (a
            connect: 10 s), or an ``httpx.Timeout``; default 60. Refused together with
            ``http_client``, which keeps its own.
        deadline: seconds one request to the API may take in all, retries and waits
            included, even against a server that sends a byte at a time (default 300;
            ``None``: no limit). A file's bytes are timed per chunk by ``timeout`` instead,
            and the answer after its last byte gets the whole deadline. With
            ``http_client``, it is checked between reads.
        max_retries: how often 408, 429, 5xx, timeouts and dropped connections are
            retried (default 3), with exponential backoff and ``Retry-After`` (<= 60 s).
        max_response_bytes: the largest answer held in memory (default 64 MiB); a larger
            one is an :class:`~alloy_nb.APIError`.
        hash_cache: remember the MD5 of unchanged files named by a path, so they are not
            hashed again (default ``None``: on unless ``$ALLOY_NB_HASH_CACHE`` is ``0``;
            see :func:`alloy_nb.md5_file`). Never used for bytes, file objects or DataFrames.
        http_client: an ``httpx.Client`` to use and not close (its timeouts, proxies and
            event hooks apply); by default one is made and closed by :meth:`close`.

    Example, against an offline sandbox (with a real account, ``alloy_nb.Client()`` reads
    ``$ALLOY_API_KEY``):

    >>> import tempfile
    >>> from pathlib import Path
    >>> import alloy_nb.sandbox
    >>> with (
    ...     alloy_nb.sandbox.start() as sb,
    ...     Client(sb.api_key, base_url=sb.base_url) as client,
    ...     tempfile.TemporaryDirectory() as folder,
    ... ):
    ...     first = client.upload(b"a,b\\n1,2\\n", filename="report.csv", progress=False)
    ...     again = client.upload(b"a,b\\n1,2\\n", filename="copy.csv", progress=False)
    ...     print(first.type, again.type, again.s3_key == first.s3_key)  # stored once
    ...     for month in ("jan", "feb"):
    ...         _ = Path(folder, f"{month}.csv").write_text(f"month\\n{month}\\n")
    ...     paths = [*sorted(Path(folder).glob("*.csv")), Path(folder, "mar.csv")]
    ...     batch = client.upload_many(paths, progress=False)  # one row per source
    ...     print(batch["filename"].tolist(), batch["error"].notna().tolist())
    ...     files = client.list_files()
    ...     print(files["filename"].tolist(), files["size"].tolist())
    ...     gone = client.delete_files(files[files["filename"] != "report.csv"])
    ...     print(gone["deleted"].tolist(), client.list_files()["filename"].tolist())
    new existing True
    ['feb.csv', 'jan.csv', <NA>] [False, False, True]
    ['feb.csv', 'jan.csv', 'report.csv'] [10, 10, 8]
    [True, True] ['report.csv']
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str = API_VERSION,
        user_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = DEFAULT_DEADLINE_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        hash_cache: bool | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._owns_http = http_client is None
        self._session = make_session(
            api_key,
            base_url=base_url,
            api_version=api_version,
            user_id=user_id,
            timeout=timeout,
            limits=Limits(max_retries, deadline, max_response_bytes),
            http_client=http_client,
            hash_cache=hash_cache,
        )

    @property
    def base_url(self) -> str:
        """Where the API is, without a trailing slash."""
        return self._session.base_url

    @property
    def api_version(self) -> str:
        return self._session.api_version

    @property
    def user_id(self) -> str | None:
        """The user this client acts for (``x-alloy-userid``), if any."""
        return self._session.user_id

    @property
    def http(self) -> httpx.Client:
        """The ``httpx.Client`` in use."""
        return self._session.http

    @property
    def limits(self) -> Limits:
        """``max_retries``, ``deadline`` and ``max_response_bytes``."""
        return self._session.limits

    @property
    def max_retries(self) -> int:
        return self._session.limits.max_retries

    def __repr__(self) -> str:
        user = f", user_id={self.user_id!r}" if self.user_id else ""
        return f"alloy_nb.Client(base_url={self.base_url!r}{user})"

    def close(self) -> None:
        """Close the HTTP connection pool (unless it was passed in)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- files ----

    def request_upload(self, filename: str, mime_type: str, md5: str) -> UploadTicket:
        """Ask for a presigned PUT URL; ``md5`` in hex or base64.

        ``ticket.type == "existing"`` means the bytes are already stored under ``s3_key``.
        """
        return _files.request_upload(self._session, filename, mime_type, md5)

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
        """
        return _uploads.upload_one(
            self._session,
            source,
            filename=filename,
            mime_type=mime_type,
            progress=progress,
            on_progress=on_progress,
            on_hash_progress=on_hash_progress,
        )

    def upload_many(
        self,
        sources: Iterable[UploadSource],
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Upload many sources concurrently; one row per source, in order, failures in
        ``error`` (the batch goes on)."""
        rows = _uploads.upload_many(
            self._session, sources, max_workers=max_workers, progress=progress
        )
        return uploads_frame(rows)

    def list_files(self, *, page_size: int | None = LIST_PAGE_SIZE) -> pd.DataFrame:
        """The caller's files as ``s3_key, filename, size, last_modified`` sorted by key.

        Follows the ``limit``/``cursor`` paging extension when the server offers it; a
        server without it returns everything at once. ``page_size=None`` sends no paging
        parameters at all. A cursor that repeats, or pages that never end, stop the
        listing with an :class:`~alloy_nb.APIError`.
        """
        return files_frame(_files.list_entries(self._session, page_size))

    def delete_file(self, s3_key: str) -> None:
        """Delete one of the caller's files; a foreign or missing key raises NotFoundError."""
        _files.delete_file(self._session, s3_key)

    def delete_files(
        self, keys: Iterable[str] | pd.DataFrame, *, max_workers: int = DEFAULT_MAX_WORKERS
    ) -> pd.DataFrame:
        """Delete many keys (or the ``s3_key`` column of a listing); one row per key."""
        if hasattr(keys, "columns"):
            keys = keys["s3_key"].tolist()  # type: ignore[index]
        return deletes_frame(_files.delete_files(self._session, keys, max_workers))
