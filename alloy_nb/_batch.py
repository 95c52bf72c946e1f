"""One row per item for every batch call (upload_many, delete_files, send_to_google_drive).

A failure becomes that item's ``error`` ("Type: message") and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["batch_rows"]

T = TypeVar("T")
Row = dict[str, Any]


def batch_rows(
    items: Iterable[T],
    work: Callable[[T], Mapping[str, Any]],
    *,
    label: Callable[[T], Mapping[str, Any]],
    failed: Mapping[str, Any] | None = None,
    max_workers: int = 1,
    done: Callable[[int], None] | None = None,
) -> list[Row]:
    """Rows in the order of ``items``: ``label(item)``, then ``work(item)`` and
    ``error=None``, or ``failed`` and the error. ``done(1)`` is called after each item.

    >>> def half(n: int) -> dict[str, int]:
    ...     if n % 2:
    ...         raise ValueError(f"{n} is odd")
    ...     return {"half": n // 2}
    >>> batch_rows([4, 3], half, label=lambda n: {"n": n}, failed={"half": None})
    [{'n': 4, 'half': 2, 'error': None}, {'n': 3, 'half': None, 'error': 'ValueError: 3 is odd'}]
    """

    def one(item: T) -> Row:
        row: Row = dict(label(item))
        try:
            row.update(work(item), error=None)
        except Exception as e:  # broad on purpose: one bad item must not stop the batch
            row.update(failed or {}, error=f"{type(e).__name__}: {e}")
        if done is not None:
            done(1)
        return row

    if max_workers <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(one, items))
