"""Storage security: only the S3 gateway serves stored objects, a browser page may only PUT
to presigned URLs, storage dies with its owner, and its ports stay out of the kernel's way.

Everything runs against a real ``weed mini`` over real sockets. "An attacker" is a local
process without the sandbox's keys, or a page on another origin in headless Chromium.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import psutil
import pytest
from botocore.config import Config

import alloy_nb.sandbox
from alloy_nb.sandbox import Sandbox, _orphans, _weed
from alloy_nb.sandbox._datadir_lock import DataDirInUse
from alloy_nb.sandbox._ports import GRPC_OFFSET, candidate_ports, ephemeral_range, free_port_pairs
from alloy_nb.sandbox._weed import StorageStartError, WeedServer, find_weed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

from .helpers import Api, md5_pair, random_bytes
from .ports import http_server

KEY = "storage-security-key"
EVIL = "http://evil.example:8080"
SECRET = b"the secret bytes " + random_bytes(32).hex().encode()
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


@dataclass
class Stored:
    sb: Sandbox
    api: Api
    s3_key: str
    fid: str  # the object's chunk on the volume server, as weed's own tools name it

    @property
    def ports(self) -> dict[str, int]:
        assert self.sb.weed is not None
        return self.sb.weed.ports

    @property
    def security_dir(self) -> Path:
        return self.sb.data_dir / "s3" / "security"


def s3_client(sb: Sandbox) -> object:
    s = sb.storage
    return boto3.client(
        "s3",
        endpoint_url=s.endpoint_url,
        region_name=s.region,
        aws_access_key_id=s.access_key,
        aws_secret_access_key=s.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def stored_bytes(sb: Sandbox, key: str) -> bytes:
    body: bytes = s3_client(sb).get_object(Bucket=sb.storage.bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    return body


def weed_shell(stored: Stored, command: str, *, with_keys: bool, cwd: Path) -> str:
    """``weed shell`` (weed's own gRPC client) against the sandbox's master and filer,
    holding the sandbox's security.toml or not. Without it, weed retries forever: bounded."""
    p = stored.ports
    cmd = [find_weed()]
    if with_keys:
        cmd.append(f"-config_dir={stored.security_dir}")
    cmd += ["shell", f"-master=127.0.0.1:{p['master']}", f"-filer=127.0.0.1:{p['filer']}"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    try:
        out = subprocess.run(
            cmd,
            input=command + "\n",
            capture_output=True,
            text=True,
            timeout=30 if with_keys else 10,
            cwd=cwd,
            env=env,
        )
        return out.stdout + out.stderr
    except subprocess.TimeoutExpired as e:
        parts = [e.stdout or b"", e.stderr or b""]
        return "".join(x.decode() if isinstance(x, bytes) else x for x in parts)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """A sandbox of this module's own (the probes below would harm a vulnerable one),
    started while the owner's environment holds AWS keys, with one stored object."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIAOWNERSENVIRONMENT")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "owner-environment-secret")
        sb = alloy_nb.sandbox.start(api_keys=[KEY])
    try:
        with httpx.Client(timeout=30) as http:
            api = Api(http, sb.base_url, KEY).new_user("secret-keeper")
            ticket = api.upload("secret.txt", SECRET, "text/plain")
            cwd = tmp_path_factory.mktemp("weed-shell")
            s = Stored(sb, api, ticket["s3Key"], "")
            meta = weed_shell(
                s, f"fs.meta.cat /buckets/{sb.storage.bucket}/{s.s3_key}", with_keys=True, cwd=cwd
            )
            m = re.search(r'"fileId":\s*"(\d+,[0-9a-f]+)"', meta)
            assert m, meta
            s.fid = m.group(1)
            yield s
    finally:
        sb.stop()


def listening(pid: int) -> tuple[set[tuple[str, int]], set[str]]:
    """TCP ports and unix socket paths that weed (and any child of it) listens on."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    tcp = {
        (c.laddr.ip, c.laddr.port)
        for p in procs
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    # psutil gives a unix socket's laddr as its path (a str), typed as the inet tuple.
    unix = {str(c.laddr) for p in procs for c in p.net_connections(kind="unix") if c.laddr}
    return tcp, unix


def weed_pid(stored: Stored) -> int:
    assert stored.sb.weed is not None
    assert stored.sb.weed.pid is not None
    return stored.sb.weed.pid


# ---------------------------------------------------------------- no side door into storage


def test_storage_listens_on_its_five_ports_and_their_grpc_twins_only(stored: Stored) -> None:
    """S3, master, volume, filer, admin and their gRPC twins, on 127.0.0.1; nothing else."""
    tcp, _ = listening(weed_pid(stored))
    expected = {p + d for p in stored.ports.values() for d in (0, GRPC_OFFSET)}
    assert {ip for ip, _ in tcp} == {"127.0.0.1"}
    assert {port for _, port in tcp} == expected


def _http(method: str, url: str, body: bytes | None = None) -> httpx.Response | None:
    try:
        return httpx.request(method, url, content=body, headers={"Origin": EVIL}, timeout=10)
    except httpx.TransportError:
        return None


def test_no_port_but_s3_serves_lists_writes_or_deletes_without_weeds_keys(
    stored: Stored,
) -> None:
    """Every request for the stored object, a listing, a write or a delete is refused, with
    no CORS header, on every port but S3; the object is intact afterwards."""
    tcp, _ = listening(weed_pid(stored))
    bucket, key, fid = stored.sb.storage.bucket, stored.s3_key, stored.fid
    vid = fid.split(",")[0]
    paths = [
        ("GET", f"/{fid}"),
        ("HEAD", f"/{fid}"),
        ("GET", f"/buckets/{bucket}/{key}"),
        ("GET", f"/buckets/{bucket}/"),
        ("GET", f"/buckets/{bucket}/?pretty=y"),
        ("GET", f"/dir/lookup?volumeId={vid}"),
        ("GET", "/dir/assign"),
        ("GET", "/vol/status"),
        ("GET", "/status"),
        ("GET", "/ui/index.html"),
        ("PUT", f"/buckets/{bucket}/{stored.api.user_id}_planted.txt"),
        ("POST", f"/buckets/{bucket}/{stored.api.user_id}_planted.txt"),
        ("POST", f"/{fid}"),
        ("PUT", f"/{fid}"),
        ("DELETE", f"/{fid}"),
        ("DELETE", f"/buckets/{bucket}/{key}"),
        ("GET", f"/col/delete?collection={bucket}"),
        ("POST", f"/col/delete?collection={bucket}"),
        ("OPTIONS", f"/buckets/{bucket}/{key}"),
        ("OPTIONS", f"/{fid}"),
    ]
    answered = []
    for _, port in sorted(tcp):
        if port == stored.ports["s3"]:
            continue
        for method, path in paths:
            body = b"planted bytes" if method in ("PUT", "POST") else None
            r = _http(method, f"http://127.0.0.1:{port}{path}", body)
            if r is None:
                continue
            answered.append(r.status_code)
            where = f"{method} :{port}{path} -> {r.status_code} {r.text[:80]!r}"
            assert r.status_code >= 400, where
            assert "access-control-allow-origin" not in r.headers, where
            assert SECRET not in r.content, where
            assert key.encode() not in r.content, where
    assert answered  # the HTTP ports did answer: the requests reached a server
    assert stored_bytes(stored.sb, key) == SECRET
    assert stored.api.keys() == [key]


def _tls_without_certificate(port: int, payload: bytes) -> bytes | None:
    """A TLS client with no certificate; what the server sends back (None: refused)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw) as s,
        ):
            s.sendall(payload)
            return s.recv(65536)
    except (ssl.SSLError, OSError):
        return None


def _is_h2_settings(reply: bytes) -> bool:
    return len(reply) >= 9 and reply[3] == 0x04  # an HTTP/2 SETTINGS frame


def _plain(port: int | str, payload: bytes) -> bytes:
    family = socket.AF_UNIX if isinstance(port, str) else socket.AF_INET
    address = port if isinstance(port, str) else ("127.0.0.1", port)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(address)
            s.sendall(payload)
            return s.recv(65536)
    except OSError:
        return b""


def test_master_volume_filer_and_every_grpc_port_demand_the_sandbox_certificate(
    stored: Stored,
) -> None:
    """Without the sandbox's client certificate: no TLS session (so no HTTP answer and no
    CORS header for a browser), and no plaintext gRPC (HTTP/2) on any port or unix socket."""
    tcp, unix = listening(weed_pid(stored))
    open_http = {stored.ports["s3"], stored.ports["admin"]}
    request = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + EVIL.encode() + b"\r\n\r\n"
    for _, port in sorted(tcp):
        if port in open_http:
            continue
        for payload in (request, H2_PREFACE):
            assert not _tls_without_certificate(port, payload), port
        assert not _is_h2_settings(_plain(port, H2_PREFACE)), port
    grpc_sockets = [p for p in unix if "-grpc-" in p]
    assert len(grpc_sockets) == 5, unix
    for path in sorted(unix):
        reply = _plain(path, H2_PREFACE)
        assert not _is_h2_settings(reply), path
    # The checks can fail: a client holding the certificate gets a TLS session and an answer.
    ctx = ssl.create_default_context(cafile=str(stored.security_dir / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(stored.security_dir / "cert.pem", stored.security_dir / "key.pem")
    with httpx.Client(verify=ctx, timeout=10) as insider:
        assert insider.get(f"https://127.0.0.1:{stored.ports['volume']}/status").status_code == 200


def _jwt(key: str, claims: dict[str, object]) -> str:
    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_the_volume_server_wants_a_signed_token_even_from_a_certificate_holder(
    stored: Stored,
) -> None:
    """A second lock: with the certificate but no token, or a token signed with another key,
    the stored chunk is refused (401); weed's own read token opens it."""
    sec = tomllib.loads((stored.security_dir / "security.toml").read_text())
    ctx = ssl.create_default_context(cafile=str(stored.security_dir / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(stored.security_dir / "cert.pem", stored.security_dir / "key.pem")
    url = f"https://127.0.0.1:{stored.ports['volume']}/{stored.fid}"
    claims = {"fid": stored.fid, "exp": int(time.time()) + 30}
    with httpx.Client(verify=ctx, timeout=10) as insider:
        assert insider.get(url).status_code == 401
        forged = {"Authorization": "Bearer " + _jwt("guessed", claims)}
        assert insider.get(url, headers=forged).status_code == 401
        assert insider.delete(url).status_code == 401
        assert insider.post(url, files={"file": ("x", b"overwrite")}).status_code == 401
        signed = {"Authorization": "Bearer " + _jwt(sec["jwt"]["signing"]["read"]["key"], claims)}
        r = insider.get(url, headers=signed)
        assert (r.status_code, r.content) == (200, SECRET)


def test_grpc_lists_nothing_for_weeds_own_client_without_the_keys(
    stored: Stored, tmp_path: Path
) -> None:
    """``weed shell`` (weed's own gRPC client) without the sandbox's security.toml lists
    nothing; with it, it lists the stored object."""
    command = f"fs.ls -l /buckets/{stored.sb.storage.bucket}"
    assert stored.s3_key not in weed_shell(stored, command, with_keys=False, cwd=tmp_path)
    assert stored.s3_key in weed_shell(stored, command, with_keys=True, cwd=tmp_path)


def test_s3_refuses_unsigned_reads_writes_deletes_and_the_owners_aws_keys(
    stored: Stored,
) -> None:
    """Unsigned GET, list, PUT and DELETE are 403; so is a request signed with AWS keys
    from the environment of the process that started the sandbox."""
    base = stored.sb.storage.endpoint_url + "/" + stored.sb.storage.bucket
    for method, url, body in [
        ("GET", f"{base}/{stored.s3_key}", None),
        ("GET", f"{base}?list-type=2", None),
        ("PUT", f"{base}/{stored.s3_key}", b"overwritten"),
        ("PUT", f"{base}/{stored.api.user_id}_planted.txt", b"planted"),
        ("DELETE", f"{base}/{stored.s3_key}", None),
    ]:
        r = httpx.request(method, url, content=body, timeout=10)
        assert r.status_code == 403, (method, url, r.text)
        assert SECRET not in r.content
    env_keys = boto3.client(
        "s3",
        endpoint_url=stored.sb.storage.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIAOWNERSENVIRONMENT",
        aws_secret_access_key="owner-environment-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with pytest.raises(env_keys.exceptions.ClientError) as e:
        env_keys.get_object(Bucket=stored.sb.storage.bucket, Key=stored.s3_key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert stored_bytes(stored.sb, stored.s3_key) == SECRET
    assert stored.api.keys() == [stored.s3_key]


def test_security_config_is_private_to_the_data_dir_and_fresh_per_sandbox(
    stored: Stored, sandbox: Sandbox
) -> None:
    """security.toml and its keys live in the data directory (0700 dir, 0600 files), are
    weed's only configuration source, and no two sandboxes share a key."""
    d = stored.security_dir
    assert d.stat().st_mode & 0o777 == 0o700
    for f in d.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f
    args = psutil.Process(weed_pid(stored)).cmdline()
    assert f"-config_dir={d}" in args
    env = psutil.Process(weed_pid(stored)).environ()
    assert env["HOME"] == str(stored.sb.data_dir / "s3")
    assert not [k for k in env if k.startswith(("AWS_", "WEED_", "ALLOY_"))]
    other = (sandbox.data_dir / "s3" / "security" / "security.toml").read_text()
    ours = tomllib.loads((d / "security.toml").read_text())
    assert ours["jwt"]["signing"]["key"] not in other
    assert (d / "key.pem").read_text() != (sandbox.data_dir / "s3/security/key.pem").read_text()


# ------------------------------------------------------------------ browsers: PUT, nothing else


def test_s3_preflight_allows_a_presigned_put_from_any_origin_and_nothing_else(
    stored: Stored,
) -> None:
    """A preflight for PUT with Content-MD5, Content-Type and If-None-Match is allowed for
    any origin; GET, DELETE, POST and other headers are not."""
    url = f"{stored.sb.storage.endpoint_url}/{stored.sb.storage.bucket}/{stored.s3_key}"

    def preflight(origin: str, method: str, headers: str) -> httpx.Response:
        return httpx.options(
            url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
            timeout=10,
        )

    for origin in (EVIL, "http://127.0.0.1:1234", "null"):
        r = preflight(origin, "PUT", "content-md5,content-type,if-none-match")
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers["access-control-allow-methods"] == "PUT"
        allowed = {h.strip() for h in r.headers["access-control-allow-headers"].split(",")}
        assert allowed == {"content-md5", "content-type", "if-none-match"}
    for method, headers in [("GET", "x-amz-date"), ("DELETE", ""), ("POST", "content-type")]:
        r = preflight(EVIL, method, headers)
        assert method not in r.headers.get("access-control-allow-methods", ""), r.headers
    r = preflight(EVIL, "PUT", "content-md5,x-amz-acl")
    assert "access-control-allow-methods" not in r.headers


def test_presigned_put_from_any_origin_works_and_nothing_else_is_readable(
    stored: Stored,
) -> None:
    """A presigned PUT with an Origin stores the bytes and exposes its ETag to the page; a
    signed GET, a listing, an unsigned GET and a DELETE carry no CORS header."""
    data = random_bytes(4096)
    ticket = stored.api.ticket("from-a-page.bin", data)
    r = httpx.put(
        ticket["presignedUrl"],
        content=data,
        headers={
            "Origin": EVIL,
            "Content-MD5": ticket["md5"],
            "Content-Type": "application/octet-stream",
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == EVIL
    assert r.headers["access-control-expose-headers"] == "ETag"
    assert r.headers["etag"].strip('"') == md5_pair(data)[0]
    s3 = s3_client(stored.sb)
    bucket = stored.sb.storage.bucket
    signed_get = s3.generate_presigned_url(  # type: ignore[attr-defined]
        "get_object", Params={"Bucket": bucket, "Key": stored.s3_key}, ExpiresIn=60
    )
    base = f"{stored.sb.storage.endpoint_url}/{bucket}"
    for method, url in [
        ("GET", signed_get),
        ("GET", f"{base}/{stored.s3_key}"),
        ("GET", f"{base}?list-type=2"),
        ("DELETE", f"{base}/{stored.s3_key}"),
    ]:
        r = httpx.request(method, url, headers={"Origin": EVIL}, timeout=10)
        assert "access-control-allow-origin" not in r.headers, (method, url)
    assert stored_bytes(stored.sb, stored.s3_key) == SECRET
    # weed 4.48 adds a wildcard CORS header to every answer outside a bucket (its
    # s3err.setCommonHeaders): without a signature that answer is an error naming nothing.
    r = httpx.get(stored.sb.storage.endpoint_url + "/", headers={"Origin": EVIL}, timeout=10)
    assert r.status_code == 403
    assert b"AccessDenied" in r.content
    assert bucket.encode() not in r.content


PAGE_SCRIPT = """
async ({reads, writes, noCors, put}) => {
  const out = {};
  const show = async (r) => ({status: r.status, type: r.type,
                              body: r.type === "opaque" ? null : await r.text()});
  for (const [name, url] of Object.entries(reads)) {
    try { out[name] = await show(await fetch(url)); } catch (e) { out[name] = {error: String(e)}; }
  }
  for (const [name, [method, url]] of Object.entries(writes)) {
    try {
      out[name] = await show(await fetch(url, {method, body: method === "DELETE" ? null : "planted",
                                               headers: {"Content-Type": "text/plain"}}));
    } catch (e) { out[name] = {error: String(e)}; }
  }
  for (const [name, [method, url]] of Object.entries(noCors)) {
    try { out[name] = await show(await fetch(url, {method, mode: "no-cors"})); }
    catch (e) { out[name] = {error: String(e)}; }
  }
  const r = await fetch(put.url, {method: "PUT", body: put.body,
                                  headers: {"Content-MD5": put.md5, "Content-Type": put.mime}});
  out.presignedPut = {status: r.status, etag: r.headers.get("ETag")};
  return out;
}
"""


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A page on another loopback port: another origin, and no Private Network Access
    rule between it and the storage ports (loopback to loopback), so only CORS decides."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>another origin</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http_server(Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_page_on_another_origin_can_neither_read_nor_write_storage(
    stored: Stored, other_origin: str
) -> None:
    """In headless Chromium, a page on another origin cannot read the object or a listing
    from any storage port (even with a signed GET URL), cannot write, delete or drop a
    collection; its presigned PUT succeeds."""
    from playwright.sync_api import sync_playwright

    p, bucket, key, fid = stored.ports, stored.sb.storage.bucket, stored.s3_key, stored.fid
    s3 = stored.sb.storage.endpoint_url + "/" + bucket
    signed_get = s3_client(stored.sb).generate_presigned_url(  # type: ignore[attr-defined]
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    reads = {
        "s3Object": f"{s3}/{key}",
        "s3SignedGet": signed_get,
        "s3List": f"{s3}?list-type=2",
        "filerObject": f"http://127.0.0.1:{p['filer']}/buckets/{bucket}/{key}",
        "filerList": f"http://127.0.0.1:{p['filer']}/buckets/{bucket}/",
        "volumeChunk": f"http://127.0.0.1:{p['volume']}/{fid}",
        "volumeStatus": f"http://127.0.0.1:{p['volume']}/status",
        "masterLookup": f"http://127.0.0.1:{p['master']}/dir/lookup?volumeId={fid.split(',')[0]}",
        "adminRoot": f"http://127.0.0.1:{p['admin']}/",
    }
    writes = {
        "s3UnsignedPut": ["PUT", f"{s3}/{key}"],
        "s3Delete": ["DELETE", f"{s3}/{key}"],
        "filerPut": ["PUT", f"http://127.0.0.1:{p['filer']}/buckets/{bucket}/{key}"],
        "filerDelete": ["DELETE", f"http://127.0.0.1:{p['filer']}/buckets/{bucket}/{key}"],
        "volumePost": ["POST", f"http://127.0.0.1:{p['volume']}/{fid}"],
        "volumeDelete": ["DELETE", f"http://127.0.0.1:{p['volume']}/{fid}"],
    }
    no_cors = {  # requests a page can send blind; their side effects must not happen
        "volumeChunkNoCors": ["GET", f"http://127.0.0.1:{p['volume']}/{fid}"],
        "filerPostNoCors": ["POST", f"http://127.0.0.1:{p['filer']}/buckets/{bucket}/x.txt"],
        "dropCollection": [
            "POST",
            f"http://127.0.0.1:{p['master']}/col/delete?collection={bucket}",
        ],
        "s3PostNoCors": ["POST", f"{s3}/{key}?delete"],
    }
    data = random_bytes(2048).hex()
    ticket = stored.api.ticket("from-the-browser.txt", data.encode(), "text/plain")
    put = {"url": ticket["presignedUrl"], "body": data, "md5": ticket["md5"], "mime": "text/plain"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.goto(other_origin)
            out = page.evaluate(
                PAGE_SCRIPT, {"reads": reads, "writes": writes, "noCors": no_cors, "put": put}
            )
        finally:
            browser.close()
    for name in reads:
        assert "error" in out[name], (name, out[name])  # a CORS failure: nothing readable
    for name in writes:
        result = out[name]
        assert "error" in result or result["status"] == 403, (name, result)
        assert SECRET.decode() not in (result.get("body") or "")
    for name in no_cors:
        assert "error" in out[name] or out[name]["type"] == "opaque", (name, out[name])
    assert out["presignedPut"] == {"status": 200, "etag": f'"{md5_pair(data.encode())[0]}"'}
    assert stored_bytes(stored.sb, key) == SECRET
    assert stored_bytes(stored.sb, ticket["s3Key"]) == data.encode()
    listed = stored.api.keys()
    assert key in listed
    assert ticket["s3Key"] in listed
    assert not [k for k in listed if "planted" in k or k.endswith("x.txt")]


# ------------------------------------------------------------- storage dies with its owner

OWNER = """
import sys
import alloy_nb.sandbox
sb = alloy_nb.sandbox.start(api_keys=["owner-key"]{data_dir})
print(sb.data_dir, sb.weed.pid, sb.base_url, flush=True)
sys.stdin.read()
"""


@dataclass
class Owner:
    """A process that started a sandbox and waits (as a notebook kernel would)."""

    proc: subprocess.Popen[str]
    data_dir: Path
    weed: psutil.Process
    base_url: str


@pytest.fixture
def owners() -> Iterator[Callable[..., Owner]]:
    procs: list[subprocess.Popen[str]] = []
    weeds: list[psutil.Process] = []

    def start(data_dir: Path | None = None) -> Owner:
        code = OWNER.format(data_dir=f", data_dir={str(data_dir)!r}" if data_dir else "")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline() if select.select([proc.stdout], [], [], 120)[0] else ""
        assert line, "the owner did not start a sandbox"
        d, pid, url = line.split()
        weeds.append(psutil.Process(int(pid)))
        return Owner(proc, Path(d), weeds[-1], url)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    for weed in weeds:  # only if the mechanism under test failed
        with contextlib.suppress(psutil.NoSuchProcess):
            weed.kill()


def gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``condition`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def grpc_sockets(ports: list[int]) -> list[Path]:
    return [
        p
        for p in Path("/tmp").glob("seaweedfs-*-grpc-*.sock")
        if int(p.stem.rsplit("-", 1)[1]) - GRPC_OFFSET in ports
    ]


def weed_ports(weed: psutil.Process) -> list[int]:
    return [int(a.split("=")[1]) for a in weed.cmdline() if re.fullmatch(r"-\w+\.port=\d+", a)]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_storage_dies_with_its_owner(owners: Callable[..., Owner], how: str) -> None:
    """SIGKILL of the process that started a sandbox (an OOM kill), or SIGTERM with no
    atexit: weed stops within seconds, its sockets and its temporary directory are gone."""
    o = owners()
    ports = weed_ports(o.weed)
    assert grpc_sockets(ports)
    o.proc.send_signal(getattr(signal, how))
    assert o.proc.wait(10) == -getattr(signal, how)  # no handler ran: nothing was cleaned up
    seconds = wait_for(lambda: gone(o.weed) and not o.data_dir.exists(), 20)
    print(f"\n{how}: storage gone {seconds:.1f} s after its owner")
    assert seconds < 15
    assert grpc_sockets(ports) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports[0]}/", timeout=5)


def test_a_killed_launcher_takes_weed_along_and_the_next_start_removes_the_rest(
    owners: Callable[..., Owner],
) -> None:
    """SIGKILL of weed's launcher kills weed at once (parent-death signal). With both the
    launcher and the owner killed, nobody is left to remove the temporary directory: the
    next start does."""
    o = owners()
    launcher = o.weed.parent()
    assert launcher is not None
    assert any("_lifeline" in a for a in launcher.cmdline())
    launcher.kill()
    assert wait_for(lambda: gone(o.weed), 5) < 5
    o.proc.kill()
    o.proc.wait(10)
    assert o.data_dir.exists()
    with alloy_nb.sandbox.start(api_keys=["next"]) as sb:
        assert not o.data_dir.exists()
        assert sb.data_dir.exists()


def test_a_live_owners_storage_is_never_stopped_or_swept(
    owners: Callable[..., Owner], tmp_path: Path
) -> None:
    """Starting on a data directory a live sandbox uses is refused with a clear error (by
    the directory's owner lock, and by storage's own record underneath it), and the sweep of
    dead owners' temporary directories leaves a live one alone."""
    persistent = owners(tmp_path / "data")
    temporary = owners()
    with pytest.raises(DataDirInUse, match=f"in use by the sandbox pid {persistent.proc.pid} "):
        alloy_nb.sandbox.start(data_dir=tmp_path / "data", api_keys=["second"])
    second_weed = WeedServer(tmp_path / "data" / "s3", bucket="b", region="us-east-1")
    with pytest.raises(StorageStartError, match="in use by another sandbox"):
        second_weed.start()
    assert temporary.data_dir not in _orphans.sweep_temp_dirs()
    assert temporary.data_dir.exists()
    for o in (persistent, temporary):
        assert not gone(o.weed)
        assert httpx.get(o.base_url + "/health", timeout=10).status_code == 200
        assert grpc_sockets(weed_ports(o.weed))


# ----------------------------------------------------------------------------------- ports


def test_ports_are_chosen_outside_the_ephemeral_range(stored: Stored) -> None:
    """Every port and its gRPC twin (port + 10000, below 65536) lies outside the range the
    kernel takes outgoing ports from, for the real range and for others."""
    real = tuple(int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert ephemeral_range() == real
    for lo, hi in [real, (1024, 32767), (20000, 45000), (15000, 60999)]:
        for p in free_port_pairs(12, (lo, hi)):
            assert p + GRPC_OFFSET < 65536
            assert not lo <= p <= hi
            assert not lo <= p + GRPC_OFFSET <= hi
    for p in stored.ports.values():
        assert not real[0] <= p <= real[1]
        assert not real[0] <= p + GRPC_OFFSET <= real[1]
    assert candidate_ports((1024, 65535)) == []


def test_a_port_lost_before_weed_binds_it_is_retried_on_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a chosen port is taken before weed binds it, weed exits and the start is
    retried on new ports; storage then works."""
    [busy] = free_port_pairs(1)
    taken = socket.socket()
    taken.bind(("127.0.0.1", busy))
    taken.listen()
    real = _weed.free_port_pairs
    calls: list[list[int]] = []

    def first_set_loses_one(count: int) -> list[int]:
        ports = real(count)
        if not calls:
            ports[1] = busy
        calls.append(ports)
        return ports

    monkeypatch.setattr(_weed, "free_port_pairs", first_set_loses_one)
    weed = WeedServer(tmp_path / "s3", bucket="alloy-user-files", region="us-east-1")
    try:
        weed.start()
        assert len(calls) == 2
        assert busy not in weed.ports.values()
        assert f"port {busy}" in (tmp_path / "s3" / "weed.out").read_text()
        s = weed.settings
        client = boto3.client(
            "s3",
            endpoint_url=s.endpoint_url,
            region_name=s.region,
            aws_access_key_id=s.access_key,
            aws_secret_access_key=s.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        client.put_object(Bucket=s.bucket, Key="after-retry", Body=b"ok")
    finally:
        weed.stop()
        taken.close()
