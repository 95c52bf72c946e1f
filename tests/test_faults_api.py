"""Faults between the client and the API: a proxy resets, stalls, refuses or cuts the upload
request and the listing; the client retries what can be retried and otherwise raises a clear
alloy_nb error, and nothing half-written is stored (:func:`tests.invariants.assert_invariants`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client
from alloy_nb.sandbox import Sandbox

from .faultplan import CUT_REPLY, STALL, TRUNCATE, UNFRAMED, Fault, reset_after, status
from .faultproxy import FaultProxy
from .faultroutes import proxied_client
from .helpers import WORKSPACE_KEYS, Api, random_bytes
from .invariants import assert_invariants

UPLOAD_REQUEST = "POST /connectors/files/upload/request"


# ---------------------------------------------------------------- client <-> API


def test_proxy_passes_uploads_and_listings_through(
    api_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api
) -> None:
    data = random_bytes(50_000)
    with proxied_client(api_proxy.url, alice.user_id) as c:
        result = c.upload(data, filename="through.bin", progress=False)
        assert c.list_files()["s3_key"].tolist() == [result.s3_key]
    assert [(s.method, s.fault) for s in api_proxy.seen] == [("POST", "pass"), ("GET", "pass")]
    assert assert_invariants(direct, sandbox.storage, [result]) == {result.s3_key: 50_000}


# Each fault hits the first attempts of the upload request, then requests pass.
API_RECOVERABLE = {
    "reset_mid_body": reset_after(16),
    "stall_past_timeout": STALL,
    "503": status(503),
    "429_retry_after_0": status(429, ("Retry-After", "0")),
    "truncated_response": TRUNCATE,
    "reply_cut_after_work": CUT_REPLY,
}


@pytest.mark.parametrize("fault", API_RECOVERABLE.values(), ids=list(API_RECOVERABLE))
def test_api_faults_are_retried_and_the_upload_lands(
    fault: Fault,
    api_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(70_000)
    times = 1 if fault is STALL else 3  # a stall costs a whole timeout per attempt
    api_proxy.plan(*[fault] * times, match=UPLOAD_REQUEST)
    started = time.monotonic()
    with proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=3) as c:
        result = c.upload(data, filename="retried.bin", progress=False)
    assert time.monotonic() - started < 10
    assert result.type == "new"
    assert result.size == len(data)
    assert result.md5_hex == hashlib.md5(data).hexdigest()
    assert [s.fault for s in api_proxy.requests(UPLOAD_REQUEST)] == [fault.kind] * times + ["pass"]
    assert len(sleeps) == times
    if fault.kind == "status" and fault.status == 429:
        assert sleeps == [0.0] * times  # Retry-After honoured
    assert assert_invariants(direct, sandbox.storage, [result]) == {result.s3_key: len(data)}


API_FATAL = {
    "reset_mid_body": (reset_after(16), alloy_nb.APIConnectionError),
    "stall_past_timeout": (STALL, alloy_nb.APITimeoutError),
    "503": (status(503), alloy_nb.ServerError),
    "429_retry_after_0": (status(429, ("Retry-After", "0")), alloy_nb.RateLimitError),
    "truncated_response": (TRUNCATE, alloy_nb.APIConnectionError),
}


@pytest.mark.parametrize(("fault", "error"), API_FATAL.values(), ids=list(API_FATAL))
def test_api_faults_that_never_end_raise_a_clear_error_and_store_nothing(
    fault: Fault,
    error: type[alloy_nb.AlloyError],
    api_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(30_000)
    api_proxy.plan(then=fault, match=UPLOAD_REQUEST)
    started = time.monotonic()
    with (
        proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=2) as c,
        pytest.raises(error) as caught,
    ):
        c.upload(data, filename="doomed.bin", progress=False)
    assert time.monotonic() - started < 10
    assert type(caught.value) is error
    assert WORKSPACE_KEYS[0] not in str(caught.value)
    if isinstance(caught.value, alloy_nb.APIStatusError):
        assert caught.value.status_code == fault.status
    assert len(api_proxy.requests(UPLOAD_REQUEST)) == 3  # the first try and two retries
    assert len(sleeps) == 2
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}


def test_listing_survives_a_mixed_storm(
    api_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api, sleeps: list[float]
) -> None:
    results = [
        direct.upload(random_bytes(1000 + i), filename=f"f{i}.bin", progress=False)
        for i in range(3)
    ]
    storm = [status(503), reset_after(0), TRUNCATE, status(429, ("Retry-After", "0")), CUT_REPLY]
    api_proxy.plan(*storm, match="GET /connectors/files/list")
    with proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=5) as c:
        files = c.list_files()
    assert sorted(files["s3_key"]) == sorted(r.s3_key for r in results)
    assert [s.fault for s in api_proxy.seen] == [f.kind for f in storm] + ["pass"]
    assert len(sleeps) == len(storm)
    assert_invariants(direct, sandbox.storage, results)


@pytest.mark.parametrize("call", ["upload", "list_files"])
def test_a_cut_reply_without_a_length_is_an_alloy_error(
    call: str,
    api_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    """A 200 whose close-delimited JSON body was cut looks complete to HTTP: the client must
    still raise an alloy_nb error (it used to leak json.JSONDecodeError), storing nothing."""
    data = random_bytes(5000)
    api_proxy.plan(then=UNFRAMED, match=UPLOAD_REQUEST if call == "upload" else "GET")
    with proxied_client(api_proxy.url, alice.user_id, timeout=1.0, max_retries=1) as c:
        run: Callable[[], object] = (
            (lambda: c.upload(data, filename="cut.bin", progress=False))
            if call == "upload"
            else c.list_files
        )
        with pytest.raises(alloy_nb.APIError) as caught:
            run()
    assert not isinstance(caught.value, alloy_nb.APIStatusError)  # it was a 200
    assert "JSON" in str(caught.value)
    assert {s.fault for s in api_proxy.seen} == {"unframed"}
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}
