"""`make test-live`: the client against a real Alloy account, touching only its own files.

Opt-in (ALLOY_NB_LIVE=1 and ALLOY_API_KEY, optionally ALLOY_BASE_URL / ALLOY_USER_ID); in
any other run these tests are deselected. Every file is named under a prefix made fresh for
this run, every upload must answer ``new`` (random bytes), and only the s3Keys this run was
given are ever deleted: the account's other files are never selected, whatever they hold.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

import alloy_nb
from alloy_nb import Client

from .guard import LIVE_ACCOUNT

pytestmark = pytest.mark.live

PREFIX = f"alloy-nb-live-{secrets.token_hex(6)}-"


@pytest.fixture
def live() -> Iterator[tuple[Client, list[str]]]:
    """A client for the real account, and the list of keys this run created there."""
    if "ALLOY_API_KEY" not in LIVE_ACCOUNT:
        pytest.fail("make test-live needs ALLOY_API_KEY (a real account) in the environment")
    made: list[str] = []
    with Client(
        LIVE_ACCOUNT["ALLOY_API_KEY"],
        base_url=LIVE_ACCOUNT.get("ALLOY_BASE_URL"),
        user_id=LIVE_ACCOUNT.get("ALLOY_USER_ID"),
    ) as client:
        try:
            yield client, made
        finally:  # whatever failed: remove what this run made, and only that
            files = client.list_files()
            left = files[files["s3_key"].isin(made) & files["filename"].str.startswith(PREFIX)]
            client.delete_files(left)


def upload_new(client: Client, made: list[str], name: str, data: bytes) -> alloy_nb.UploadResult:
    result = client.upload(data, filename=PREFIX + name, progress=False)
    assert result.type == "new", f"{result.s3_key} already existed: not ours, left alone"
    made.append(result.s3_key)
    return result


def test_upload_dedup_list_and_delete_inside_the_run_prefix(
    live: tuple[Client, list[str]],
) -> None:
    """Uploads land, dedup answers existing, a filtered bulk delete removes exactly ours."""
    client, made = live
    data = secrets.token_bytes(4096)
    first = upload_new(client, made, "a.bin", data)
    again = client.upload(data, filename=PREFIX + "a.bin", progress=False)
    assert (again.type, again.s3_key) == ("existing", first.s3_key)
    for name in ("b.csv", "c.tmp"):
        upload_new(client, made, name, secrets.token_hex(64).encode())

    files = client.list_files()
    ours = files[files["filename"].str.startswith(PREFIX)]
    assert sorted(ours["s3_key"]) == sorted(made)
    sizes = dict(zip(ours["filename"], ours["size"], strict=True))
    assert sizes[PREFIX + "a.bin"] == len(data)

    scratch = ours[ours["s3_key"].isin(made) & ours["filename"].str.endswith(".tmp")]
    assert client.delete_files(scratch)["deleted"].all()
    files = client.list_files()
    assert sorted(files.loc[files["filename"].str.startswith(PREFIX), "filename"]) == [
        PREFIX + "a.bin",
        PREFIX + "b.csv",
    ]
