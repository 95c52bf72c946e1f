"""``python -m alloy_nb.sandbox``: run the offline Alloy-compatible service until stopped.

``serve``, ``status`` and ``stop`` (first argument) manage the shared sandbox that
``alloy_nb.connect()`` uses; see ``_serve.py``. Without one, flags run a sandbox here.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from alloy_nb.sandbox._server import start
from alloy_nb.sandbox._settings import (
    DEFAULT_CLI_DATA_DIR,
    DEFAULT_CLI_PORT,
    DEFAULT_HOST,
    ENV_API_KEYS,
    ENV_DATA_DIR,
    ENV_S3_SECRET_KEY,
    ENV_URL_TTL,
    LOG_LEVELS,
    SandboxSettings,
    SettingsError,
    load_settings,
)


def _parser() -> argparse.ArgumentParser:
    # Defaults are None where the environment may fill in: load_settings() decides.
    p = argparse.ArgumentParser(
        prog="python -m alloy_nb.sandbox",
        description="Offline Alloy-compatible File Management API on a real S3 server.",
        epilog="Subcommands for the shared sandbox that alloy_nb.connect() uses: "
        "serve, status, stop (python -m alloy_nb.sandbox status --help).",
    )
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_CLI_PORT, help="0 picks a free port")
    p.add_argument(
        "--data-dir",
        help=f"kept across restarts (default ${ENV_DATA_DIR}, else ./{DEFAULT_CLI_DATA_DIR})",
    )
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="an accepted API key (repeatable; each is its own workspace). "
        f"Default: ${ENV_API_KEYS}, else a demo key kept in the data directory",
    )
    p.add_argument(
        "--url-ttl",
        type=int,
        help=f"presigned URL lifetime in seconds (default ${ENV_URL_TTL}, else 3600)",
    )
    s3 = p.add_argument_group(
        "external S3 (instead of the bundled SeaweedFS)",
        f"Each flag defaults to its ALLOY_SANDBOX_S3_* variable; the secret is read only "
        f"from ${ENV_S3_SECRET_KEY}.",
    )
    s3.add_argument("--s3-endpoint")
    s3.add_argument(
        "--s3-public-endpoint",
        help="endpoint written into presigned URLs, if clients see storage elsewhere",
    )
    s3.add_argument("--s3-access-key")
    s3.add_argument("--s3-bucket", help="default alloy-user-files")
    s3.add_argument("--s3-region", help="default us-east-1")
    p.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=0.0,
        help="stop after this many seconds without an API request (default 0: never)",
    )
    return p


def cli_settings(args: argparse.Namespace) -> SandboxSettings:
    """The settings a ``python -m alloy_nb.sandbox`` command line means, in this environment."""
    settings = load_settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        api_keys=args.api_keys,
        s3_endpoint=args.s3_endpoint,
        s3_public_endpoint=args.s3_public_endpoint,
        s3_access_key=args.s3_access_key,
        s3_bucket=args.s3_bucket,
        s3_region=args.s3_region,
        url_ttl=args.url_ttl,
        log_level=args.log_level,
    )
    if settings.data_dir is None:  # the CLI keeps its data; start() alone would not
        settings = replace(settings, data_dir=Path(DEFAULT_CLI_DATA_DIR))
    return settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("serve", "status", "stop"):
        from alloy_nb.sandbox._serve import main as shared_main

        return shared_main(argv)
    args = _parser().parse_args(argv[1:] if argv and argv[0] == "run" else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = cli_settings(args)
    except SettingsError as e:
        print(f"alloy sandbox: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sandbox = start(settings=settings)
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
