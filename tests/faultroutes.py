"""Clients that reach the sandbox through a :class:`~tests.faultproxy.FaultProxy`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from alloy_nb import Client
from alloy_nb.sandbox import Sandbox

from .faultproxy import FaultProxy
from .helpers import WORKSPACE_KEYS


class RerouteTransport(httpx.HTTPTransport):
    """Connects to ``routes[(host, port)]`` instead of the URL's own port, sending the URL's
    Host header unchanged.

    Presigned URLs sign the Host header, port included, so a proxy on another port cannot
    simply be written into the URL. httpx builds the Host header from the URL when the
    request is created; changing ``request.url`` here, just before the connection is made,
    moves only the TCP target: storage still sees the signed ``Host: 127.0.0.1:S3PORT`` and
    the signature stays valid. ``rewrite`` may edit the URL (to tamper with it) as well.
    """

    def __init__(
        self,
        routes: dict[tuple[str, int], int],
        rewrite: Callable[[httpx.URL], httpx.URL] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.routes = routes
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if self.rewrite is not None:
            url = self.rewrite(url)
        port = self.routes.get((url.host, url.port or 80))
        request.url = url.copy_with(port=port) if port else url
        return super().handle_request(request)


def proxied_client(
    base_url: str, user_id: str | None, *, timeout: float = 2.0, max_retries: int = 3
) -> Client:
    return Client(
        WORKSPACE_KEYS[0],
        base_url=base_url,
        user_id=user_id,
        timeout=httpx.Timeout(timeout),
        max_retries=max_retries,
    )


@contextlib.contextmanager
def storage_routed_client(
    sandbox: Sandbox,
    proxy: FaultProxy,
    user_id: str | None,
    *,
    timeout: float = 2.0,
    max_retries: int = 3,
    rewrite: Callable[[httpx.URL], httpx.URL] | None = None,
) -> Iterator[Client]:
    """A client whose API calls go straight to the sandbox and whose PUTs cross ``proxy``."""
    url = urlsplit(sandbox.storage.endpoint_url)
    transport = RerouteTransport({(url.hostname or "", url.port or 80): proxy.port}, rewrite)
    http = httpx.Client(transport=transport, timeout=httpx.Timeout(timeout))
    try:
        with Client(
            WORKSPACE_KEYS[0],
            base_url=sandbox.base_url,
            user_id=user_id,
            http_client=http,
            max_retries=max_retries,
        ) as c:
            yield c
    finally:
        http.close()
