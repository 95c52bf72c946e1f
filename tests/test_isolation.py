"""Two workspaces with two users each: list, delete, dedup and x-alloy-userid never cross."""

from __future__ import annotations

import json

import pytest

from .helpers import Api, random_bytes


@pytest.fixture
def world(workspace_a: Api, workspace_b: Api) -> dict[str, tuple[Api, dict[str, str], bytes]]:
    """Four users (two per workspace), each holding one file named 'shared-name.txt'."""
    users = {
        "a1": workspace_a.new_user(),
        "a2": workspace_a.new_user(),
        "b1": workspace_b.new_user(),
        "b2": workspace_b.new_user(),
    }
    out: dict[str, tuple[Api, dict[str, str], bytes]] = {}
    for name, api in users.items():
        data = random_bytes(100 + len(out))
        out[name] = (api, api.upload("shared-name.txt", data, "text/plain"), data)
    return out


def _leaks(text: str, others: list[tuple[Api, dict[str, str], bytes]]) -> list[str]:
    found = []
    for api, ticket, _ in others:
        assert api.user_id
        for secret in (api.user_id, ticket["s3Key"]):
            if secret in text:
                found.append(secret)
    return found


def test_each_user_lists_only_their_own_file(world: dict) -> None:
    for name, (api, ticket, data) in world.items():
        files = api.files()
        assert [(f["s3Key"], f["size"]) for f in files] == [(ticket["s3Key"], len(data))]
        others = [v for k, v in world.items() if k != name]
        assert _leaks(json.dumps(files), others) == []


def test_nobody_deletes_anyone_elses_file_and_cannot_tell_it_exists(world: dict) -> None:
    for name, (api, _, _) in world.items():
        for other, (owner, ticket, _) in world.items():
            if other == name:
                continue
            foreign = api.delete(ticket["s3Key"])
            missing = api.delete(ticket["s3Key"] + ".nope")
            assert foreign.status_code == missing.status_code == 404
            assert (
                foreign.json()
                == missing.json()
                == {"error": "Not Found", "message": "File not found"}
            )
            assert owner.keys() == [ticket["s3Key"]]


def test_dedup_never_answers_with_another_users_file(world: dict) -> None:
    for name, (api, _, _) in world.items():
        for other, (_, _, data) in world.items():
            if other == name:
                continue
            r = api.request_upload(f"probe-{other}.txt", data, "text/plain")
            t = r.json()["presignedUrl"]
            assert t["type"] == "new"
            assert t["s3Key"] == f"{api.user_id}_probe-{other}.txt"
            assert _leaks(r.text, [world[other]]) == []


def test_same_filename_in_every_account_gets_the_plain_key(world: dict) -> None:
    for api, ticket, _ in world.values():
        assert ticket["s3Key"] == f"{api.user_id}_shared-name.txt"


def test_userid_of_another_workspace_gives_no_access(world: dict) -> None:
    a1, _, _ = world["a1"]
    b1, b1_ticket, _ = world["b1"]
    as_b1 = a1.call("GET", "/connectors/files/list", headers={"x-alloy-userid": b1.user_id})
    assert as_b1.status_code == 403
    assert b1_ticket["s3Key"] not in as_b1.text
    r = a1.call(
        "DELETE", f"/connectors/files/{b1_ticket['s3Key']}", headers={"x-alloy-userid": b1.user_id}
    )
    assert r.status_code == 403
    assert b1.keys() == [b1_ticket["s3Key"]]


def test_unknown_and_foreign_userids_get_the_same_answer(world: dict) -> None:
    a1, _, _ = world["a1"]
    b1, _, _ = world["b1"]
    foreign = a1.call("GET", "/connectors/files/list", headers={"x-alloy-userid": b1.user_id})
    unknown = a1.call("GET", "/connectors/files/list", headers={"x-alloy-userid": "0" * 24})
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())


@pytest.mark.parametrize("bad", ["", "xyz", "0" * 23, "0" * 25, "G" * 24, "../" + "0" * 21])
def test_malformed_userid_is_a_400(workspace_a: Api, bad: str) -> None:
    r = workspace_a.call("GET", "/connectors/files/list", headers={"x-alloy-userid": bad})
    assert r.status_code == 400
    assert "x-alloy-userid" in r.json()["message"]


def test_userid_selects_a_user_of_the_same_workspace(world: dict, workspace_a: Api) -> None:
    a2, a2_ticket, _ = world["a2"]
    as_a2 = workspace_a.call(
        "GET", "/connectors/files/list", headers={"x-alloy-userid": a2.user_id}
    )
    assert [f["s3Key"] for f in as_a2.json()["files"]] == [a2_ticket["s3Key"]]


def test_default_user_is_distinct_per_workspace(
    sandbox, workspace_a: Api, workspace_b: Api
) -> None:
    a_default, b_default = (k.user_id for k in sandbox.api_keys)
    assert a_default != b_default
    data = random_bytes()
    t = workspace_a.upload("default-user.bin", data)
    assert t["s3Key"].startswith(a_default + "_")
    assert t["s3Key"] not in workspace_b.keys()  # noqa: SIM118 - Api.keys() is a listing
    assert workspace_b.delete(t["s3Key"]).status_code == 404
    assert workspace_a.delete(t["s3Key"]).status_code == 200


def test_users_are_listed_per_workspace(workspace_a: Api, workspace_b: Api) -> None:
    a = workspace_a.new_user("only-in-a")
    in_a = {u["userId"] for u in workspace_a.call("GET", "/users").json()["users"]}
    in_b = {u["userId"] for u in workspace_b.call("GET", "/users").json()["users"]}
    assert a.user_id in in_a
    assert a.user_id not in in_b
    assert in_a.isdisjoint(in_b)
    # The same username is free in the other workspace, taken in this one.
    assert workspace_b.call("POST", "/users", json={"username": "only-in-a"}).status_code == 200
    dup = workspace_a.call("POST", "/users", json={"username": "only-in-a"})
    assert dup.status_code == 409
    assert "username" in dup.json()["message"]
