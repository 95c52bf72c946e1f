"""Lock every ``weed mini`` port except the signature-checked S3 gateway.

Nothing on loopback is private: other local users, and any web page in the user's browser,
can reach 127.0.0.1. ``weed mini`` (4.48) leaves its master, volume and filer HTTP APIs and
every gRPC port open by default, and its volume server answers ``Access-Control-Allow-Origin:
*`` unconditionally. Each start therefore writes, into the data directory only (mode 0600,
fresh keys every start, read through ``-config_dir``), a ``security.toml`` that:

* puts the master, volume and filer HTTP ports behind TLS that requires a client
  certificate from a per-start CA (``[https.*]``; ``[https.client]`` for weed's own calls):
  a browser or a process without the key cannot even finish the handshake, so it sees no
  status, no data and no CORS header;
* requires mutual TLS on every gRPC port and gRPC unix socket (``[grpc.*]``);
* signs volume reads and writes and filer reads and writes with JWTs (``[jwt.*]``), so the
  certificate alone is not enough either;
* allows no browser origin on the filer (``[cors.allowed_origins]``).

The S3 gateway itself checks signatures; its browser rule (presigned PUT from any origin,
nothing else) is a bucket CORS configuration, see :func:`bucket_cors`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alloy_nb.sandbox._settings import S3Settings

# An origin no page can have: what weed's origin allow-lists are set to.
NO_ORIGIN = "https://no-browser-access.invalid"
# Components that read a [grpc.<name>] section (weed/command/scaffold/security.toml).
_GRPC_COMPONENTS = (
    "master",
    "volume",
    "filer",
    "s3",
    "admin",
    "worker",
    "msg_broker",
    "msg_agent",
    "mq",
    "client",
)
_HTTPS_COMPONENTS = ("master", "volume", "filer")
# Volume writes and reads, filer writes and reads.
_JWT_SECTIONS = ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")
# A JWT is minted per chunk read or write and crosses loopback only; a short life still
# lets a slow chunk finish on a busy 2-core machine.
_JWT_SECONDS = 60


def weed_flags() -> list[str]:
    """Command-line flags that close what ``security.toml`` cannot."""
    return [
        "-disableHttp",  # master and filer serve no HTTP API (weed's S3 gateway uses gRPC)
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # The flag wins over security.toml for S3; the filer reads security.toml.
        f"-s3.allowedOrigins={NO_ORIGIN}",
        f"-filer.allowedOrigins={NO_ORIGIN}",
    ]


def weed_env(home: Path) -> dict[str, str]:
    """weed's environment: nothing of the user's that weed would act on. It reads
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` as an extra admin identity, ``WEED_*``
    as overrides of security.toml, and ``$HOME/.seaweedfs/*.toml`` as configuration."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "GOMAXPROCS", "GOGC", "GOMEMLIMIT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["HOME"] = str(home)
    return env


def bucket_cors() -> dict[str, Any]:
    """Any origin may PUT with a presigned URL (the signature is the capability); no
    cross-origin GET, list or DELETE gets a CORS header, so a page cannot read them."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": ["*"],
                "AllowedMethods": ["PUT"],
                "AllowedHeaders": ["content-md5", "content-type", "if-none-match"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 600,
            }
        ]
    }


def apply_bucket_cors(settings: S3Settings) -> None:
    """Set :func:`bucket_cors` on the sandbox's bucket (kept by weed across restarts, set
    again on every start so an older rule never lingers)."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    s3.put_bucket_cors(Bucket=settings.bucket, CORSConfiguration=bucket_cors())  # type: ignore[arg-type]


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML; raw UTF-8 avoids surrogates)."""
    return json.dumps(value, ensure_ascii=False)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` with mode 0600, replacing any older file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _certificates(config_dir: Path) -> tuple[Path, Path, Path]:
    """A fresh CA and one certificate it signed, for both ends of every TLS link."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise RuntimeError(
            "the sandbox's storage needs the 'cryptography' package for its keys: "
            "install the sandbox extra (pip install 'alloy_nb[sandbox]')"
        ) from None

    now = datetime.datetime.now(datetime.timezone.utc)

    def builder(cn: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("alloy-sandbox storage CA", "alloy-sandbox storage CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder("alloy-sandbox storage", "alloy-sandbox storage CA", key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (config_dir / "ca.pem", config_dir / "cert.pem", config_dir / "key.pem")
    _write_private(paths[0], ca.public_bytes(pem))
    _write_private(paths[1], cert.public_bytes(pem))
    _write_private(
        paths[2],
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return paths


def write_security_config(config_dir: Path) -> Path:
    """Fresh keys and certificates in ``config_dir`` (0700); returns its security.toml."""
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(config_dir, 0o700)
    # weed silently falls back to plaintext gRPC when a file is missing: absolute paths.
    ca, cert, key = (_toml_str(str(p.resolve())) for p in _certificates(config_dir))
    lines = [f"[cors.allowed_origins]\nvalues = {_toml_str(NO_ORIGIN)}"]
    for section in _JWT_SECTIONS:
        key_value = _toml_str(secrets.token_urlsafe(32))
        lines.append(f"[{section}]\nkey = {key_value}\nexpires_after_seconds = {_JWT_SECONDS}")
    lines += ["[access]\nui = false", "[filer.expose_directory_metadata]\nenabled = false"]
    lines.append(f"[grpc]\nca = {ca}")
    lines += [f"[grpc.{c}]\ncert = {cert}\nkey = {key}" for c in _GRPC_COMPONENTS]
    lines += [f"[https.{c}]\ncert = {cert}\nkey = {key}\nca = {ca}" for c in _HTTPS_COMPONENTS]
    lines.append(f"[https.client]\nenabled = true\ncert = {cert}\nkey = {key}\nca = {ca}")
    path = config_dir / "security.toml"
    _write_private(path, ("\n\n".join(lines) + "\n").encode())
    return path
