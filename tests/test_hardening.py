"""Round-2 hardening of the sandbox: replayed URLs, a full disk, a damaged data directory."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import alloy_nb.sandbox
from alloy_nb.sandbox import Sandbox
from alloy_nb.sandbox._db import Registry
from alloy_nb.sandbox._reservations import Reservations
from alloy_nb.sandbox._storage import Storage

from .helpers import Api, random_bytes

KEY = "hardening-key"


def stored_md5(sb: Sandbox, key: str) -> str | None:
    obj = Storage(sb.storage).head(key)
    return obj.md5_hex if obj else None


def replay_after_delete_and_other_bytes(
    api: Api, sb: Sandbox, url: dict[str, str], data: bytes
) -> str:
    """Delete the file ``url`` was issued for, store other bytes under its name, replay
    ``url`` with its own bytes: they land on their old key, never on the other bytes'.
    Returns the other bytes' key."""
    assert api.delete(url["s3Key"]).status_code == 200
    other = random_bytes(3000)
    t = api.upload("report.csv", other, "text/csv")
    assert t["type"] == "new"
    assert t["s3Key"] != url["s3Key"]
    assert api.put(url, data, "text/csv").status_code == 200  # the URL is live
    assert stored_md5(sb, t["s3Key"]) == hashlib.md5(other).hexdigest()
    assert stored_md5(sb, url["s3Key"]) == hashlib.md5(data).hexdigest()
    return t["s3Key"]


def _send_to_drive(api: Api, credential_id: str, s3_key: str) -> httpx.Response:
    body = {
        "credentialId": credential_id,
        "requestBody": {"s3Key": s3_key},
        "queryParameters": {"uploadType": "media"},
    }
    return api.call("POST", "/connectors/googleDrive/actions/uploadFile/execute", json=body)


def test_existing_url_replayed_after_delete_cannot_change_later_bytes_short_ttl(
    http: httpx.Client,
) -> None:
    """Replayed `existing` URL (short TTL) never overwrites later bytes under the same name.

    The first URL has expired; the `existing` one reserved the key, so after delete + other
    bytes under the same name those get another key, and the replay cannot touch them."""
    data = random_bytes(2000)
    # Its own storage: on the same clock, a URL's reservation ends a second after it does.
    with alloy_nb.sandbox.start(api_keys=[KEY], url_ttl=3) as sb:
        api = Api(http, sb.base_url, KEY).new_user()
        first = api.upload("report.csv", data, "text/csv")
        time.sleep(5.2)  # the first URL and its reservation have ended
        assert api.put(first, data, "text/csv").status_code == 403
        again = api.ticket("report.csv", data, "text/csv")
        assert (again["type"], again["s3Key"]) == ("existing", first["s3Key"])
        other_key = replay_after_delete_and_other_bytes(api, sb, again, data)
        assert {f["s3Key"]: f["size"] for f in api.files()} == {
            first["s3Key"]: 2000,
            other_key: 3000,
        }


def test_existing_url_replayed_after_an_index_rebuild_cannot_change_later_bytes(
    sandbox: Sandbox, http: httpx.Client, tmp_path: Path
) -> None:
    """Replayed `existing` URL never overwrites later bytes, also after an index rebuild.

    Restarted with index.sqlite3 deleted, the same name with other bytes gets another key
    (reservations live in the registry), and the old `existing` URL cannot touch them."""
    data = random_bytes(2000)
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], s3=sandbox.storage) as sb:
        api = Api(http, sb.base_url, KEY)
        api.upload("report.csv", data, "text/csv")
        again = api.ticket("report.csv", data, "text/csv")
        assert again["type"] == "existing"
    for f in tmp_path.glob("index.sqlite3*"):
        f.unlink()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], s3=sandbox.storage) as sb:
        api = Api(http, sb.base_url, KEY)
        replay_after_delete_and_other_bytes(api, sb, again, data)


def test_a_key_is_free_again_only_once_every_url_for_it_has_expired(tmp_path: Path) -> None:
    """A reservation holds its key against other bytes until the URL (+ skew) expires.

    It survives reopening the registry, and pruning forgets it only once expired."""
    registry = Registry(tmp_path / "registry.sqlite3")
    r = Reservations(registry, skew=0.5)
    r.reserve("u" * 24, "k", "a" * 32, time.time() + 0.5)
    registry.close()
    registry = Registry(tmp_path / "registry.sqlite3")
    r = Reservations(registry, skew=0.5)
    assert r.held_for_other("k", "b" * 32)
    assert not r.held_for_other("k", "a" * 32)
    assert r.pending("u" * 24, "a" * 32) == ["k"]
    time.sleep(1.1)
    assert not r.held_for_other("k", "b" * 32)
    assert r.prune() == 1
    registry.close()


# ---------------------------------------------------------------- a full disk


def _fill_until_507(api: Api) -> httpx.Response:
    for _ in range(2000):
        r = api.call("POST", "/users", json={"username": "u" + os.urandom(20).hex()})
        if r.status_code != 200:
            return r
    raise AssertionError("the disk never filled up")


def _assert_full_then_recovers(sb: Sandbox, api: Api, http: httpx.Client, free: object) -> None:
    r = _fill_until_507(api)
    assert r.status_code == 507, r.text
    assert "disk is full" in r.json()["message"]
    assert "free disk space" in r.json()["message"]
    health = http.get(sb.base_url + "/health")
    assert health.status_code == 503
    assert "full" in health.json()["message"]
    assert api.call("GET", "/users").status_code == 200  # reads still work
    free()  # type: ignore[operator]
    assert api.call("POST", "/users", json={"username": "after"}).status_code == 200
    assert http.get(sb.base_url + "/health").status_code == 200


def test_a_full_database_is_507_and_health_reports_it(
    sandbox: Sandbox, http: httpx.Client, tmp_path: Path
) -> None:
    """ "database or disk is full" is a 507 naming the problem; /health reports it.

    Injected with SQLite's page limit on the sandbox's own registry connection; once space
    is back, writes and /health are fine again."""
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], s3=sandbox.storage) as sb:
        app = sb._server.config.app
        assert isinstance(app, FastAPI)
        registry = app.state.registry
        registry._query("PRAGMA max_page_count = 1")  # as small as it now is
        api = Api(http, sb.base_url, KEY)
        _assert_full_then_recovers(
            sb, api, http, lambda: registry._query("PRAGMA max_page_count = 1073741823")
        )


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size: str = "3m") -> Iterator[Path]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_really_full_disk_is_507_and_health_reports_it(
    sandbox: Sandbox, http: httpx.Client, tmp_path: Path
) -> None:
    """A really full disk is a 507 naming the problem; /health reports it; no partial file.

    The data directory is on a 3 MB tmpfs, then filled: a Drive copy and new users get 507,
    nothing half-written stays, and all recovers once space is freed."""
    with (
        tiny_tmpfs(tmp_path / "disk") as disk,
        alloy_nb.sandbox.start(data_dir=disk / "d", api_keys=[KEY], s3=sandbox.storage) as sb,
    ):
        api = Api(http, sb.base_url, KEY)
        t = api.upload("big.bin", random_bytes(1024 * 1024))
        cred = api.call("POST", "/connectors/googleDrive/credentials").json()
        filler = disk / "filler"
        # Unbuffered: closing the file must not try to flush what no longer fits.
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        copy = _send_to_drive(api, cred["credentialId"], t["s3Key"])
        assert copy.status_code == 507, copy.text
        assert not list((disk / "d" / "drive" / cred["credentialId"]).iterdir())
        _assert_full_then_recovers(sb, api, http, filler.unlink)


# ---------------------------------------------------------------- the data directory


def test_a_corrupt_index_is_moved_aside_and_rebuilt(
    sandbox: Sandbox, http: httpx.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt index.sqlite3 is moved aside (logged with its path) and rebuilt.

    The index is derived: after the rebuild from storage dedup still finds the stored file."""
    data = random_bytes()
    with alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], s3=sandbox.storage) as sb:
        stored = Api(http, sb.base_url, KEY).upload("kept.bin", data)
    (tmp_path / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="alloy_nb.sandbox"):
        sb = alloy_nb.sandbox.start(data_dir=tmp_path, api_keys=[KEY], s3=sandbox.storage)
    with sb:
        [aside] = tmp_path.glob("index.sqlite3.corrupt-*")
        assert aside.read_bytes().startswith(b"this is not a database")
        assert str(tmp_path / "index.sqlite3") in caplog.text
        assert str(aside) in caplog.text
        again = Api(http, sb.base_url, KEY).ticket("other-name.bin", data)
        assert (again["type"], again["s3Key"]) == ("existing", stored["s3Key"])


def test_a_corrupt_registry_refuses_to_start_naming_the_file_and_the_fix(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A corrupt registry.sqlite3: the CLI refuses to start, naming the file and the fix.

    The registry cannot be derived from storage; the file is left as it was."""
    (tmp_path / "registry.sqlite3").write_bytes(b"garbage" * 1000)
    s3 = sandbox.storage
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    env |= {"ALLOY_SANDBOX_S3_SECRET_KEY": s3.secret_key, "PYTHONPATH": os.getcwd()}
    sandbox_args = ["--port", "0", "--data-dir", str(tmp_path), "--api-key", KEY]
    sandbox_args += ["--s3-endpoint", s3.endpoint_url, "--s3-bucket", s3.bucket]
    sandbox_args += ["--s3-access-key", s3.access_key]
    run = subprocess.run(
        [sys.executable, "-m", "alloy_nb.sandbox", *sandbox_args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 1
    assert str(tmp_path / "registry.sqlite3") in run.stderr
    assert "Restore it from a backup" in run.stderr
    assert "Traceback" not in run.stderr
    assert (tmp_path / "registry.sqlite3").read_bytes() == b"garbage" * 1000


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_data_dir_is_private(sandbox: Sandbox, http: httpx.Client, tmp_path: Path) -> None:
    """A data directory the sandbox creates is 0700, its directories 0700, its files 0600.

    Files: databases and their WAL files, the demo key, Drive copies."""
    root = tmp_path / "new" / "data"
    with alloy_nb.sandbox.start(data_dir=root, s3=sandbox.storage) as sb:
        api = Api(http, sb.base_url, sb.api_key)
        t = api.upload("x.bin", random_bytes())
        cred = api.call("POST", "/connectors/googleDrive/credentials").json()
        r = _send_to_drive(api, cred["credentialId"], t["s3Key"])
        assert r.status_code == 200, r.text
        paths = list(root.rglob("*"))
        assert {p.name for p in paths} >= {
            "registry.sqlite3",
            "index.sqlite3",
            "demo-api-key",
            "drive.sqlite3",
            "registry.sqlite3-wal",
        }
        assert _mode(root) == 0o700
        assert {str(p.relative_to(root)): _mode(p) for p in paths} == {
            str(p.relative_to(root)): 0o700 if p.is_dir() else 0o600 for p in paths
        }


def test_an_old_open_data_dir_is_tightened(sandbox: Sandbox, tmp_path: Path) -> None:
    """An older data directory readable by others is tightened to 0700 at the next start."""
    with alloy_nb.sandbox.start(data_dir=tmp_path / "d", api_keys=[KEY], s3=sandbox.storage):
        pass
    os.chmod(tmp_path / "d", 0o755)  # noqa: S103 - the older, open mode under test
    with alloy_nb.sandbox.start(data_dir=tmp_path / "d", api_keys=[KEY], s3=sandbox.storage):
        assert _mode(tmp_path / "d") == 0o700
