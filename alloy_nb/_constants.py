"""Defaults and environment variable names, in one place."""

from __future__ import annotations

API_VERSION = "2025-09"
SUPPORTED_API_VERSIONS = (API_VERSION,)
DEFAULT_BASE_URL = "https://production.runalloy.com"

# Client
ENV_API_KEY = "ALLOY_API_KEY"
ENV_BASE_URL = "ALLOY_BASE_URL"
ENV_USER_ID = "ALLOY_USER_ID"
ENV_PROGRESS = "ALLOY_NB_PROGRESS"
ENV_HASH_CACHE = "ALLOY_NB_HASH_CACHE"  # "0", "false", "no" or "off" turns the MD5 cache off
ENV_CACHE_DIR = "ALLOY_NB_CACHE_DIR"  # default: $XDG_CACHE_HOME/alloy_nb or ~/.cache/alloy_nb
HASH_CACHE_MAX_ENTRIES = 100_000  # about 10 MB of SQLite; least recently used pruned first

# Documented limits of the File Management API
MAX_SINGLE_PUT_BYTES = 5 * 1024**3
MAX_FILENAME_BYTES = 255

# The shared local sandbox that connect() finds or starts (one per OS user); the sandbox's
# own settings and their variables are in alloy_nb/sandbox/_settings.py.
ENV_SANDBOX_HOME = "ALLOY_NB_SANDBOX_HOME"

# HTTP behaviour of the client
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RETRIES = 3
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
# upload_many/delete_files threads. 16: double 8's latency-bound rate (workers / (2 round
# trips x RTT)) for a few ms of client CPU per file, and 2 connections per worker still
# fit the Client's 32 keep-alive connections; 32+ churned connections and cost more CPU
# per file in benchmarks/bench_latency.py.
DEFAULT_MAX_WORKERS = 16
LIST_PAGE_SIZE = 1000
DEFAULT_DEADLINE_SECONDS = 300.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024**2
MAX_LIST_PAGES = 10_000
