"""The one retry loop: 429, 5xx, timeouts and dropped connections, with backoff and jitter.

Why repeating is safe here: every call alloy_nb retries is idempotent on the server.
Requesting an upload URL again returns the same key for the same bytes (the server
deduplicates by MD5), listing and deleting change nothing twice, and a presigned PUT signs
its ``Content-MD5``, so a repeated PUT can only write the very same bytes to the same key.
A file body is rewound to its start before each attempt (``content`` is a factory that
builds a fresh stream every time).

Every call is bounded: by a deadline over all its attempts and waits (see ``_deadline``),
and by the size of the answer it will hold in memory. Errors from httpx reach the caller as
alloy_nb errors whose causes keep their type and message but not their frames: httpx's and
httpcore's frames hold the raw request bytes, ``Authorization`` header included.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from alloy_nb._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY
from alloy_nb._deadline import Deadline
from alloy_nb._exceptions import APIConnectionError, APIError, APITimeoutError

log = logging.getLogger("alloy_nb")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

_sleep = time.sleep  # tests replace this to record delays instead of waiting


@dataclass(frozen=True)
class Limits:
    """How far one call may go: attempts, seconds in all, bytes of answer held in memory."""

    max_retries: int
    deadline: float | None
    max_response_bytes: int


def _number(text: str | None) -> float | None:
    """A finite, non-negative number (seconds, bytes), or None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, or ``Retry-After`` seconds or
    HTTP date), capped at MAX_RETRY_AFTER; None when absent or unusable (negative, NaN,
    infinite, neither a number nor a date)."""
    ms = _number(response.headers.get("retry-after-ms"))
    if ms is not None:
        return min(ms / 1000, MAX_RETRY_AFTER)
    value = response.headers.get("retry-after")
    if not value:
        return None
    wait = _number(value)
    if wait is None:
        try:
            wait = max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(wait, MAX_RETRY_AFTER)


def backoff(attempt: int) -> float:
    """Exponential from INITIAL_RETRY_DELAY, capped, with up to 25% jitter taken off."""
    delay: float = min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)
    return delay * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not crypto


def _forget_frames(error: BaseException) -> None:
    """Drop the tracebacks of ``error`` and of every exception it was raised from."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        cause.__traceback__ = None
        cause = cause.__cause__ or cause.__context__


def _what(method: str, url: str) -> str:
    """``METHOD url`` without the query (a presigned URL's signature), for messages. Built
    only when a message needs it: parsing a presigned URL costs about 0.1 ms."""
    return f"{method} {httpx.URL(url).copy_with(query=None)}"


def _too_large(what: str, limits: Limits, request: httpx.Request) -> APIError:
    return APIError(
        f"{what}: the answer is larger than {limits.max_response_bytes:,} bytes, the most "
        "this client holds in memory (Client(max_response_bytes=...)); nothing was kept",
        request=request,
    )


def _read_body(
    response: httpx.Response, method: str, url: str, limits: Limits, deadline: Deadline
) -> httpx.Response:
    """A streamed ``response`` read into memory within the size cap and the deadline, then
    closed."""
    try:
        length = _number(response.headers.get("content-length"))
        if length is not None and length > limits.max_response_bytes:
            raise _too_large(_what(method, url), limits, response.request)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limits.max_response_bytes:
                chunks.clear()  # error reporters print locals: not megabytes of them
                raise _too_large(_what(method, url), limits, response.request)
            if deadline.expired():
                raise httpx.ReadTimeout("the call's deadline has passed", request=response.request)
            chunks.append(chunk)
    finally:
        response.close()
    decoded = ("content-encoding", "content-length", "transfer-encoding")
    return httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.multi_items() if k.lower() not in decoded],
        content=b"".join(chunks),
        request=response.request,
        extensions=response.extensions,
    )


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    limits: Limits,
    content: Callable[[], Iterable[bytes]] | None = None,
    auth: httpx.Auth | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send with retries; returns the last response (any status, body read) or raises
    :class:`APIConnectionError` / :class:`APITimeoutError` (or :class:`APIError`).

    ``content`` is a factory, called once per attempt, so file bodies restart from their
    beginning on every retry. Other keyword arguments go to ``httpx.Client.build_request``.
    """
    deadline = Deadline(limits.deadline)
    attempt = 0
    while True:
        body: Generator[bytes, None, None] | None = None
        try:
            with deadline.current():
                timeout = client.timeout
                if content is not None:
                    kwargs["content"] = body = deadline.sending(content())
                else:  # see _deadline: a body restarts the clock, so it cannot cap up front
                    timeout = deadline.timeouts(timeout)
                request = client.build_request(method, url, timeout=timeout, **kwargs)
                response = _read_body(
                    client.send(request, auth=auth, stream=True), method, url, limits, deadline
                )
        except httpx.RequestError as e:
            _forget_frames(e)
            delay = backoff(attempt)
            if (
                attempt >= limits.max_retries
                or not isinstance(e, _RETRY_EXCEPTIONS)
                or delay >= deadline.remaining()
            ):
                raise _connection_error(_what(method, url), e, deadline) from e
            log.info("retrying %s after %s (%.2f s)", method, type(e).__name__, delay)
        else:
            if response.status_code not in RETRY_STATUSES or attempt >= limits.max_retries:
                return response
            asked = retry_after(response)
            delay = asked if asked is not None else backoff(attempt)
            if delay >= deadline.remaining():
                return response  # no time left to wait for another answer
            log.info("retrying %s after HTTP %s (%.2f s)", method, response.status_code, delay)
        finally:
            if body is not None:
                body.close()  # restarts the clock if httpx left the body unfinished
        attempt += 1
        _sleep(delay)


def _connection_error(what: str, e: httpx.RequestError, deadline: Deadline) -> APIError:
    try:
        request: httpx.Request | None = e.request
    except RuntimeError:  # httpx attaches the request on the way out; a transport may not
        request = None
    if isinstance(e, _RETRY_EXCEPTIONS) and deadline.expired():
        return APITimeoutError(
            f"{what} did not finish within its {deadline.seconds:g} s deadline "
            "(Client(deadline=...))",
            request=request,
        )
    if isinstance(e, httpx.TimeoutException):
        return APITimeoutError(f"{what} timed out", request=request)
    if isinstance(e, httpx.TransportError):
        return APIConnectionError(f"{what} failed: {e}", request=request)
    return APIError(f"{what} failed: {type(e).__name__}: {e}", request=request)
