"""The two S3 requests the sandbox makes most, without boto3: a bucket ping and a listing.

botocore spends most of a 100,000-object listing turning XML into dicts (measured on the
bundled storage: 20 s, against 5 s here), and a call answered from the index still asks
storage whether it answers. Both are presigned (query-string SigV4, :mod:`._presign`) and
sent on kept-alive connections, one per thread; a kept-alive connection the server closed
meanwhile is replaced once. Everything else (HEAD, GET, PUT, DELETE of objects) goes
through boto3.
"""

from __future__ import annotations

import http.client
import re
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus, urlsplit

from alloy_nb.sandbox._presign import PutPresigner

#: An S3 listing page of 1,000 keys is about 300 KB; anything far larger is not one.
MAX_BODY_BYTES = 64 * 1024 * 1024
_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?")


class LiteUnavailable(RuntimeError):
    """Storage could not be reached, or answered with an error."""


def parse_time(text: str) -> datetime:
    """An S3 timestamp (``2026-11-30T07:53:44.123Z``, any fraction) as an aware datetime."""
    m = _TIME.fullmatch(text.strip())
    if not m:
        raise LiteUnavailable(f"storage sent an unreadable time {text[:40]!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    when = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, timezone.utc)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        when -= sign * timedelta(hours=hours, minutes=minutes)
    return when


class LiteS3:
    def __init__(self, signer: PutPresigner, endpoint_url: str, *, timeout: float) -> None:
        self._signer = signer
        self._endpoint = endpoint_url
        self._timeout = timeout
        self._local = threading.local()

    def _send(self, method: str, url: str) -> tuple[int, bytes]:
        parts = urlsplit(url)
        for attempt in (1, 2):
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            reused = conn is not None
            try:
                if conn is None:
                    cls = http.client.HTTPSConnection if parts.scheme == "https" else (
                        http.client.HTTPConnection)  # fmt: skip
                    conn = self._local.conn = cls(parts.netloc, timeout=self._timeout)
                conn.request(method, f"{parts.path}?{parts.query}")
                response = conn.getresponse()
                body = response.read(MAX_BODY_BYTES + 1)
                if response.will_close or len(body) > MAX_BODY_BYTES:
                    self._drop()
                if len(body) > MAX_BODY_BYTES:
                    raise LiteUnavailable(f"storage sent over {MAX_BODY_BYTES} bytes")
                return response.status, body
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                if attempt == 2 or not reused:
                    raise LiteUnavailable(f"storage at {self._endpoint} is unreachable") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def ping(self) -> None:
        status, _ = self._send("HEAD", self._signer.bucket_url("HEAD", {}))
        if status != 200:
            raise LiteUnavailable(f"storage answered {status} to a bucket check")

    def list(
        self, prefix: str, start_after: str, max_keys: int
    ) -> tuple[list[tuple[str, int, datetime, str]], bool]:
        """One ListObjectsV2 page: ``(key, size, last modified, ETag)`` in key order, and
        whether more follow."""
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys),
                 "encoding-type": "url"}  # fmt: skip
        if start_after:
            query["start-after"] = start_after
        status, body = self._send("GET", self._signer.bucket_url("GET", query))
        if status != 200:
            raise LiteUnavailable(f"storage answered {status} to a listing")
        try:
            root = ET.fromstring(body)  # noqa: S314 - the sandbox's own storage answering
        except ET.ParseError as e:
            raise LiteUnavailable("storage sent a listing that is not XML") from e
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        # Keys come URL-encoded only if storage honoured encoding-type (it says so).
        decode = unquote_plus if root.findtext(f"{ns}EncodingType") == "url" else str
        items = [
            (
                decode(c.findtext(f"{ns}Key") or ""),
                int(c.findtext(f"{ns}Size") or 0),
                parse_time(c.findtext(f"{ns}LastModified") or ""),
                c.findtext(f"{ns}ETag") or "",
            )
            for c in root.iter(f"{ns}Contents")
        ]
        return items, root.findtext(f"{ns}IsTruncated") == "true"
