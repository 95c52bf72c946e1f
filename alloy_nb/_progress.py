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
def bar(enabled: bool, total: int, desc: str, *, unit: str = "B") -> Iterator[Update]:
    """Yield ``update(n)`` for a bar of bytes (``unit="B"``, scaled) or of items; a no-op
    when bars are off."""
    if not enabled:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    in_bytes = unit == "B"  # byte bars scale (KiB, MiB) and vanish when done; file bars stay
    with tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=in_bytes,
        unit_divisor=1024,
        leave=not in_bytes,
    ) as shown:
        yield _updater(shown)
