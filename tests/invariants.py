"""What every fault scenario checks afterwards (:func:`assert_invariants`): every successful
``UploadResult`` is listed with its size, and every listed file's stored bytes (downloaded from
storage with boto3) have the MD5 of bytes the test really uploaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import boto3
from botocore.config import Config

from alloy_nb import Client, UploadResult
from alloy_nb.sandbox import S3Settings

_S3_CLIENTS: dict[tuple[str, str], Any] = {}


def s3_client(settings: S3Settings) -> Any:
    key = (settings.endpoint_url, settings.access_key)
    if key not in _S3_CLIENTS:
        _S3_CLIENTS[key] = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 2},
            ),
        )
    return _S3_CLIENTS[key]


def stored_md5(settings: S3Settings, key: str) -> tuple[int, str]:
    body = s3_client(settings).get_object(Bucket=settings.bucket, Key=key)["Body"].read()
    return len(body), hashlib.md5(body).hexdigest()


def assert_invariants(
    client: Client,
    storage: S3Settings,
    results: Iterable[UploadResult],
    attempted: Iterable[bytes] = (),
) -> dict[str, int]:
    """Every result is listed with its size; every listed file's stored bytes match its MD5.

    A listed key that no result names (an upload that failed on the client's side after
    storage took the bytes) must hold the complete bytes of something in ``attempted``:
    never a half-written or foreign object. Returns the listing as ``{s3_key: size}``.
    """
    results = list(results)
    known = {hashlib.md5(b).hexdigest(): len(b) for b in attempted}
    known.update({r.md5_hex: r.size for r in results})
    by_key: dict[str, str] = {}
    for r in results:
        assert by_key.setdefault(r.s3_key, r.md5_hex) == r.md5_hex, f"{r.s3_key} overwritten"
    files = client.list_files()
    listed = dict(zip(files["s3_key"].tolist(), files["size"].tolist(), strict=True))
    for r in results:
        assert r.s3_key in listed, f"{r} is not listed"
        assert listed[r.s3_key] == r.size, f"{r.s3_key}: listed {listed[r.s3_key]} bytes"
    for key, size in listed.items():
        n, md5 = stored_md5(storage, key)
        assert n == size, f"{key}: listed {size} bytes, stored {n}"
        if key in by_key:
            assert md5 == by_key[key], f"{key}: stored bytes are not the uploaded ones"
        else:
            assert known.get(md5) == n, f"{key}: phantom or corrupt object ({n} bytes)"
    return listed
