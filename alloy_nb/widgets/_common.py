"""What both panels share: the default client, plain-words errors, human sizes."""

from __future__ import annotations

from alloy_nb._client import Client
from alloy_nb._exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
)


def default_client() -> Client:
    from alloy_nb._connect import connect

    return connect()


def plain_error(error: BaseException) -> str:
    """One sentence a person can act on, instead of a traceback."""
    if isinstance(error, AuthenticationError):
        return "The API key was refused: check ALLOY_API_KEY."
    if isinstance(error, PermissionDeniedError):
        return f"Not allowed: {error.message}"
    if isinstance(error, NotFoundError):
        return f"Not found (or not yours): {error.message}"
    if isinstance(error, APIStatusError):
        return f"The server said {error.status_code}: {error.message}"
    if isinstance(error, APIConnectionError):
        return f"Could not reach Alloy: {error.message}. Check the network and retry."
    if isinstance(error, IntegrityError):
        return str(error)
    if isinstance(error, FileNotFoundError):
        return f"No such file: {error.filename}"
    return f"{type(error).__name__}: {error}"


def human_size(n: int | None) -> str:
    """``1234567 -> "1.2 MB"`` (decimal units, as file managers show them)."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
