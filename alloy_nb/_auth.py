"""The API key: added to API requests inside httpx's auth flow, never held in a header dict.

Error reporters and IPython's ``%xmode Verbose`` print every frame's locals. A header dict
built by the client would carry ``Authorization: Bearer <key>`` into those locals; here the
key lives only inside :class:`BearerAuth`, whose repr hides it, and reaches the request's
headers (which httpx prints as ``[secure]``) in the transport flow.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

__all__ = ["BearerAuth"]


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <key>`` to each request it is passed for."""

    def __init__(self, key: str) -> None:
        self.__key = key

    def __repr__(self) -> str:
        return "BearerAuth(key='…')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer " + self.__key
        yield request
