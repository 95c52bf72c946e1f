"""What both panels share: the default client, plain-words errors, human sizes and counts."""

from __future__ import annotations

from alloy_nb._client import Client
from alloy_nb.widgets._plain import Plain, explain, plain_error

__all__ = ["Plain", "default_client", "explain", "human_size", "n_files", "plain_error"]


def default_client() -> Client:
    from alloy_nb._connect import connect

    return connect()


def n_files(n: int) -> str:
    """``1 -> "1 file"``, ``3 -> "3 files"``."""
    return f"{n} file{'s' * (n != 1)}"


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
