"""The sandbox's object storage: any S3 endpoint, through boto3, SigV4 and path-style.

Presigned PUT URLs sign ``Content-MD5`` and ``Content-Type``, so storage itself rejects a
wrong body, a missing header, an expired URL or a tampered one. They are signed by
:mod:`._presign` (the one request shape, without botocore's per-call machinery).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from alloy_nb.sandbox._presign import PutPresigner
from alloy_nb.sandbox._s3lite import LiteS3, LiteUnavailable
from alloy_nb.sandbox._settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class StorageUnavailable(RuntimeError):
    """Storage could not be reached or answered with a server error."""


class StorageBusy(StorageUnavailable):
    """Storage-bound work waited too long for its turn (storage slow or hung)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime
    md5_hex: str | None  # None for multipart objects, whose ETag is not an MD5


def _md5_from_etag(etag: str) -> str | None:
    etag = etag.strip('"').lower()
    return etag if len(etag) == 32 and "-" not in etag else None


_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_PROBE_KEY = ".alloy-sandbox-ready"


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING


class Storage:
    """Thin, thread-safe wrapper over one bucket.

    Timeouts are short (storage is local or near, and every answer the API needs is small):
    a hung storage costs a call at most ``attempts`` x (connect + read timeout).
    """

    def __init__(
        self,
        settings: S3Settings,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        attempts: int = 2,
    ) -> None:
        self.settings = settings
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": attempts, "mode": "standard"},
            max_pool_connections=64,
        )
        self._s3 = self._client(settings.endpoint_url, config)
        self._presigner = PutPresigner(
            settings.public_endpoint_url or settings.endpoint_url,
            settings.bucket,
            settings.access_key,
            settings.secret_key,
            settings.region,
        )
        # For the questions asked most often (do you answer? what is stored?), no boto3.
        self._signer = PutPresigner(
            settings.endpoint_url,
            settings.bucket,
            settings.access_key,
            settings.secret_key,
            settings.region,
        )
        self._lite = LiteS3(self._signer, settings.endpoint_url, timeout=read_timeout)

    def _client(self, endpoint: str, config: Config) -> S3Client:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.settings.region,
            aws_access_key_id=self.settings.access_key,
            aws_secret_access_key=self.settings.secret_key,
            config=config,
        )

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._s3, method)(**kwargs)
        except ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                raise StorageUnavailable(f"storage answered {status} to {method}") from e
            raise
        except BotoCoreError as e:
            raise StorageUnavailable(
                f"storage at {self.settings.endpoint_url} is unreachable"
            ) from e

    def ensure_bucket(self) -> bool:
        """Create the bucket unless it exists; True if it was created (storage is empty)."""
        try:
            self._call("head_bucket", Bucket=self.bucket)
            return False
        except ClientError as e:
            if not _is_missing(e):
                raise
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self.settings.region != "us-east-1":  # S3 wants the region spelled out elsewhere
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
            self._call("create_bucket", **kwargs)
            return True

    def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers."""
        try:
            self._call("head_bucket", Bucket=self.bucket)
        except ClientError as e:
            raise StorageUnavailable(f"storage bucket {self.bucket!r} is not usable") from e

    def close(self) -> None:
        """Close the connections kept alive to storage."""
        self._lite.close()
        self._s3.close()

    def quick_ping(self) -> None:
        """:meth:`ping` in a fraction of its cost (:mod:`._s3lite`)."""
        try:
            self._lite.ping()
        except LiteUnavailable as e:
            raise StorageUnavailable(str(e)) from e

    def probe(self) -> None:
        """Write and read back a small object: ready means bytes can be stored and served.

        Its key has no ``{userId}_`` prefix, so no listing or index ever shows it.
        """
        self._call("put_object", Bucket=self.bucket, Key=_PROBE_KEY, Body=b"ok")
        body = self._call("get_object", Bucket=self.bucket, Key=_PROBE_KEY)["Body"]
        try:
            if body.read() != b"ok":
                raise StorageUnavailable("storage returned other bytes for its readiness probe")
        finally:
            body.close()

    def presign_put(self, key: str, content_type: str, md5_base64: str, expires_in: int) -> str:
        return self._presigner.url(key, content_type, md5_base64, expires_in)

    def head(self, key: str) -> StoredObject | None:
        """What storage holds under ``key`` now, None if nothing (:mod:`._s3lite`)."""
        try:
            found = self._lite.head(key)
        except LiteUnavailable as e:
            raise StorageUnavailable(str(e)) from e
        if found is None:
            return None
        size, when, etag = found
        return StoredObject(key, size, when, _md5_from_etag(etag))

    def list(
        self, prefix: str, *, start_after: str = "", max_keys: int = 1000
    ) -> tuple[list[StoredObject], bool]:
        """One page of objects under ``prefix`` in key order, and whether more follow."""
        try:
            items, more = self._lite.list(prefix, start_after, max_keys)
        except LiteUnavailable as e:
            raise StorageUnavailable(str(e)) from e
        return [
            StoredObject(k, size, when, _md5_from_etag(etag)) for k, size, when, etag in items
        ], more

    def iter_all(self, prefix: str = "", *, start_after: str = "") -> Iterator[StoredObject]:
        after = start_after
        while True:
            items, more = self.list(prefix, start_after=after)
            yield from items
            if not more:
                return
            if not items:  # never read the rest as absent: a rebuild would lose files
                raise StorageUnavailable("storage sent an empty listing page that says more follow")
            after = items[-1].key

    def put_small(self, key: str, body: bytes) -> None:
        self._call("put_object", Bucket=self.bucket, Key=key, Body=body)

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self.bucket, Key=key)

    def open(self, key: str) -> Any | None:
        """A streaming body for ``key`` (``.read(n)``/``.iter_chunks()``; the caller closes
        it), or None when there is no such object."""
        try:
            return self._call("get_object", Bucket=self.bucket, Key=key)["Body"]
        except ClientError as e:
            if _is_missing(e):
                return None
            raise
