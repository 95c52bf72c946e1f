"""Every upload URL issued: which key it may write, with which bytes, until when.

The rule they enforce: a key is never given to other bytes while a URL issued for it may
still be valid. A presigned URL signs ``Content-MD5``, so a replayed URL can only write the
bytes it was issued for; what must never happen is those bytes landing on a key that now
means other bytes (delete a file, upload something else under its name, replay an old
URL). Reservations live in the registry database, which no index rebuild touches, and are
durable before the URL is handed out, so they hold across restarts and rebuilds.

A reservation is visible to every query from the moment it is *held* (under the caller's
per-user lock), and *committed* afterwards, outside that lock: concurrent calls share one
transaction and one fsync (group commit) instead of queueing for one each. A URL is
signed only once its reservation is committed.

An expired reservation is forgotten only once storage has been asked whether its URL wrote
anything (the file service settles it): until then the key may hold bytes nobody saw land.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from alloy_nb.sandbox._db import Registry

#: How long after its own expiry a URL is still treated as live. Storage checks expiry
#: with its own clock, and S3 accepts requests from a signer up to 15 minutes ahead; the
#: bundled storage runs on this machine's clock, so a second covers it.
CLOCK_SKEW_SECONDS = 15 * 60
LOCAL_CLOCK_SKEW_SECONDS = 1

_UPSERT = (
    "INSERT INTO url_reservations VALUES (?, ?, ?, ?) ON CONFLICT (s3_key, md5_hex) "
    "DO UPDATE SET valid_until = max(valid_until, excluded.valid_until)"
)


@dataclass(eq=False)
class Held:
    """A reservation visible to queries, not yet (or just) written."""

    s3_key: str
    md5_hex: str
    user_id: str
    valid_until: float
    done: bool = False
    error: BaseException | None = field(default=None, repr=False)


class Reservations:
    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS url_reservations (
        s3_key TEXT NOT NULL,
        md5_hex TEXT NOT NULL,
        user_id TEXT NOT NULL,
        valid_until REAL NOT NULL,
        PRIMARY KEY (s3_key, md5_hex)
    );
    CREATE INDEX IF NOT EXISTS url_reservations_by_md5 ON url_reservations (user_id, md5_hex);
    CREATE INDEX IF NOT EXISTS url_reservations_by_user ON url_reservations (user_id, s3_key);
    """

    def __init__(self, registry: Registry, *, skew: float = CLOCK_SKEW_SECONDS) -> None:
        self._db = registry
        self.skew = skew
        with registry._writing() as conn:
            conn.executescript(self._SCHEMA)
        self._held: set[Held] = set()  # read before the table: a row leaves only once written
        self._held_lock = threading.Lock()
        self._turn = threading.Condition()
        self._queue: list[Held] = []
        self._writer_busy = False

    def cutoff(self) -> float:
        """URLs valid until this instant or before can no longer write."""
        return time.time() - self.skew

    def _overlay(self) -> list[Held]:
        with self._held_lock:
            return list(self._held)

    def hold(self, user_id: str, s3_key: str, md5_hex: str, valid_until: float) -> Held:
        """Make a URL for ``s3_key`` writing ``md5_hex`` until ``valid_until`` visible to
        every query at once; :meth:`commit` it before handing the URL out."""
        held = Held(s3_key, md5_hex, user_id, valid_until)
        with self._held_lock:
            self._held.add(held)
        return held

    def commit(self, held: Held) -> None:
        """Return once ``held`` is on disk, written in one transaction with every other
        reservation waiting meanwhile; on failure it is released and the error raised."""
        with self._turn:
            self._queue.append(held)
            while not held.done:
                if self._writer_busy:
                    self._turn.wait()
                    continue
                batch, self._queue = self._queue, []
                self._writer_busy = True
                self._turn.release()
                error: BaseException | None = RuntimeError("reservation not written")
                try:
                    self._write(batch)
                    error = None
                except BaseException as e:
                    error = e
                finally:
                    self._turn.acquire()
                    self._writer_busy = False
                    for h in batch:
                        h.done, h.error = True, error
                    self._turn.notify_all()
        with self._held_lock:
            self._held.discard(held)
        if held.error is not None:
            raise held.error

    def _write(self, batch: list[Held]) -> None:
        with self._db._writing() as conn:
            conn.execute("BEGIN")
            conn.executemany(
                _UPSERT, [(h.s3_key, h.md5_hex, h.user_id, h.valid_until) for h in batch]
            )
            conn.execute("COMMIT")

    def reserve(self, user_id: str, s3_key: str, md5_hex: str, valid_until: float) -> None:
        """Record a URL for ``s3_key`` that can write ``md5_hex`` until ``valid_until``;
        durable before it returns (the URL must not be handed out otherwise)."""
        self.commit(self.hold(user_id, s3_key, md5_hex, valid_until))

    def adopt(self, rows: Iterable[tuple[str, str, str, float]]) -> None:
        """Take over ``(s3_key, md5_hex, user_id, valid_until)`` rows kept elsewhere before."""
        for key, md5_hex, user_id, valid_until in rows:
            self.reserve(user_id, key, md5_hex, valid_until)

    def issued(self, user_id: str, md5_hex: str) -> dict[str, bool]:
        """Keys of this user's URLs for these bytes not yet settled: key -> still live."""
        after = self.cutoff()
        mine = (user_id, md5_hex)
        held = [
            (h.s3_key, h.valid_until) for h in self._overlay() if (h.user_id, h.md5_hex) == mine
        ]
        rows = self._db._query(
            "SELECT s3_key, valid_until FROM url_reservations WHERE user_id = ? AND md5_hex = ?",
            (user_id, md5_hex),
        )
        out: dict[str, bool] = {}
        for k, v in [*held, *rows]:
            out[str(k)] = out.get(str(k), False) or float(v) > after  # type: ignore[arg-type]
        return dict(sorted(out.items()))

    def pending(self, user_id: str, md5_hex: str) -> list[str]:
        """Keys with a possibly live URL for these bytes of this user."""
        return [k for k, live in self.issued(user_id, md5_hex).items() if live]

    def on_key(self, s3_key: str) -> list[tuple[str, float]]:
        """``(md5_hex, valid_until)`` of every URL issued for ``s3_key`` not yet settled."""
        held = [(h.md5_hex, h.valid_until) for h in self._overlay() if h.s3_key == s3_key]
        rows = self._db._query(
            "SELECT md5_hex, valid_until FROM url_reservations WHERE s3_key = ?", (s3_key,)
        )
        return held + [(str(m), float(v)) for m, v in rows]  # type: ignore[arg-type]

    def held_for_other(self, s3_key: str, md5_hex: str) -> bool:
        """True while a URL issued for ``s3_key`` may still write bytes other than these."""
        after = self.cutoff()
        return any(m != md5_hex and v > after for m, v in self.on_key(s3_key))

    def of_user(self, user_id: str, after: str, upto: str | None) -> list[tuple[str, str, float]]:
        """``(s3_key, md5_hex, valid_until)`` of the user's unsettled URLs for keys in
        ``(after, upto]``."""

        def inside(k: str) -> bool:
            return k > after and (upto is None or k <= upto)

        held = [
            (h.s3_key, h.md5_hex, h.valid_until)
            for h in self._overlay()
            if h.user_id == user_id and inside(h.s3_key)
        ]
        rows = self._db._query(
            "SELECT s3_key, md5_hex, valid_until FROM url_reservations WHERE user_id = ? "
            "AND s3_key > ? AND s3_key <= ?",
            (user_id, after, "\U0010ffff" if upto is None else upto),
        )
        return held + [(str(k), str(m), float(v)) for k, m, v in rows]  # type: ignore[arg-type]

    def expired(self, before: float) -> list[tuple[str, str, str]]:
        """``(user_id, s3_key, md5_hex)`` of URLs that expired by ``before``."""
        rows = self._db._query(
            "SELECT user_id, s3_key, md5_hex FROM url_reservations WHERE valid_until <= ?",
            (before,),
        )
        return [(str(u), str(k), str(m)) for u, k, m in rows]

    def prune(self, before: float | None = None, keys: Iterable[str] | None = None) -> int:
        """Forget URLs that expired by ``before`` (default: now), of ``keys`` only if given;
        the caller has settled them with storage. Return how many."""
        before = self.cutoff() if before is None else before
        with self._db._writing() as conn:
            if keys is None:
                cur = conn.execute("DELETE FROM url_reservations WHERE valid_until <= ?", (before,))
                return cur.rowcount
            conn.execute("BEGIN")
            n = 0
            for key in keys:
                n += conn.execute(
                    "DELETE FROM url_reservations WHERE s3_key = ? AND valid_until <= ?",
                    (key, before),
                ).rowcount
            conn.execute("COMMIT")
            return n
