"""Errors raised by alloy_nb.

::

    AlloyError
    ├── MissingCredentialsError        no API key configured
    ├── MissingDependencyError         an optional package is needed (pyarrow, the sandbox extra)
    ├── FileTooLargeError              over the single-PUT limit (5 GiB), before any byte moves
    ├── IntegrityError                 storage got other bytes than were hashed
    └── APIError                       anything the API or storage answered, or failed to
        ├── APIConnectionError         no response: connection refused, reset, ...
        │   └── APITimeoutError
        └── APIStatusError             a non-2xx response (.status_code, .message, .request_id)
            ├── BadRequestError        400
            ├── AuthenticationError    401
            ├── PermissionDeniedError  403
            ├── NotFoundError          404
            ├── ConflictError          409
            ├── RateLimitError         429
            └── ServerError            5xx

:func:`make_status_error` is the one place a response becomes an error. It reads Alloy's
JSON ``{"error", "message"}`` bodies and S3's XML ``<Error><Code>…`` bodies alike.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AlloyError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FileTooLargeError",
    "IntegrityError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]


class AlloyError(Exception):
    """Base class of every alloy_nb error."""


class MissingCredentialsError(AlloyError):
    """No API key was given or configured."""


class MissingDependencyError(AlloyError, ImportError):
    """An optional dependency is needed for this call."""


class FileTooLargeError(AlloyError, ValueError):
    """The file is over the largest size one presigned PUT can carry."""


class IntegrityError(AlloyError):
    """Storage rejected the bytes: they are not the ones that were hashed."""

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        super().__init__(message)
        self.filename = filename


class APIError(AlloyError):
    """The API or storage could not be reached, or answered with an error."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APIConnectionError(APIError):
    """No response arrived (refused, reset, DNS, ...), after every retry."""


class APITimeoutError(APIConnectionError):
    """The request timed out, after every retry."""


class APIStatusError(APIError):
    """A non-2xx response. ``code`` is S3's or Alloy's short error name when given."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.status_code} {self.message}{rid}"


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class RateLimitError(APIStatusError):
    """429."""


class ServerError(APIStatusError):
    """5xx."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

_REQUEST_ID_HEADERS = ("x-request-id", "x-amz-request-id", "x-correlation-id")


def _parse_body(response: httpx.Response) -> tuple[str | None, str | None, str | None, Any]:
    """``(code, message, request_id, parsed body)`` from a JSON or S3 XML error body."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if isinstance(message, dict):  # {"error": {"message": ...}} (Google-style)
            message = message.get("message")
        code = body.get("error") if isinstance(body.get("error"), str) else None
        return code, str(message) if message else None, None, body
    if text.lstrip().startswith("<"):
        try:
            root = ET.fromstring(text)  # noqa: S314 - a short error document, no entities
        except ET.ParseError:
            root = None
        if root is not None and root.tag == "Error":  # S3
            return root.findtext("Code"), root.findtext("Message"), root.findtext("RequestId"), text
    return None, (" ".join(text.split())[:500] or None), None, text


def make_status_error(response: httpx.Response, *, context: str = "") -> APIStatusError:
    """Build the right :class:`APIStatusError` subclass for a non-2xx response."""
    if not response.is_stream_consumed:
        response.read()
    code, message, request_id, body = _parse_body(response)
    for header in _REQUEST_ID_HEADERS:
        request_id = request_id or response.headers.get(header)
    if code and message and code not in message and not isinstance(body, dict):
        message = f"{code}: {message}"  # S3: "BadDigest: The Content-Md5 you specified ..."
    message = message or code or response.reason_phrase or "error"
    if context:
        message = f"{context}: {message}"
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIStatusError)
    return cls(message, response=response, code=code, request_id=request_id, body=body)
