"""A Client's arguments and environment -> one :class:`~alloy_nb._session.Session`, once."""

from __future__ import annotations

import os

import httpx

from alloy_nb._auth import BearerAuth
from alloy_nb._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_USER_ID,
)
from alloy_nb._deadline import deadline_transport
from alloy_nb._exceptions import MissingCredentialsError
from alloy_nb._http import Limits
from alloy_nb._session import Session

__all__ = ["make_session"]

_NO_KEY = (
    "no Alloy API key: pass Client(api_key=...) or set the {env} environment variable "
    "(Dashboard -> Settings -> API Keys). To try alloy_nb offline, use alloy_nb.connect(), "
    "which starts a local sandbox when no key is configured."
)
_TIMEOUT_AND_CLIENT = (
    "pass timeout= or http_client=, not both: an http_client keeps its own timeouts "
    "(set them with httpx.Client(timeout=...))"
)


def _http_client(timeout: float | httpx.Timeout | None) -> httpx.Client:
    """The client alloy_nb owns: default timeouts, a pool, the deadline in every read."""
    if not isinstance(timeout, httpx.Timeout):
        seconds = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout
        timeout = httpx.Timeout(seconds, connect=DEFAULT_CONNECT_TIMEOUT_SECONDS)
    # Keep-alive limit = connection limit: httpcore closes every idle connection once more
    # than max_keepalive_connections are open, so a lower one churns connections under
    # upload_many (measured: 438 connections for 300 files at 32 workers).
    pool = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.Client(timeout=timeout, transport=deadline_transport(pool))


def make_session(
    api_key: str | None,
    *,
    base_url: str | None,
    api_version: str,
    user_id: str | None,
    timeout: float | httpx.Timeout | None,
    limits: Limits,
    http_client: httpx.Client | None,
    hash_cache: bool | None = None,
) -> Session:
    """Arguments first, then ``$ALLOY_API_KEY``, ``$ALLOY_BASE_URL``, ``$ALLOY_USER_ID``;
    an ``httpx.Client`` is made when none is given (the caller owns closing it then)."""
    if http_client is not None and timeout is not None:
        raise ValueError(_TIMEOUT_AND_CLIENT)
    key = api_key or os.environ.get(ENV_API_KEY)
    if not key:
        raise MissingCredentialsError(_NO_KEY.format(env=ENV_API_KEY))
    auth = BearerAuth(key)
    del api_key, key  # frames' locals reach error reports; the key lives in auth only
    return Session(
        http=_http_client(timeout) if http_client is None else http_client,
        base_url=(base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/"),
        auth=auth,
        limits=limits,
        api_version=api_version,
        user_id=user_id or os.environ.get(ENV_USER_ID) or None,
        hash_cache=hash_cache,
    )
