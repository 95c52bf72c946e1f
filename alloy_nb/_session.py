"""What every call needs, in one object: the HTTP client, the API's address, who is calling,
the key (inside an ``httpx.Auth``) and the limits.

Modules that make calls (``_files``, ``_uploads``, ``connectors``) receive a :class:`Session`,
never the ``Client``, so imports run one way:
``_client -> (_files, _uploads, connectors) -> _session -> _http``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from alloy_nb import _http
from alloy_nb._constants import API_VERSION
from alloy_nb._exceptions import APIError, make_status_error
from alloy_nb._http import Limits

__all__ = ["Session", "segment"]


def segment(value: str) -> str:
    """``value`` as one URL path segment (a ``/`` inside it cannot reach another route)."""
    return quote(value, safe="")


@dataclass(frozen=True, repr=False)
class Session:
    """The HTTP client, the API's address, who is calling, and how far a call may go.

    >>> from alloy_nb._auth import BearerAuth
    >>> limits = Limits(max_retries=0, deadline=5.0, max_response_bytes=1024)
    >>> with httpx.Client() as http:
    ...     Session(http, "http://127.0.0.1:9", BearerAuth("sk-secret"), limits, user_id="u1")
    Session(base_url='http://127.0.0.1:9', user_id='u1')
    """

    http: httpx.Client
    base_url: str
    auth: httpx.Auth
    limits: Limits
    api_version: str = API_VERSION
    user_id: str | None = None
    hash_cache: bool | None = None  # None: follow $ALLOY_NB_HASH_CACHE

    def __repr__(self) -> str:
        return f"Session(base_url={self.base_url!r}, user_id={self.user_id!r})"

    def headers(self) -> dict[str, str]:
        """Headers of every API call; ``Authorization`` is added by :attr:`auth` on the way."""
        headers = {"x-api-version": self.api_version, "Accept": "application/json"}
        if self.user_id:
            headers["x-alloy-userid"] = self.user_id
        return headers

    def call(
        self,
        method: str,
        path: str,
        *,
        context: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Call the API with retries; the parsed JSON, or the matching error for a non-2xx
        answer (its message starts with ``context``)."""
        response = _http.send(
            self.http,
            method,
            self.base_url + path,
            limits=self.limits,
            auth=self.auth,
            headers=self.headers(),
            json=json,
            params=params,
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

    def send(
        self,
        method: str,
        url: str,
        *,
        content: Callable[[], Iterable[bytes]],
        headers: dict[str, str],
    ) -> httpx.Response:
        """A request outside the API (a presigned PUT to storage): no key, the same retries
        and limits; the answer is returned whatever its status."""
        return _http.send(
            self.http, method, url, limits=self.limits, content=content, headers=headers
        )
