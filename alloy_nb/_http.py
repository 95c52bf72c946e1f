"""The one retry loop: 429, 5xx, timeouts and dropped connections, with backoff and jitter.

Why repeating is safe here: every call alloy_nb retries is idempotent on the server.
Requesting an upload URL again returns the same key for the same bytes (the server
deduplicates by MD5), listing and deleting change nothing twice, and a presigned PUT signs
its ``Content-MD5``, so a repeated PUT can only write the very same bytes to the same key.
A file body is rewound to its start before each attempt (``content`` is a factory that
builds a fresh stream every time).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from alloy_nb._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY
from alloy_nb._exceptions import APIConnectionError, APITimeoutError

log = logging.getLogger("alloy_nb")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

_sleep = time.sleep  # tests replace this to record delays instead of waiting


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` seconds or HTTP date), if any."""
    value = response.headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int) -> float:
    """Exponential from INITIAL_RETRY_DELAY, capped, with up to 25% jitter taken off."""
    delay: float = min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)
    return delay * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not crypto


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_retries: int,
    content: Callable[[], Iterable[bytes]] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send with retries; returns the last response (any status) or raises a connection error.

    ``content`` is a factory, called once per attempt, so file bodies restart from their
    beginning on every retry.
    """
    attempt = 0
    while True:
        if content is not None:
            kwargs["content"] = content()
        try:
            response = client.request(method, url, **kwargs)
        except _RETRY_EXCEPTIONS as e:
            if attempt >= max_retries:
                what = f"{method} {httpx.URL(url).copy_with(query=None)}"
                if isinstance(e, httpx.TimeoutException):
                    raise APITimeoutError(f"{what} timed out", request=e.request) from e
                raise APIConnectionError(f"{what} failed: {e}", request=e.request) from e
            delay = backoff(attempt)
            log.info("retrying %s after %s (%.2f s)", method, type(e).__name__, delay)
        else:
            if response.status_code not in RETRY_STATUSES or attempt >= max_retries:
                return response
            asked = retry_after(response)
            delay = min(asked, MAX_RETRY_AFTER) if asked is not None else backoff(attempt)
            log.info("retrying %s after HTTP %s (%.2f s)", method, response.status_code, delay)
            response.close()
        attempt += 1
        _sleep(delay)
