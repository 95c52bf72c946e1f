"""Faults between the client and storage: a proxy on the presigned PUT's path resets, stalls,
refuses or cuts it, or the URL's signed date is shifted; the body restarts from its first byte
or the client raises, and storage never holds a partial or phantom object.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client
from alloy_nb.sandbox import Sandbox

from .faultplan import CUT_REPLY, STALL, TRUNCATE, Fault, reset_after, status
from .faultproxy import FaultProxy
from .faultroutes import RerouteTransport, storage_routed_client
from .helpers import WORKSPACE_KEYS, Api, random_bytes
from .invariants import assert_invariants


def test_storage_proxy_keeps_the_signature_valid(
    storage_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api
) -> None:
    data = random_bytes(200_000)
    with storage_routed_client(sandbox, storage_proxy, alice.user_id) as c:
        result = c.upload(data, filename="signed.bin", progress=False)
    [put] = storage_proxy.seen
    assert (put.method, put.fault, put.body_forwarded) == ("PUT", "pass", len(data))
    assert put.path == f"/{sandbox.storage.bucket}/{result.s3_key}"
    assert_invariants(direct, sandbox.storage, [result])


STORAGE_RECOVERABLE = {
    "reset_mid_put_body": reset_after(512 * 1024),
    "reset_before_body": reset_after(0),
    "503_slowdown": status(503, xml=True),
    "stall_past_timeout": STALL,
    "truncated_response": TRUNCATE,
    "reply_cut_after_stored": CUT_REPLY,
}


@pytest.mark.parametrize("fault", STORAGE_RECOVERABLE.values(), ids=list(STORAGE_RECOVERABLE))
def test_storage_faults_restart_the_body_and_the_upload_lands(
    fault: Fault,
    storage_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(2 * 1024 * 1024 + 17)
    times = 1 if fault is STALL else 2
    storage_proxy.plan(*[fault] * times, match="PUT")
    progress: list[tuple[int, int]] = []
    with storage_routed_client(sandbox, storage_proxy, alice.user_id, timeout=1.0) as c:
        result = c.upload(
            data, filename="big.bin", progress=False, on_progress=lambda *a: progress.append(a)
        )
    puts = storage_proxy.requests("PUT")
    assert [p.fault for p in puts] == [fault.kind] * times + ["pass"]
    if fault.kind == "reset":
        assert all(p.body_forwarded == fault.after for p in puts[:-1])
    assert puts[-1].body_forwarded == len(data)  # the body restarted from its first byte
    assert progress[-1] == (len(data), len(data))
    assert len(sleeps) == times
    assert result.type == "new"
    assert assert_invariants(direct, sandbox.storage, [result]) == {result.s3_key: len(data)}
    again = direct.upload(data, filename="big.bin", progress=False)
    assert (again.type, again.s3_key) == ("existing", result.s3_key)


STORAGE_FATAL = {
    "reset_mid_put_body": (reset_after(256 * 1024), alloy_nb.APIConnectionError),
    "503_slowdown": (status(503, xml=True), alloy_nb.ServerError),
    "stall_past_timeout": (STALL, alloy_nb.APITimeoutError),
}


@pytest.mark.parametrize(("fault", "error"), STORAGE_FATAL.values(), ids=list(STORAGE_FATAL))
def test_storage_faults_that_never_end_raise_and_leave_nothing_behind(
    fault: Fault,
    error: type[alloy_nb.AlloyError],
    storage_proxy: FaultProxy,
    direct: Client,
    sandbox: Sandbox,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(1024 * 1024)
    storage_proxy.plan(then=fault, match="PUT")
    with (
        storage_routed_client(
            sandbox, storage_proxy, alice.user_id, timeout=1.0, max_retries=2
        ) as c,
        pytest.raises(error) as caught,
    ):
        c.upload(data, filename="never.bin", progress=False)
    assert type(caught.value) is error
    assert "X-Amz-Signature" not in str(caught.value)
    if isinstance(caught.value, alloy_nb.APIStatusError):
        assert (caught.value.status_code, caught.value.code) == (503, "SlowDown")
    assert len(storage_proxy.requests("PUT")) == 3
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}
    ticket = direct.request_upload(
        "never.bin", "application/octet-stream", hashlib.md5(data).hexdigest()
    )
    assert ticket.type == "new"  # nothing half-written was taken for the file


def test_reply_lost_every_time_is_an_error_but_the_bytes_are_whole(
    storage_proxy: FaultProxy, direct: Client, sandbox: Sandbox, alice: Api, sleeps: list[float]
) -> None:
    """Storage took the bytes but the 200 never arrived: the client must say it failed, and
    what storage holds is the complete file, found as ``existing`` on the next upload."""
    data = random_bytes(300_000)
    storage_proxy.plan(then=CUT_REPLY, match="PUT")
    with (
        storage_routed_client(sandbox, storage_proxy, alice.user_id, max_retries=1) as c,
        pytest.raises(alloy_nb.APIConnectionError),
    ):
        c.upload(data, filename="acked.bin", progress=False)
    assert [p.body_forwarded for p in storage_proxy.requests("PUT")] == [len(data)] * 2
    listed = assert_invariants(direct, sandbox.storage, [], [data])
    assert list(listed.values()) == [len(data)]  # stored whole, once, though the client failed
    again = direct.upload(data, filename="acked.bin", progress=False)
    assert again.type == "existing"
    assert_invariants(direct, sandbox.storage, [again])


def shift_amz_date(by: datetime.timedelta) -> Callable[[httpx.URL], httpx.URL]:
    def rewrite(url: httpx.URL) -> httpx.URL:
        query = dict(parse_qsl(url.query.decode()))
        if "X-Amz-Date" not in query:
            return url
        when = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        query["X-Amz-Date"] = (when + by).strftime("%Y%m%dT%H%M%SZ")
        return httpx.URL(urlunsplit(urlsplit(str(url))._replace(query=urlencode(query))))

    return rewrite


@pytest.mark.parametrize(
    ("shift", "code", "puts"),
    [
        # storage says "expired": the client asks for a new URL once, then gives up
        (datetime.timedelta(hours=-2), "AccessDenied", 2),
        # the date is signed, so any change is a bad signature: no renewal
        (datetime.timedelta(minutes=1), "SignatureDoesNotMatch", 1),
    ],
    ids=["two_hours_back", "one_minute_ahead"],
)
def test_url_with_a_shifted_x_amz_date_is_refused_and_nothing_is_stored(
    shift: datetime.timedelta,
    code: str,
    puts: int,
    sandbox: Sandbox,
    direct: Client,
    alice: Api,
    sleeps: list[float],
) -> None:
    sent: list[str] = []
    transport = RerouteTransport({}, shift_amz_date(shift))
    http = httpx.Client(
        transport=transport, event_hooks={"request": [lambda r: sent.append(r.method)]}
    )
    data = random_bytes(10_000)
    try:
        with (
            Client(
                WORKSPACE_KEYS[0],
                base_url=sandbox.base_url,
                user_id=alice.user_id,
                http_client=http,
            ) as c,
            pytest.raises(alloy_nb.PermissionDeniedError) as caught,
        ):
            c.upload(data, filename="skewed.bin", progress=False)
    finally:
        http.close()
    assert caught.value.status_code == 403
    assert caught.value.code == code
    assert sent == ["POST", "PUT"] * puts
    assert sleeps == []  # a 403 is never retried
    assert assert_invariants(direct, sandbox.storage, [], [data]) == {}
