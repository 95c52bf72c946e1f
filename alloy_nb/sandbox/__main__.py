"""``python -m alloy_nb.sandbox``: run the offline Alloy-compatible service until stopped.

``serve``, ``status`` and ``stop`` (first argument) manage the shared sandbox that
``alloy_nb.connect()`` uses; see ``_serve.py``. Without one, flags run a sandbox here.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from alloy_nb._constants import (
    ENV_SANDBOX_DATA_DIR,
    ENV_SANDBOX_S3_ACCESS_KEY,
    ENV_SANDBOX_S3_BUCKET,
    ENV_SANDBOX_S3_ENDPOINT,
    ENV_SANDBOX_S3_PUBLIC_ENDPOINT,
    ENV_SANDBOX_S3_REGION,
    ENV_SANDBOX_S3_SECRET_KEY,
    PRESIGNED_URL_TTL_SECONDS,
    SANDBOX_DEFAULT_BUCKET,
    SANDBOX_DEFAULT_HOST,
    SANDBOX_DEFAULT_PORT,
    SANDBOX_DEFAULT_REGION,
)
from alloy_nb.sandbox._server import start
from alloy_nb.sandbox._storage import S3Settings


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m alloy_nb.sandbox",
        description="Offline Alloy-compatible File Management API on a real S3 server.",
        epilog="Subcommands for the shared sandbox that alloy_nb.connect() uses: "
        "serve, status, stop (python -m alloy_nb.sandbox status --help).",
    )
    p.add_argument("--host", default=SANDBOX_DEFAULT_HOST)
    p.add_argument("--port", type=int, default=SANDBOX_DEFAULT_PORT, help="0 picks a free port")
    p.add_argument(
        "--data-dir",
        default=env(ENV_SANDBOX_DATA_DIR, "sandbox-data"),
        help=f"kept across restarts (default ./sandbox-data, or ${ENV_SANDBOX_DATA_DIR})",
    )
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="an accepted API key (repeatable; each is its own workspace). "
        "Default: $ALLOY_SANDBOX_API_KEYS, else a demo key kept in the data directory",
    )
    p.add_argument(
        "--url-ttl",
        type=int,
        default=PRESIGNED_URL_TTL_SECONDS,
        help="presigned URL lifetime in seconds (default 3600)",
    )
    s3 = p.add_argument_group("external S3 (instead of the bundled SeaweedFS)")
    s3.add_argument("--s3-endpoint", default=env(ENV_SANDBOX_S3_ENDPOINT))
    s3.add_argument(
        "--s3-public-endpoint",
        default=env(ENV_SANDBOX_S3_PUBLIC_ENDPOINT),
        help="endpoint written into presigned URLs, if clients see storage elsewhere",
    )
    s3.add_argument("--s3-access-key", default=env(ENV_SANDBOX_S3_ACCESS_KEY))
    s3.add_argument("--s3-bucket", default=env(ENV_SANDBOX_S3_BUCKET, SANDBOX_DEFAULT_BUCKET))
    s3.add_argument("--s3-region", default=env(ENV_SANDBOX_S3_REGION, SANDBOX_DEFAULT_REGION))
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=0.0,
        help="stop after this many seconds without an API request (default 0: never)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("serve", "status", "stop"):
        from alloy_nb.sandbox._serve import main as shared_main

        return shared_main(argv)
    args = _parser().parse_args(argv[1:] if argv and argv[0] == "run" else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    s3 = None
    if args.s3_endpoint:
        secret = os.environ.get(ENV_SANDBOX_S3_SECRET_KEY)
        if not args.s3_access_key or not secret:
            print(
                f"--s3-endpoint needs --s3-access-key and ${ENV_SANDBOX_S3_SECRET_KEY}",
                file=sys.stderr,
            )
            return 2
        s3 = S3Settings(
            args.s3_endpoint,
            args.s3_access_key,
            secret,
            args.s3_bucket,
            args.s3_region,
            args.s3_public_endpoint,
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sandbox = start(
            host=args.host,
            port=args.port,
            data_dir=Path(args.data_dir),
            api_keys=args.api_keys,
            s3=s3,
            url_ttl=args.url_ttl,
            log_level=args.log_level,
        )
    except Exception as e:  # broad on purpose: the CLI reports any start failure in one line
        print(f"alloy sandbox failed to start: {e}", file=sys.stderr)
        return 1
    try:
        print(f"alloy sandbox ready base_url={sandbox.base_url}")
        for k in sandbox.api_keys:
            print(f"api_key={k.key} user_id={k.user_id}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            if args.idle_timeout > 0 and sandbox.activity.idle_seconds() >= args.idle_timeout:
                print(f"alloy sandbox stopped after {args.idle_timeout:g} s without requests")
                break
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
