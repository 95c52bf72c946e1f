"""The Client's surface: documented arguments, clear refusals, requests from builders."""

from __future__ import annotations

import inspect
import random
import time

import httpx
import pytest

import alloy_nb
from alloy_nb import Client
from alloy_nb._batch import batch_rows
from alloy_nb.connectors import ActionRequest, google_drive

KEY = "sk-surface-test"


def test_every_client_argument_is_documented() -> None:
    """Each parameter of Client() has an entry in the Args section of its docstring."""
    doc = inspect.getdoc(Client) or ""
    args = doc.split("Args:", 1)[1].split("\n\n", 1)[0]
    for name in inspect.signature(Client).parameters:
        assert f"\n    {name}: " in "\n" + args, f"Client({name}=...) is not documented"


def test_timeout_with_an_http_client_is_refused() -> None:
    """ValueError naming both arguments; the http_client keeps its own timeouts."""
    with httpx.Client(timeout=3) as http:
        with pytest.raises(ValueError, match=r"timeout= or http_client=, not both"):
            Client(KEY, http_client=http, timeout=5)
        assert Client(KEY, http_client=http).http.timeout.read == 3


def test_timeout_applies_to_the_client_alloy_nb_makes() -> None:
    """A float sets reads, writes and pool waits; connects keep 10 s; default 60 s."""
    with Client(KEY, timeout=7) as c:
        t = c.http.timeout
        assert (t.read, t.write, t.pool, t.connect) == (7, 7, 7, 10)
    with Client(KEY) as c:
        assert c.http.timeout.read == 60
    with Client(KEY, timeout=httpx.Timeout(2, connect=1)) as c:
        assert (c.http.timeout.read, c.http.timeout.connect) == (2, 1)


def test_a_builders_request_goes_to_execute_action_as_is(client: Client) -> None:
    """execute_action(google_drive.upload_file(key)) copies the file; no dict re-mapping."""
    cred = client.create_credential("googleDrive")["credentialId"]
    stored = client.upload(b"col\n1\n", filename="built.csv", progress=False)
    request = google_drive.upload_file(stored.s3_key, name="from a builder")
    answer = alloy_nb.unwrap_result(client.execute_action(request, credential_id=cred))
    assert (answer["name"], answer["mimeType"]) == ("from a builder", "text/csv")
    listed = client.execute_action(google_drive.list_files(), credential_id=cred)
    assert [f["name"] for f in alloy_nb.unwrap_result(listed)["files"]] == ["from a builder"]
    raw = client.execute_action("googleDrive", "listFiles", credential_id=cred)
    assert raw == listed, "the ids-and-fields form sends the same request"


def test_a_request_mixed_with_ids_or_fields_is_refused_before_sending(client: Client) -> None:
    """TypeError: a request already names its action and carries its fields."""
    sent: list[httpx.Request] = []
    client.http.event_hooks["request"].append(sent.append)
    request = google_drive.list_files()
    with pytest.raises(TypeError, match="ActionRequest alone"):
        client.execute_action(request, "listFiles", credential_id="0" * 24)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="ActionRequest alone"):
        client.execute_action(request, credential_id="0" * 24, request_body={})  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="action_id"):
        client.execute_action("googleDrive", "", credential_id="0" * 24)
    assert sent == []


def test_an_action_request_reads_as_its_documented_body() -> None:
    """Equal to the documented JSON as a mapping; equal to another request only for the
    same action; unhashable like the dicts it holds."""
    request = google_drive.upload_file("651eb6e11d156e0d7a42c76i_w3img.jpg", name="w3img upload")
    body = {
        "requestBody": {
            "metadata": {"name": "w3img upload", "mimeType": "image/jpeg"},
            "s3Key": "651eb6e11d156e0d7a42c76i_w3img.jpg",
        },
        "queryParameters": {"uploadType": "multipart"},
    }
    assert request == body
    assert body == request
    cred = "6901cf34fa3f225f1ceaa28c"
    assert request.body(cred) == {"credentialId": cred, **body}
    other = ActionRequest(
        "googleDrive",
        "createFile",
        request_body=request.request_body,
        query_parameters=request.query_parameters,
    )
    assert other != request
    assert other == body
    with pytest.raises(TypeError):
        hash(request)
    assert "googleDrive" in repr(request)
    assert "uploadFile" in repr(request)


def test_batch_rows_keep_the_order_of_items_under_concurrency() -> None:
    """Row i belongs to item i whatever order the workers finish in; errors are rows."""

    def work(n: int) -> dict[str, int]:
        time.sleep(random.random() / 100)
        if n % 7 == 0:
            raise RuntimeError(f"no {n}")
        return {"square": n * n}

    rows = batch_rows(range(50), work, label=lambda n: {"n": n}, max_workers=8)
    assert [r["n"] for r in rows] == list(range(50))
    for r in rows:
        if r["n"] % 7 == 0:
            assert (r.get("square"), r["error"]) == (None, f"RuntimeError: no {r['n']}")
        else:
            assert (r["square"], r["error"]) == (r["n"] ** 2, None)
