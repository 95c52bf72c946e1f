"""The sandbox's settings: built once from arguments and the environment.

The CLI (``python -m alloy_nb.sandbox``, ``serve``) and :func:`alloy_nb.sandbox.start` build
them the same way: an explicit argument wins over its environment variable, which wins over
the default. The S3 secret is read only from the environment (never a flag, never logged).
Standard library only: ``serve`` and the tests read it without FastAPI or boto3.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ENV_API_KEYS = "ALLOY_SANDBOX_API_KEYS"  # comma-separated; each key is its own workspace
ENV_DATA_DIR = "ALLOY_SANDBOX_DATA_DIR"
ENV_URL_TTL = "ALLOY_SANDBOX_URL_TTL"  # presigned URL lifetime in seconds
ENV_S3_ENDPOINT = "ALLOY_SANDBOX_S3_ENDPOINT"
ENV_S3_PUBLIC_ENDPOINT = "ALLOY_SANDBOX_S3_PUBLIC_ENDPOINT"
ENV_S3_ACCESS_KEY = "ALLOY_SANDBOX_S3_ACCESS_KEY"
ENV_S3_SECRET_KEY = "ALLOY_SANDBOX_S3_SECRET_KEY"  # noqa: S105 - a variable name
ENV_S3_BUCKET = "ALLOY_SANDBOX_S3_BUCKET"
ENV_S3_REGION = "ALLOY_SANDBOX_S3_REGION"
# The shared sandbox that connect() starts (``serve``) stops after this long without requests.
ENV_IDLE_TIMEOUT = "ALLOY_NB_SANDBOX_IDLE_TIMEOUT"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_CLI_PORT = 8765  # start() picks a free port instead
DEFAULT_CLI_DATA_DIR = "sandbox-data"  # start() uses a temporary directory instead
DEFAULT_BUCKET = "alloy-user-files"
DEFAULT_REGION = "us-east-1"
DEFAULT_URL_TTL = 3600  # what Alloy's presigned URLs last
MAX_URL_TTL = 7 * 24 * 3600  # SigV4 presigned URLs cannot last longer
DEFAULT_IDLE_TIMEOUT = 30 * 60.0
LOG_LEVELS = ("debug", "info", "warning", "error")

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SettingsError(ValueError):
    """A setting has a value the sandbox cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class S3Settings:
    """Where the sandbox keeps bytes. ``public_endpoint_url`` goes into presigned URLs."""

    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str
    region: str = DEFAULT_REGION
    public_endpoint_url: str | None = None


@dataclass(frozen=True)
class SandboxSettings:
    """Everything a sandbox is started with (see :func:`load_settings`)."""

    host: str = DEFAULT_HOST
    port: int = 0  # 0: any free port
    data_dir: Path | None = None  # None: a temporary directory, removed when it stops
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # (): the data dir's demo key
    s3: S3Settings | None = None  # None: the bundled SeaweedFS (weed mini)
    #: Bundled storage only: the origin its presigned URLs name instead of its own (a proxy
    #: or port mapping in front of it); ``s3.public_endpoint_url`` is the same for others.
    public_s3_endpoint: str | None = None
    url_ttl: int = DEFAULT_URL_TTL
    log_level: str = "warning"


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    api_keys: Sequence[str] | None = None,
    s3: S3Settings | None = None,
    s3_endpoint: str | None = None,
    s3_public_endpoint: str | None = None,
    s3_access_key: str | None = None,
    s3_bucket: str | None = None,
    s3_region: str | None = None,
    url_ttl: int | None = None,
    log_level: str | None = None,
) -> SandboxSettings:
    """Settings from arguments (None: not given), else ``environ`` (default ``os.environ``,
    read once here), else the defaults. ``s3`` replaces every ``s3_*`` argument and
    variable. Raises :class:`SettingsError` naming the argument or variable at fault."""
    env = dict(os.environ if environ is None else environ)
    if port is not None and not 0 <= port <= 65535:
        raise SettingsError(f"port must be 0 (any free port) to 65535, not {port}")
    level = (log_level or "warning").lower()
    if level not in LOG_LEVELS:
        raise SettingsError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    s3 = s3 or _s3(env, s3_endpoint, s3_public_endpoint, s3_access_key, s3_bucket, s3_region)
    public = None if s3 is not None else _public(s3_public_endpoint, env)
    return SandboxSettings(
        host=host or DEFAULT_HOST,
        port=port or 0,
        data_dir=_data_dir(data_dir, env),
        api_keys=_api_keys(api_keys, env),
        s3=s3,
        public_s3_endpoint=public,
        url_ttl=_url_ttl(url_ttl, env),
        log_level=level,
    )


def _given(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _data_dir(given: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    raw = given if given is not None and str(given) else _given(env, ENV_DATA_DIR)
    return Path(raw).expanduser() if raw else None


def _api_keys(given: Sequence[str] | None, env: Mapping[str, str]) -> tuple[str, ...]:
    if isinstance(given, str):
        raise SettingsError("api_keys must be a list of keys, not one string")
    if given:
        keys = [k.strip() for k in given]
        if not all(keys):
            raise SettingsError("an API key cannot be empty")
        return tuple(keys)
    return tuple(k.strip() for k in env.get(ENV_API_KEYS, "").split(",") if k.strip())


def _url_ttl(given: int | None, env: Mapping[str, str]) -> int:
    where, ttl = "url_ttl", given
    if ttl is None and (raw := _given(env, ENV_URL_TTL)) is not None:
        where = f"${ENV_URL_TTL}"
        try:
            ttl = int(raw)
        except ValueError:
            raise SettingsError(f"{where} must be a whole number of seconds, not {raw!r}") from None
    if ttl is None:
        return DEFAULT_URL_TTL
    if not 1 <= ttl <= MAX_URL_TTL:
        raise SettingsError(f"{where} must be 1 to {MAX_URL_TTL} seconds (7 days), not {ttl}")
    return ttl


def _s3(
    env: Mapping[str, str],
    endpoint: str | None,
    public_endpoint: str | None,
    access_key: str | None,
    bucket: str | None,
    region: str | None,
) -> S3Settings | None:
    endpoint = _url(endpoint, "--s3-endpoint") or _url(
        _given(env, ENV_S3_ENDPOINT), ENV_S3_ENDPOINT
    )
    if endpoint is None:
        return None
    public = _public(public_endpoint, env)
    access_key = access_key or _given(env, ENV_S3_ACCESS_KEY)
    secret = _given(env, ENV_S3_SECRET_KEY)
    if not access_key or not secret:
        missing = [ENV_S3_ACCESS_KEY] if not access_key else []
        missing += [ENV_S3_SECRET_KEY] if not secret else []
        raise SettingsError(
            f"an external S3 endpoint ({endpoint}) needs ${' and $'.join(missing)} "
            "(the access key may also be given as --s3-access-key)"
        )
    bucket_name = bucket or _given(env, ENV_S3_BUCKET) or DEFAULT_BUCKET
    if not _BUCKET.fullmatch(bucket_name) or ".." in bucket_name:
        where = "--s3-bucket" if bucket else f"${ENV_S3_BUCKET}"
        raise SettingsError(
            f"{where} {bucket_name!r} is not an S3 bucket name: 3 to 63 lowercase letters, "
            "digits, dots or hyphens, starting and ending with a letter or digit"
        )
    return S3Settings(
        endpoint_url=endpoint,
        access_key=access_key,
        secret_key=secret,
        bucket=bucket_name,
        region=region or _given(env, ENV_S3_REGION) or DEFAULT_REGION,
        public_endpoint_url=public,
    )


def _public(given: str | None, env: Mapping[str, str]) -> str | None:
    return _url(given, "--s3-public-endpoint") or _url(
        _given(env, ENV_S3_PUBLIC_ENDPOINT), ENV_S3_PUBLIC_ENDPOINT
    )


def _url(value: str | None, where: str) -> str | None:
    if not value:
        return None
    where = f"${where}" if where.startswith("ALLOY_") else where
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"{where} must be an http(s) URL like http://127.0.0.1:9000, not {value!r}"
        )
    return value


def idle_timeout(given: float | None = None, environ: Mapping[str, str] | None = None) -> float:
    """Seconds without a request before ``serve`` stops (0: never): ``given``, else
    ``$ALLOY_NB_SANDBOX_IDLE_TIMEOUT``, else 30 minutes."""
    if given is not None:
        return given
    raw = (os.environ if environ is None else environ).get(ENV_IDLE_TIMEOUT, "").strip()
    try:
        return float(raw) if raw else DEFAULT_IDLE_TIMEOUT
    except ValueError:
        raise SettingsError(
            f"${ENV_IDLE_TIMEOUT} must be a number of seconds (0: never), not {raw!r}"
        ) from None
