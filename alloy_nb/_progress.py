"""Progress bars (``tqdm.auto``: a widget in Jupyter, text in a terminal), off on request."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from alloy_nb._constants import ENV_PROGRESS

Update = Callable[[int], None]


def progress_enabled(progress: bool) -> bool:
    """``progress=False`` or ``ALLOY_NB_PROGRESS=0`` turns bars off."""
    return progress and os.environ.get(ENV_PROGRESS, "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def _updater(bar: Any) -> Update:
    def update(n: int) -> None:
        bar.update(n)

    return update


@contextlib.contextmanager
def byte_bar(enabled: bool, total: int, desc: str) -> Iterator[Update]:
    """Yield ``update(n_bytes)``; a no-op when bars are off."""
    if not enabled:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    with tqdm(
        total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
    ) as bar:
        yield _updater(bar)


@contextlib.contextmanager
def count_bar(enabled: bool, total: int, desc: str) -> Iterator[Update]:
    """Yield ``update(n_items)``; a no-op when bars are off."""
    if not enabled:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit="file") as bar:
        yield _updater(bar)
