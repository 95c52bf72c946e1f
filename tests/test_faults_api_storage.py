"""Faults between the sandbox's API and its storage: a skewed clock between them, and storage
killed mid-upload then restarted (on the same ports, then under a new sandbox on the same data).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import botocore.auth
import httpx
import pytest

import alloy_nb
import alloy_nb.sandbox
from alloy_nb import Client, UploadResult
from alloy_nb.sandbox import Sandbox

from .helpers import Api, random_bytes
from .invariants import assert_invariants, stored_md5

OWN_KEY = "fault-key"
MiB = 1024 * 1024


def test_sandbox_clock_twelve_minutes_slow_makes_urls_expire_and_the_error_is_clear(
    sandbox: Sandbox, http: httpx.Client, sleeps: list[float]
) -> None:
    """The API host's clock runs 12 min behind storage's: its signed HEADs still pass (S3
    allows 15 min of skew) but its 10-minute URLs are born expired. The client renews once,
    fails again, and says so; nothing is stored; with the clock fixed the upload lands."""
    real = botocore.auth.get_current_datetime  # type: ignore[attr-defined]  # not in the stubs
    skew = datetime.timedelta(minutes=-12)
    data = random_bytes(20_000)
    with alloy_nb.sandbox.start(api_keys=["skewed-key"], s3=sandbox.storage, url_ttl=600) as sb:
        user = Api(http, sb.base_url, "skewed-key").new_user()
        with Client("skewed-key", base_url=sb.base_url, user_id=user.user_id) as c:
            with (
                mock.patch.object(
                    botocore.auth, "get_current_datetime", lambda *a, **k: real(*a, **k) + skew
                ),
                pytest.raises(alloy_nb.PermissionDeniedError, match="expired") as caught,
            ):
                c.upload(data, filename="late.bin", progress=False)
            assert caught.value.code == "AccessDenied"
            assert assert_invariants(c, sb.storage, [], [data]) == {}
            result = c.upload(data, filename="late.bin", progress=False)
            assert result.s3_key == f"{user.user_id}_late.bin"
            assert assert_invariants(c, sb.storage, [result]) == {result.s3_key: len(data)}


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Callable[[], Sandbox]]:
    """Start sandboxes on one data directory (tmp_path/data); all are stopped at the end."""
    started: list[Sandbox] = []

    def start() -> Sandbox:
        sb = alloy_nb.sandbox.start(data_dir=tmp_path / "data", api_keys=[OWN_KEY])
        started.append(sb)
        return sb

    try:
        yield start
    finally:
        for sb in started:
            sb.stop()


def test_storage_killed_mid_uploads_then_restarted(
    own_sandbox: Callable[[], Sandbox], sleeps: list[float]
) -> None:
    sb = own_sandbox()
    assert sb.weed is not None
    weed = sb.weed
    blobs = [random_bytes(3 * MiB if i == 5 else 200_000 + i) for i in range(9)]
    outcomes: list[UploadResult | BaseException] = []
    paused, resume = threading.Event(), threading.Event()

    def pause_mid_body(done: int, total: int) -> None:
        if done > MiB and not paused.is_set():  # the first MiB is on the wire
            paused.set()
            resume.wait(30)

    def uploads() -> None:
        with Client(OWN_KEY, base_url=sb.base_url, timeout=5, max_retries=1) as c:
            for i, blob in enumerate(blobs):
                hook = pause_mid_body if i == 5 else None
                try:
                    outcomes.append(
                        c.upload(blob, filename=f"f{i}.bin", progress=False, on_progress=hook)
                    )
                except alloy_nb.AlloyError as e:
                    outcomes.append(e)

    worker = threading.Thread(target=uploads, daemon=True)
    worker.start()
    try:
        assert paused.wait(60), "upload 5 never started its PUT"
        weed.kill()
    finally:
        resume.set()
    worker.join(60)
    assert not worker.is_alive(), "uploads hung after storage died"

    assert [type(o) for o in outcomes[:5]] == [UploadResult] * 5
    assert type(outcomes[5]) is alloy_nb.APIConnectionError  # the PUT in flight
    for o in outcomes[6:]:  # the API answers a quick 503 while storage is down
        assert isinstance(o, alloy_nb.ServerError)
        assert o.status_code == 503
        assert "storage is unavailable" in o.message
    results = [o for o in outcomes if isinstance(o, UploadResult)]

    # The same WeedServer object restarts on its data and on its ports, so the running
    # sandbox (and every URL it handed out) reaches storage again.
    weed.start()
    assert weed.settings.endpoint_url == sb.storage.endpoint_url
    for r in results:
        assert stored_md5(weed.settings, r.s3_key) == (r.size, r.md5_hex)
    deadline = time.monotonic() + 10
    while httpx.get(sb.base_url + "/health").status_code != 200:
        assert time.monotonic() < deadline, "the sandbox did not reach restarted storage"
        time.sleep(0.1)
    with Client(OWN_KEY, base_url=sb.base_url, max_retries=1) as c:
        listed = assert_invariants(c, sb.storage, results, blobs)
        assert set(listed) == {r.s3_key for r in results}  # nothing from the cut PUT
        late = [c.upload(blobs[i], filename=f"f{i}.bin", progress=False) for i in range(5, 9)]
        assert [r.type for r in late] == ["new"] * 4
        assert len(assert_invariants(c, sb.storage, results + late)) == len(blobs)

    # A sandbox restarted on the same data directory serves it all again, deduplicated.
    sb.stop()
    sb2 = own_sandbox()
    with Client(OWN_KEY, base_url=sb2.base_url, max_retries=1) as c:
        for r, blob in zip(results + late, blobs, strict=True):
            again = c.upload(blob, filename=r.filename, progress=False)
            assert (again.type, again.s3_key) == ("existing", r.s3_key)
        assert len(assert_invariants(c, sb2.storage, results + late)) == len(blobs)
