"""Eight clients uploading one name at once, also while storage resets their PUTs: no overwrite,
no lost or duplicated file.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from alloy_nb import Client, UploadResult
from alloy_nb.sandbox import Sandbox

from .faultplan import reset_after, status
from .faultproxy import FaultProxy
from .faultroutes import proxied_client, storage_routed_client
from .helpers import Api, random_bytes
from .invariants import assert_invariants


def run_at_once(n: int, fn: Callable[[int], UploadResult]) -> list[UploadResult]:
    """``fn(0..n-1)`` on n threads released together; re-raises the first failure."""
    barrier = threading.Barrier(n, timeout=30)
    out: list[UploadResult | BaseException | None] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = fn(i)
        except BaseException as e:
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "an upload hung"
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return [r for r in out if isinstance(r, UploadResult)]


def test_eight_clients_upload_the_same_file_at_once(
    sandbox: Sandbox, direct: Client, alice: Api
) -> None:
    data = random_bytes(1024 * 1024 + 3)
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(proxied_client(sandbox.base_url, alice.user_id, timeout=30))
            for _ in range(8)
        ]

        def upload(i: int) -> UploadResult:
            return clients[i].upload(data, filename="shared.bin", progress=False)

        results = run_at_once(8, upload)
    assert len(results) == 8
    assert {r.s3_key for r in results} == {f"{alice.user_id}_shared.bin"}
    assert "new" in {r.type for r in results}
    assert assert_invariants(direct, sandbox.storage, results) == {results[0].s3_key: len(data)}


def test_eight_clients_upload_different_files_with_one_name_at_once(
    sandbox: Sandbox, direct: Client, alice: Api
) -> None:
    datas = [random_bytes(100_000 + i) for i in range(8)]
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(proxied_client(sandbox.base_url, alice.user_id, timeout=30))
            for _ in range(8)
        ]

        def upload(i: int) -> UploadResult:
            return clients[i].upload(datas[i], filename="report.csv", progress=False)

        results = run_at_once(8, upload)
    assert len({r.s3_key for r in results}) == 8  # no overwrite
    assert {r.type for r in results} == {"new"}
    assert all(r.filename == "report.csv" and r.s3_key.endswith(".csv") for r in results)
    listed = assert_invariants(direct, sandbox.storage, results)
    assert listed == {r.s3_key: r.size for r in results}


def test_eight_clients_same_file_while_storage_resets_puts(
    sandbox: Sandbox,
    storage_proxy: FaultProxy,
    direct: Client,
    alice: Api,
    sleeps: list[float],
) -> None:
    data = random_bytes(1024 * 1024 + 5)
    storage_proxy.plan(*[reset_after(100_000)] * 4, status(503, xml=True), match="PUT")
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(
                storage_routed_client(
                    sandbox, storage_proxy, alice.user_id, timeout=30, max_retries=6
                )
            )
            for _ in range(8)
        ]

        def upload(i: int) -> UploadResult:
            return clients[i].upload(data, filename="stormy.bin", progress=False)

        results = run_at_once(8, upload)
    assert {r.s3_key for r in results} == {f"{alice.user_id}_stormy.bin"}
    faults = [p.fault for p in storage_proxy.requests("PUT")]
    assert faults.count("reset") == 4
    assert faults.count("status") == 1
    assert len(sleeps) == 5
    assert assert_invariants(direct, sandbox.storage, results) == {results[0].s3_key: len(data)}
