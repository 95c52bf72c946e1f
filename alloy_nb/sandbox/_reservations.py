"""Every upload URL issued: which key it may write, with which bytes, until when.

The rule they enforce: a key is never given to other bytes while a URL issued for it may
still be valid. A presigned URL signs ``Content-MD5``, so a replayed URL can only write the
bytes it was issued for; what must never happen is those bytes landing on a key that now
means other bytes (delete a file, upload something else under its name, replay an old
URL). Reservations live in the registry database, which no index rebuild touches, and are
recorded before the URL is handed out, so they hold across restarts and rebuilds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from alloy_nb.sandbox._db import Registry

#: How long after its own expiry a URL is still treated as live. Storage checks expiry
#: with its own clock, and S3 accepts requests from a signer up to 15 minutes ahead; the
#: bundled storage runs on this machine's clock, so a second covers it.
CLOCK_SKEW_SECONDS = 15 * 60
LOCAL_CLOCK_SKEW_SECONDS = 1


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
    """

    def __init__(self, registry: Registry, *, skew: float = CLOCK_SKEW_SECONDS) -> None:
        self._db = registry
        self.skew = skew
        with registry._writing() as conn:
            conn.executescript(self._SCHEMA)

    def _live_after(self) -> float:
        return time.time() - self.skew

    def reserve(self, user_id: str, s3_key: str, md5_hex: str, valid_until: float) -> None:
        """Record a URL for ``s3_key`` that can write ``md5_hex`` until ``valid_until``;
        durable before it returns (the URL must not be handed out otherwise)."""
        self._db._query(
            "INSERT INTO url_reservations VALUES (?, ?, ?, ?) ON CONFLICT (s3_key, md5_hex) "
            "DO UPDATE SET valid_until = max(valid_until, excluded.valid_until)",
            (s3_key, md5_hex, user_id, valid_until),
        )

    def adopt(self, rows: Iterable[tuple[str, str, str, float]]) -> None:
        """Take over ``(s3_key, md5_hex, user_id, valid_until)`` rows kept elsewhere before."""
        for key, md5_hex, user_id, valid_until in rows:
            self.reserve(user_id, key, md5_hex, valid_until)

    def pending(self, user_id: str, md5_hex: str) -> list[str]:
        """Keys with a possibly live URL for these bytes of this user."""
        rows = self._db._query(
            "SELECT s3_key FROM url_reservations WHERE user_id = ? AND md5_hex = ? "
            "AND valid_until > ? ORDER BY s3_key",
            (user_id, md5_hex, self._live_after()),
        )
        return [str(k) for (k,) in rows]

    def held_for_other(self, s3_key: str, md5_hex: str) -> bool:
        """True while a URL issued for ``s3_key`` may still write bytes other than these."""
        return bool(
            self._db._query(
                "SELECT 1 FROM url_reservations WHERE s3_key = ? AND md5_hex != ? "
                "AND valid_until > ? LIMIT 1",
                (s3_key, md5_hex, self._live_after()),
            )
        )

    def prune(self) -> int:
        """Forget URLs that can no longer write; return how many."""
        with self._db._writing() as conn:
            cur = conn.execute(
                "DELETE FROM url_reservations WHERE valid_until <= ?", (self._live_after(),)
            )
            return cur.rowcount
