"""Presigned S3 URLs (AWS Signature Version 4, query string authentication).

The sandbox signs one shape of request millions of times: a path-style ``PUT`` whose
``Content-MD5``, ``Content-Type`` and ``Host`` headers are signed, with an unsigned
payload (and the sandbox's own ``HEAD`` and listing requests). botocore spends
milliseconds per URL on generic machinery (events, parameter validation, endpoint
rules); this signs exactly that shape, written from the public SigV4 specification, and
caches the day's signing key. The tests check it against botocore's URL for the same
instant, byte for byte, and against storage itself.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import datetime
from urllib.parse import quote, urlsplit

import botocore.auth

_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_STAMP = "%Y%m%dT%H%M%SZ"
#: The sandbox's own requests to storage (ping, HEAD, listing): 15 minutes, so a skewed
#: clock fails them no sooner than it fails boto3's header-signed requests (S3 allows
#: 15 minutes of skew). Never handed out.
INTERNAL_EXPIRES = 900


def _stamp(now: float | None) -> str:
    if now is not None:
        return time.strftime(_STAMP, time.gmtime(now))
    # botocore's clock, looked up at each call: every request the sandbox signs, through
    # boto3 or here, carries the same time (the stubs omit this re-exported name).
    when: datetime = botocore.auth.get_current_datetime()  # type: ignore[attr-defined]
    return when.strftime(_STAMP)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _header_value(value: str) -> str:
    """SigV4's canonical header value: trimmed, inner runs of spaces made one."""
    return " ".join(value.split())


def _key_path(key: str) -> str:
    """``key`` as it goes into the URL path (slashes kept, as S3 and botocore have them).

    Refused (ValueError): what cannot be one S3 key in one URL path: empty or over 1,024
    bytes, control characters, unpaired surrogates (no UTF-8), and ``.``/``..`` segments,
    which HTTP clients resolve away so that a PUT would reach another key than the one
    signed (storage would reject it, but the URL would be a lie).
    """
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("an S3 key must be valid Unicode (no unpaired surrogates)") from None
    if not raw or len(raw) > 1024:
        raise ValueError("an S3 key must be 1 to 1,024 bytes of UTF-8")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise ValueError("an S3 key must not contain control characters")
    if any(part in (".", "..") for part in key.split("/")):
        raise ValueError("an S3 key must not have '.' or '..' path segments")
    return quote(key, safe="/~")


class PutPresigner:
    """Signs ``PUT {endpoint}/{bucket}/{key}`` URLs for one endpoint and credential."""

    def __init__(
        self, endpoint_url: str, bucket: str, access_key: str, secret_key: str, region: str
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{parts.port}"
        self._host = host  # as signed: SigV4 drops a default port, the URL keeps it as given
        self._origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self._base_path = parts.path.rstrip("/") + "/" + quote(bucket, safe="-_.~")
        self._access_key = access_key
        self._secret = secret_key
        self._region = region
        self._keys: tuple[str, bytes] | None = None  # (yyyymmdd, signing key)
        self._lock = threading.Lock()

    def _signing_key(self, day: str) -> bytes:
        cached = self._keys
        if cached is not None and cached[0] == day:
            return cached[1]
        key = _hmac(("AWS4" + self._secret).encode("utf-8"), day)
        for part in (self._region, "s3", "aws4_request"):
            key = _hmac(key, part)
        with self._lock:
            self._keys = (day, key)
        return key

    def url(
        self,
        key: str,
        content_type: str,
        md5_base64: str,
        expires_in: int,
        *,
        now: float | None = None,
    ) -> str:
        """A URL that lets one ``PUT`` of exactly these bytes (by MD5) and content type
        write ``key`` for ``expires_in`` seconds from ``now`` (default: this instant)."""
        headers = {"content-md5": md5_base64, "content-type": content_type}
        return self._sign("PUT", self._base_path + "/" + _key_path(key), headers, expires_in, now)

    def object_url(self, method: str, key: str, expires_in: int = INTERNAL_EXPIRES) -> str:
        """A URL for ``method`` (``HEAD``) on one object, no headers signed but ``Host``."""
        return self._sign(method, self._base_path + "/" + _key_path(key), {}, expires_in, None)

    def bucket_url(
        self, method: str, query: dict[str, str], expires_in: int = INTERNAL_EXPIRES
    ) -> str:
        """A URL for ``method`` on the bucket itself with ``query`` (``HEAD`` to see that
        storage answers, ``GET`` with ``list-type=2`` to list)."""
        return self._sign(method, self._base_path, {}, expires_in, None, query)

    def _sign(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        expires_in: int,
        now: float | None,
        query: dict[str, str] | None = None,
    ) -> str:
        stamp = _stamp(now)
        day = stamp[:8]
        scope = f"{day}/{self._region}/s3/aws4_request"
        canonical_headers = {k: _header_value(v) for k, v in headers.items()}
        canonical_headers["host"] = self._host
        signed = ";".join(sorted(canonical_headers))
        params = {
            **(query or {}),
            "X-Amz-Algorithm": _ALGORITHM,
            "X-Amz-Credential": f"{self._access_key}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(expires_in),
            "X-Amz-SignedHeaders": signed,
        }
        query_string = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
        )
        canonical_request = "\n".join(
            (
                method,
                path,
                query_string,
                *(f"{k}:{canonical_headers[k]}" for k in sorted(canonical_headers)),
                "",
                signed,
                "UNSIGNED-PAYLOAD",
            )
        )
        to_sign = "\n".join(
            (_ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        signature = hmac.new(
            self._signing_key(day), to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return f"{self._origin}{path}?{query_string}&X-Amz-Signature={signature}"
