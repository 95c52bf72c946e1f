"""The cheap hot paths keep every guarantee: listings and dedup served from the index,
URLs signed without botocore, reservations written in groups.

The index is trusted between checks only for storage the sandbox started itself (one
door, the sandbox's keys); these tests pin down when it asks storage again.
"""

from __future__ import annotations

import calendar
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

import alloy_nb.sandbox
import alloy_nb.sandbox._stored
from alloy_nb.sandbox import Sandbox
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._heartbeat import Heartbeat
from alloy_nb.sandbox._index import FileIndex, Listed
from alloy_nb.sandbox._presign import PutPresigner
from alloy_nb.sandbox._reservations import Reservations
from alloy_nb.sandbox._s3lite import parse_time
from alloy_nb.sandbox._settings import S3Settings, load_settings
from alloy_nb.sandbox._sqlite import DiskFull
from alloy_nb.sandbox._storage import Storage, StorageUnavailable

from .helpers import Api, random_bytes

KEY = "hotpath-key"


def s3(settings: S3Settings) -> object:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def stored_keys(sb: Sandbox, user_id: str) -> dict[str, int]:
    """What storage itself holds under the user's prefix: key -> size."""
    client = s3(sb.storage)
    pages = client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
        Bucket=sb.storage.bucket, Prefix=f"{user_id}_"
    )
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def listed(api: Api, limit: int | None = None) -> dict[str, int]:
    """The API's listing, following the cursor when ``limit`` pages it."""
    out: dict[str, int] = {}
    cursor = None
    while True:
        params = {} if limit is None else {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = api.call("GET", "/connectors/files/list", params=params)
        assert r.status_code == 200, r.text
        out.update({f["s3Key"]: f["size"] for f in r.json()["files"]})
        cursor = r.json().get("nextCursor")
        if not cursor:
            return out


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox on storage it started itself (the index is trusted between checks)."""
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        yield sb


# ---------------------------------------------------------------- presigned URLs


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8333",
        "https://s3.example.test",
        "http://[::1]:9000",
        "http://localhost:80/base",
    ],
)
@pytest.mark.parametrize(
    "key", ["651eb6e11d156e0d7a42c59d_a b+c~d=é.txt", "u_x'(!)*,;$@&.csv", "u_日本語 .tar.gz"]
)
@pytest.mark.parametrize("mime", ["text/plain", "text/plain ;  charset=utf-8"])
def test_presigned_url_is_botocores_byte_for_byte(endpoint: str, key: str, mime: str) -> None:
    """Our SigV4 PUT URL equals botocore's for the same instant, byte for byte."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="AKID",
        aws_secret_access_key="se/cr+et",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
    theirs = client.generate_presigned_url(
        "put_object",
        Params={"Bucket": "my-bucket", "Key": key, "ContentType": mime, "ContentMD5": md5},
        ExpiresIn=3600,
    )
    stamp = parse_qs(urlsplit(theirs).query)["X-Amz-Date"][0]
    now = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    ours = PutPresigner(endpoint, "my-bucket", "AKID", "se/cr+et", "eu-west-1")
    assert ours.url(key, mime, md5, 3600, now=now) == theirs


def test_the_light_listing_reads_what_boto3_reads(sandbox: Sandbox, alice: Api) -> None:
    """Our ListObjectsV2 (signed, parsed without botocore) equals boto3's, page by page.

    Keys with spaces, '+', '%', quotes and non-ASCII text; sizes, times and ETags too."""
    client = s3(sandbox.storage)
    prefix = f"{alice.user_id}_"
    names = ["a b.txt", "a+b.txt", "100%.txt", "x'\"&<>.csv", "日本語 ü.bin", "z.bin"]
    for i, name in enumerate(names):
        client.put_object(Bucket=sandbox.storage.bucket, Key=prefix + name, Body=b"x" * i)  # type: ignore[attr-defined]
    ours: list[tuple[str, int, object, str | None]] = []
    after = ""
    while True:
        items, more = Storage(sandbox.storage).list(prefix, start_after=after, max_keys=4)
        ours += [(o.key, o.size, o.last_modified, o.md5_hex) for o in items]
        if not more:
            break
        after = items[-1].key
    pages = client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
        Bucket=sandbox.storage.bucket, Prefix=prefix
    )
    theirs = [
        (o["Key"], o["Size"], o["LastModified"], o["ETag"].strip('"'))
        for page in pages
        for o in page.get("Contents", [])
    ]
    assert ours == theirs
    assert sorted(prefix + n for n in names) == [k for k, *_ in ours]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T07:53:44.123Z", datetime(2026, 11, 30, 7, 53, 44, 123000, timezone.utc)),
        ("2026-11-30T07:53:44Z", datetime(2026, 11, 30, 7, 53, 44, 0, timezone.utc)),
        ("2026-11-30T07:53:44.1234567Z", datetime(2026, 11, 30, 7, 53, 44, 123456, timezone.utc)),
        ("2026-11-30T09:53:44.5+02:00", datetime(2026, 11, 30, 7, 53, 44, 500000, timezone.utc)),
    ],
)
def test_storage_times_are_read_in_every_form(text: str, expected: datetime) -> None:
    """S3 timestamps with or without fractions, with Z or an offset, read as UTC."""
    assert parse_time(text) == expected


# ---------------------------------------------------------------- listings and dedup


def test_many_unused_urls_are_never_listed_in_any_page(alice: Api) -> None:
    """Requested but never uploaded files are never listed nor existing, paged or not.

    30 URLs never used sit among 3 uploaded files; every page size lists exactly the 3."""
    kept = {alice.upload(f"m{i}.bin", random_bytes(100 + i))["s3Key"]: 100 + i for i in range(3)}
    unused = [random_bytes(50) for _ in range(30)]
    for i, data in enumerate(unused):
        assert alice.ticket(f"{'a' if i % 2 else 'z'}{i}.bin", data)["type"] == "new"
    for limit in (None, 1, 2, 7, 1000):
        assert listed(alice, limit) == kept
    assert alice.ticket("again.bin", unused[0])["type"] == "new"


def test_an_upload_the_sandbox_did_not_see_land_is_listed_and_existing(alice: Api) -> None:
    """Bytes PUT straight to storage are listed and `existing` once they are there.

    The sandbox is not on the PUT's path: the listing asks storage about keys with URLs it
    has not seen land, and a second request for those bytes asks storage too."""
    data, other = random_bytes(700), random_bytes(800)
    t = alice.ticket("seen.bin", data)
    assert listed(alice) == {}
    assert alice.put(t, data).status_code == 200
    assert listed(alice, 1) == {t["s3Key"]: 700}
    u = alice.ticket("unseen.bin", other)
    assert alice.put(u, other).status_code == 200
    again = alice.ticket("whatever.bin", other)  # no listing in between
    assert (again["type"], again["s3Key"]) == ("existing", u["s3Key"])


def test_a_file_removed_behind_the_sandbox_is_forgotten_once_touched(own: Sandbox) -> None:
    """A file removed from storage out of band stops being listed or `existing` once the
    sandbox touches its key (a delete answers 404) or rebuilds its index.

    Storage the sandbox started has no other door; this simulates one with its keys."""
    api = Api(httpx.Client(timeout=30), own.base_url, KEY)
    data = random_bytes(900)
    t = api.upload("gone.bin", data)
    assert api.ticket("gone.bin", data)["type"] == "existing"
    s3(own.storage).delete_object(Bucket=own.storage.bucket, Key=t["s3Key"])  # type: ignore[attr-defined]
    assert api.delete(t["s3Key"]).status_code == 404  # the sandbox asks storage and learns
    assert listed(api) == {}
    assert api.ticket("gone.bin", data)["type"] == "new"


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
def test_a_rebuilt_index_lists_exactly_what_storage_holds(own: Sandbox, tmp_path: Path) -> None:
    """After a rebuild (index lost) the listing is exactly storage's, dedup included.

    Uploaded, landed-but-unseen, never-uploaded and deleted files: only stored ones show."""
    http = httpx.Client(timeout=30)
    api = Api(http, own.base_url, KEY)
    kept = random_bytes(1000)
    a = api.upload("a.bin", kept)
    b = api.ticket("b.bin", random_bytes(10))  # never uploaded
    c_data = random_bytes(1100)
    c = api.ticket("c.bin", c_data)
    assert api.put(c, c_data).status_code == 200  # landed, not yet seen by any listing
    d = api.upload("d.bin", random_bytes(1200))
    assert api.delete(d["s3Key"]).status_code == 200
    user_id = own.user_id
    own.stop()
    for f in tmp_path.glob("index.sqlite3*"):
        f.unlink()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        api = Api(http, sb.base_url, KEY)
        assert listed(api) == stored_keys(sb, user_id) == {a["s3Key"]: 1000, c["s3Key"]: 1100}
        assert b["s3Key"] not in listed(api, 1)
        again = api.ticket("other name.bin", kept)
        assert (again["type"], again["s3Key"]) == ("existing", a["s3Key"])


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
def test_a_reboot_rebuilds_the_index_from_storage(
    own: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the machine restarts the index is rebuilt: storage may have lost writes.

    Simulated: a file vanishes from storage while the sandbox is down, and the boot id
    changes; the restarted sandbox neither lists it nor answers `existing`."""
    api = Api(httpx.Client(timeout=30), own.base_url, KEY)
    data = random_bytes(600)
    t = api.upload("lost.bin", data)
    assert listed(api) == {t["s3Key"]: 600}
    settings = own.storage
    own.stop()
    monkeypatch.setattr(alloy_nb.sandbox._stored, "boot_id", lambda: "another boot")
    monkeypatch.setattr(alloy_nb.sandbox._index, "boot_id", lambda: "another boot")
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        s3(sb.storage).delete_object(Bucket=settings.bucket, Key=t["s3Key"])  # type: ignore[attr-defined]
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        api = Api(httpx.Client(timeout=30), sb.base_url, KEY)
        assert listed(api) == {t["s3Key"]: 600}  # same boot: the index is trusted
    monkeypatch.setattr(alloy_nb.sandbox._stored, "boot_id", lambda: "a third boot")
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        api = Api(httpx.Client(timeout=30), sb.base_url, KEY)
        assert listed(api) == {}
        assert api.ticket("lost.bin", data)["type"] == "new"


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
@pytest.mark.parametrize("when", ["live", "after a restart"])
def test_an_expired_url_that_wrote_unseen_is_settled_not_forgotten(
    tmp_path: Path, when: str
) -> None:
    """A URL that expired after writing bytes nobody saw land still holds its key.

    Its reservation is dropped only after storage is asked: the file is listed, `existing`,
    and other bytes under its name get another key (no overwrite)."""
    http = httpx.Client(timeout=30)
    ttl = 3  # long enough for the PUT on a busy machine
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=ttl) as sb:
        api = Api(http, sb.base_url, KEY)
        data = random_bytes(1300)
        t = api.ticket("late.bin", data)
        issued = time.time()  # no earlier than the sandbox's own issue time
        assert api.put(t, data).status_code == 200
        # The URL, its signing second and the local clock skew (1 s) are over.
        time.sleep(max(0.0, issued + ttl + 2.2 - time.time()))
        if when == "live":
            again = api.ticket("x.bin", data)  # nothing has seen it land yet
            assert (again["type"], again["s3Key"]) == ("existing", t["s3Key"])
            other = api.ticket("late.bin", random_bytes(1400))
            assert other["s3Key"] != t["s3Key"]
            assert listed(api) == {t["s3Key"]: 1300}
    if when == "after a restart":
        with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=ttl) as sb:
            api = Api(http, sb.base_url, KEY)
            other = api.ticket("late.bin", random_bytes(1400))
            assert other["s3Key"] != t["s3Key"]
            assert listed(api) == {t["s3Key"]: 1300}
            again = api.ticket("x.bin", data)
            assert (again["type"], again["s3Key"]) == ("existing", t["s3Key"])


# ---------------------------------------------------------------- reservations, grouped


def test_a_held_reservation_binds_at_once_and_a_failed_write_releases_it(tmp_path: Path) -> None:
    """A held reservation blocks other bytes before it is written; a failed write frees it.

    Committed ones are on disk; with the disk full the write raises and nothing stays held."""
    registry = Registry(tmp_path / "registry.sqlite3")
    r = Reservations(registry, skew=0)
    user, until = "a" * 24, time.time() + 60
    held = r.hold(user, "k1", "1" * 32, until)
    assert r.held_for_other("k1", "2" * 32)
    assert r.pending(user, "1" * 32) == ["k1"]
    r.commit(held)
    registry._query("PRAGMA max_page_count = 1")  # as small as it now is

    def fill() -> int:
        for i in range(2, 10_000):
            try:
                r.commit(r.hold(user, f"k{i}", "1" * 32, until))
            except DiskFull:
                return i
        raise AssertionError("the registry never filled up")

    i = fill()
    assert not r.held_for_other(f"k{i}", "2" * 32)
    assert f"k{i}" not in r.pending(user, "1" * 32)
    registry.close()
    reopened = Reservations(Registry(tmp_path / "registry.sqlite3"), skew=0)
    assert reopened.held_for_other("k1", "2" * 32)
    assert sorted(reopened.pending(user, "1" * 32)) == sorted(f"k{j}" for j in range(1, i))


def test_concurrent_reservations_are_all_durable(tmp_path: Path) -> None:
    """Forty threads reserving at once: each returns only once its row is on disk."""
    registry = Registry(tmp_path / "registry.sqlite3")
    r = Reservations(registry, skew=0)
    user, until = "b" * 24, time.time() + 60
    digests = [hashlib.md5(str(i).encode()).hexdigest() for i in range(40)]
    threads = [
        threading.Thread(target=r.reserve, args=(user, f"k{i}", m, until))
        for i, m in enumerate(digests)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    registry.close()
    reopened = Reservations(Registry(tmp_path / "registry.sqlite3"), skew=0)
    assert [reopened.pending(user, m) for m in digests] == [[f"k{i}"] for i in range(40)]


# ---------------------------------------------------------------- storage liveness, shared


def test_calls_share_pings_but_only_pings_started_after_they_arrived() -> None:
    """A call answered from the index waits for a ping started after it arrived; calls
    arriving meanwhile share the next one; a failure refuses every waiting call."""
    started, release = threading.Event(), threading.Event()
    pings: list[int] = []
    failing = False

    def ping() -> None:
        pings.append(1)
        if len(pings) == 1:
            started.set()
            assert release.wait(10)
        if failing:
            raise StorageUnavailable("storage at test is unreachable")

    beat = Heartbeat(ping)
    first = threading.Thread(target=beat.check)
    first.start()
    assert started.wait(10)
    results: list[str] = []

    def later() -> None:
        beat.check()
        results.append("ok")

    others = [threading.Thread(target=later) for _ in range(10)]
    for t in others:
        t.start()
    time.sleep(0.2)  # they are all waiting behind the first ping
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert results == ["ok"] * 10
    assert len(pings) == 2  # the first ping started before them: one more, shared
    failing = True
    with pytest.raises(StorageUnavailable, match="unreachable"):
        beat.check()


# ---------------------------------------------------------------- review: guarantees held


def test_existing_is_asked_of_storage_at_every_answer(own: Sandbox) -> None:
    """`existing` only while storage holds those bytes under that key, asked at each answer.

    Storage changed out of band (simulated with its keys): removed, or other bytes under
    the key; the very next request for the old bytes is `new`, never `existing`."""
    api = Api(httpx.Client(timeout=30), own.base_url, KEY)
    client = s3(own.storage)
    for change in ("removed", "replaced"):
        data = random_bytes(500)
        t = api.upload(f"{change}.bin", data)
        assert api.ticket("again.bin", data)["type"] == "existing"
        if change == "removed":
            client.delete_object(Bucket=own.storage.bucket, Key=t["s3Key"])  # type: ignore[attr-defined]
        else:
            client.put_object(Bucket=own.storage.bucket, Key=t["s3Key"], Body=b"other")  # type: ignore[attr-defined]
        again = api.ticket("again.bin", data)
        assert again["type"] == "new"
        assert api.put(again, data).status_code == 200
        assert api.ticket("third.bin", data)["type"] == "existing"


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
def test_a_delete_the_index_cannot_record_leaves_no_listed_ghost(
    own: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delete whose index write fails (disk full, or a crash there) lists what storage has.

    The index forgets the key before storage deletes it; the failed delete answers 507 and
    the file is still stored and still listed, never listed while gone."""
    api = Api(httpx.Client(timeout=30), own.base_url, KEY)
    data = random_bytes(400)
    t = api.upload("kept.bin", data)
    learn = FileIndex.learn

    def full(
        self: FileIndex, user_id: str, seen: Iterable[Listed], gone: Iterable[str] = ()
    ) -> None:
        gone = list(gone)
        if gone:
            raise DiskFull(self.path)
        learn(self, user_id, seen, gone)

    monkeypatch.setattr(FileIndex, "learn", full)
    assert api.delete(t["s3Key"]).status_code == 507
    monkeypatch.undo()
    assert listed(api) == stored_keys(own, own.user_id) == {t["s3Key"]: 400}
    assert api.ticket("kept.bin", data)["type"] == "existing"
    assert api.delete(t["s3Key"]).status_code == 200
    assert listed(api) == stored_keys(own, own.user_id) == {}


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
def test_storage_emptied_while_running_is_refused_then_rebuilt(
    own: Sandbox, tmp_path: Path
) -> None:
    """Storage emptied or replaced under a running sandbox: 503 naming it, never a ghost.

    Simulated by deleting every object with storage's keys; the sandbox's mark goes with
    them. After a restart the index is rebuilt from storage: an empty listing."""
    api = Api(httpx.Client(timeout=30), own.base_url, KEY)
    t = api.upload("wiped.bin", random_bytes(300))
    assert listed(api) == {t["s3Key"]: 300}
    client = s3(own.storage)
    objects = client.list_objects_v2(Bucket=own.storage.bucket)["Contents"]  # type: ignore[attr-defined]
    assert any(o["Key"].startswith(".alloy-sandbox-index-") for o in objects)
    for o in objects:
        client.delete_object(Bucket=own.storage.bucket, Key=o["Key"])  # type: ignore[attr-defined]
    r = api.call("GET", "/connectors/files/list")
    assert r.status_code == 503
    assert "emptied or replaced" in r.json()["message"]
    assert api.request_upload("new.bin", random_bytes(10)).status_code == 503
    own.stop()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        api = Api(httpx.Client(timeout=30), sb.base_url, KEY)
        assert listed(api) == stored_keys(sb, sb.user_id) == {}


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
def test_storage_replaced_while_stopped_is_noticed_at_start(own: Sandbox, tmp_path: Path) -> None:
    """A data directory whose storage changed while the sandbox was down (same boot) is
    rebuilt at start: what another storage holds is listed, nothing of the old index."""
    api = Api(httpx.Client(timeout=30), own.base_url, KEY)
    t = api.upload("before.bin", random_bytes(300))
    assert listed(api) == {t["s3Key"]: 300}  # seen: indexed, its URL settled
    user_id = own.user_id
    own.stop()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        client = s3(sb.storage)
        for o in client.list_objects_v2(Bucket=sb.storage.bucket)["Contents"]:  # type: ignore[attr-defined]
            client.delete_object(Bucket=sb.storage.bucket, Key=o["Key"])  # type: ignore[attr-defined]
        client.put_object(Bucket=sb.storage.bucket, Key=f"{user_id}_other.bin", Body=b"12345")  # type: ignore[attr-defined]
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], url_ttl=60) as sb:
        api = Api(httpx.Client(timeout=30), sb.base_url, KEY)
        assert listed(api) == {f"{user_id}_other.bin": 5}
        assert t["s3Key"] not in listed(api)


@pytest.mark.slow  # restarts or rebuilds a sandbox: make test, not make check
def test_a_key_left_out_at_restart_no_longer_authenticates(tmp_path: Path) -> None:
    """A key rotated out (not given at the next start) gets 401; its files stay stored.

    Workspaces persist in the registry, but only this run's keys open them."""
    http = httpx.Client(timeout=30)
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=["old-key", "kept-key"]) as sb:
        old = Api(http, sb.base_url, "old-key")
        old.upload("a.bin", random_bytes(100))
        assert old.call("GET", "/connectors/files/list").status_code == 200
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=["kept-key", "new-key"]) as sb:
        for key, status in (("old-key", 401), ("kept-key", 200), ("new-key", 200)):
            api = Api(http, sb.base_url, key)
            for _ in range(2):  # the second answer comes from the auth cache
                assert api.call("GET", "/connectors/files/list").status_code == status


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "1 to 1,024 bytes"),
        ("u_" + "x" * 1023, "1 to 1,024 bytes"),
        ("u_a\nb", "control characters"),
        ("u_a\x7fb", "control characters"),
        ("a/../b", "path segments"),
        ("./u_a", "path segments"),
        ("u_a/..", "path segments"),
        ("u_\ud800.txt", "unpaired surrogates"),
    ],
)
def test_the_presigner_refuses_keys_it_cannot_sign_as_one_path(key: str, why: str) -> None:
    """A key that is no S3 key, or whose URL path a client would rewrite, is refused."""
    signer = PutPresigner("http://127.0.0.1:8333", "b", "AKID", "secret", "us-east-1")
    with pytest.raises(ValueError, match=why):
        signer.url(key, "text/plain", "1B2M2Y8AsgTpgAmY7PhCfg==", 60)
    with pytest.raises(ValueError, match=why):
        signer.object_url("HEAD", key)


def test_the_light_head_reads_what_boto3_reads(sandbox: Sandbox, alice: Api) -> None:
    """Our HEAD (signed, without botocore) reads size, time and MD5 as boto3 does."""
    client = s3(sandbox.storage)
    storage = Storage(sandbox.storage)
    for name in ["a b+c%.txt", "日本語 ü.bin"]:
        key = f"{alice.user_id}_{name}"
        client.put_object(Bucket=sandbox.storage.bucket, Key=key, Body=name.encode())  # type: ignore[attr-defined]
        theirs = client.head_object(Bucket=sandbox.storage.bucket, Key=key)  # type: ignore[attr-defined]
        ours = storage.head(key)
        assert ours is not None
        assert (ours.size, ours.last_modified, ours.md5_hex) == (
            theirs["ContentLength"],
            theirs["LastModified"],
            theirs["ETag"].strip('"'),
        )
    assert storage.head(f"{alice.user_id}_absent.bin") is None
    storage.close()


def test_a_stalled_listing_never_ends_a_rebuild_early() -> None:
    """An empty listing page that says more follow is an error, never the end of storage
    (a rebuild that stopped there would forget stored files)."""
    storage = Storage(S3Settings("http://127.0.0.1:9", "AKID", "secret", "b"))

    def stalled(prefix: str, start_after: str, max_keys: int) -> tuple[list[object], bool]:
        return [], True

    storage._lite.list = stalled  # type: ignore[method-assign,assignment]
    with pytest.raises(StorageUnavailable, match="more follow"):
        list(storage.iter_all())


def test_bundled_storage_can_be_named_through_a_proxy(tmp_path: Path) -> None:
    """A public S3 endpoint without an S3 endpoint: the bundled storage, presigned for it.

    The sandbox still started its storage (sole writer); its URLs name the given origin."""
    env = {"ALLOY_SANDBOX_S3_PUBLIC_ENDPOINT": "http://127.0.0.1:9"}
    settings = load_settings(env, data_dir=tmp_path, api_keys=[KEY])
    assert (settings.s3, settings.public_s3_endpoint) == (None, "http://127.0.0.1:9")
    with alloy_nb.sandbox.start(settings=settings) as sb:
        assert sb.storage.public_endpoint_url == "http://127.0.0.1:9"
        api = Api(httpx.Client(timeout=30), sb.base_url, KEY)
        t = api.ticket("via-proxy.bin", random_bytes(10))
        assert t["presignedUrl"].startswith("http://127.0.0.1:9/")
