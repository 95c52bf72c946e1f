"""Proof that storage answers, shared by concurrent calls.

Calls answered from the index need no storage round trip for their facts, but they are
still storage-bound: a URL or a listing handed out while storage is down or hung would
only fail later and less clearly, so such a call goes ahead only if storage answered a
ping that *started after the call arrived*, and is refused with 503 otherwise. One ping in
flight at a time serves every call that arrived before it started: under load a few calls
share a round trip instead of making one each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from alloy_nb.sandbox._storage import StorageUnavailable


class Heartbeat:
    def __init__(self, ping: Callable[[], None]) -> None:
        self._ping = ping
        self._turn = threading.Condition()
        self._started = 0  # pings started so far; the n-th has generation n
        self._finished = 0  # generation of the last ping that ended
        self._error: BaseException | None = None  # how that ping ended
        self._busy = False

    def check(self) -> None:
        """Return once a ping started after this call succeeded; raise
        :class:`StorageUnavailable` if a ping failed meanwhile (a failure seen after the
        call arrived is proof enough, and waiting for another would double the wait)."""
        with self._turn:
            needed = self._started + 1
            seen = self._finished
            while self._finished < needed:
                if self._finished > seen and self._error is not None:
                    break
                if self._busy:
                    self._turn.wait()
                    continue
                self._busy = True
                self._started += 1
                generation = self._started
                self._turn.release()
                error: BaseException | None = StorageUnavailable("storage did not answer")
                try:
                    self._ping()
                    error = None
                except BaseException as e:
                    error = e
                finally:
                    self._turn.acquire()
                    self._busy = False
                    self._finished, self._error = generation, error
                    self._turn.notify_all()
            error = self._error
        if isinstance(error, StorageUnavailable):
            raise StorageUnavailable(str(error)) from error
        if error is not None:
            raise StorageUnavailable(f"storage did not answer ({error})") from error
