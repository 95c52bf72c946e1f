"""Storage-bound work runs behind a gate, apart from everything else.

A hung storage (stopped, overloaded, a black-holed port) must not take the API with it.
Calls that need storage run on threads of their own, at most ``slots`` at once; a call
that cannot get a slot within ``wait`` seconds is refused at once with 503 and
``Retry-After``. Authentication and endpoints that need no storage run on the server's
ordinary worker threads, which storage calls never occupy. With storage's own timeouts
(:class:`~._storage.Storage`), every storage-bound call ends within a bounded time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from alloy_nb.sandbox._storage import StorageBusy

T = TypeVar("T")

STORAGE_SLOTS = 16
SLOT_WAIT_SECONDS = 2.0


class StorageGate:
    def __init__(self, slots: int = STORAGE_SLOTS, wait: float = SLOT_WAIT_SECONDS) -> None:
        self.slots = slots
        self.wait = wait
        # Made on first use, inside the server's event loop.
        self._admission: anyio.Semaphore | None = None
        self._threads: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on a storage thread; :class:`StorageBusy` if no slot frees in time."""
        if self._admission is None or self._threads is None:
            self._admission = anyio.Semaphore(self.slots)
            self._threads = anyio.CapacityLimiter(self.slots)
        admitted = False
        with anyio.move_on_after(self.wait):
            await self._admission.acquire()
            admitted = True
        if not admitted:
            raise StorageBusy(
                f"storage is not keeping up: {self.slots} calls in flight for over {self.wait:g} s"
            )
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(fn, *args), limiter=self._threads
            )
        finally:
            self._admission.release()
