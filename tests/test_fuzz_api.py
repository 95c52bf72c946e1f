"""schemathesis against the sandbox's own /openapi.json: bounded, deterministic, no 5xx.

Every operation, both path prefixes, fuzzed with data generated from the schema; each
response must not be a server error and must match the documented status codes, content
type and response schema.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alloy_nb.sandbox._app import create_app

from .helpers import WORKSPACE_KEYS

HEADERS = {"Authorization": f"Bearer {WORKSPACE_KEYS[1]}", "x-api-version": "2025-09"}


# The schema the running sandbox serves at /openapi.json, built from the same app factory
# (describing the API needs no storage), so the operations are known at collection time.
schema = schemathesis.openapi.from_dict(create_app(None, None, None).openapi())  # type: ignore[arg-type]


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, sandbox: Any) -> None:
    """no 5xx; status, content type and body as documented"""
    case.call_and_validate(
        base_url=sandbox.base_url,
        headers=HEADERS,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_the_fuzzed_schema_is_the_served_one(sandbox: Any) -> None:
    served = httpx.get(f"{sandbox.base_url}/openapi.json").json()
    assert served == schema.raw_schema
