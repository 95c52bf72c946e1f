"""One settings object: start() and the CLI read arguments and environment the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import alloy_nb.sandbox
from alloy_nb.sandbox import S3Settings, Sandbox, SandboxSettings, SettingsError, load_settings
from alloy_nb.sandbox.__main__ import _parser, cli_settings
from tests.helpers import Api, random_bytes

MOTO_KEY, MOTO_SECRET = "moto-access", "moto-secret"


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ALLOY_SANDBOX_* variable from the shell reaches a test; each sets its own."""
    for name in list(os.environ):
        if name.startswith("ALLOY_SANDBOX_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """An external S3 server (moto): the configuration path for AWS S3, MinIO or a cluster."""
    from moto.server import ThreadedMotoServer

    from alloy_nb.sandbox._weed import free_port_pairs

    port = free_port_pairs(1)[0]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        moto.stop()


def _cli(*argv: str) -> SandboxSettings:
    return cli_settings(_parser().parse_args(list(argv)))


def test_start_honours_the_s3_variables_like_the_cli(
    environ: pytest.MonkeyPatch, moto_endpoint: str, tmp_path: Path, http: httpx.Client
) -> None:
    """start() without arguments uses $ALLOY_SANDBOX_S3_*, keys, data dir and URL lifetime."""
    environ.setenv("ALLOY_SANDBOX_S3_ENDPOINT", moto_endpoint)
    environ.setenv("ALLOY_SANDBOX_S3_ACCESS_KEY", MOTO_KEY)
    environ.setenv("ALLOY_SANDBOX_S3_SECRET_KEY", MOTO_SECRET)
    environ.setenv("ALLOY_SANDBOX_S3_BUCKET", "from-env")
    environ.setenv("ALLOY_SANDBOX_S3_REGION", "eu-west-1")
    environ.setenv("ALLOY_SANDBOX_API_KEYS", "env-key-1, env-key-2")
    environ.setenv("ALLOY_SANDBOX_DATA_DIR", str(tmp_path / "data"))
    environ.setenv("ALLOY_SANDBOX_URL_TTL", "120")
    with alloy_nb.sandbox.start() as sb:
        assert sb.weed is None
        assert sb.storage == S3Settings(
            moto_endpoint, MOTO_KEY, MOTO_SECRET, "from-env", "eu-west-1"
        )
        assert [k.key for k in sb.api_keys] == ["env-key-1", "env-key-2"]
        assert sb.data_dir == tmp_path / "data"
        assert sb.settings == _cli("--port", "0")
        t = Api(http, sb.base_url, "env-key-2").upload("remote.bin", random_bytes(321))
        url = urlsplit(t["presignedUrl"])
        assert f"{url.scheme}://{url.netloc}" == moto_endpoint
        assert url.path.startswith("/from-env/")
        assert parse_qs(url.query)["X-Amz-Expires"] == ["120"]
        assert [f["size"] for f in Api(http, sb.base_url, "env-key-2").files()] == [321]
        assert Api(http, sb.base_url, "env-key-1").files() == []


def test_an_argument_beats_its_variable(
    environ: pytest.MonkeyPatch, sandbox: Sandbox, tmp_path: Path
) -> None:
    """Given s3, keys, data dir and URL lifetime win over $ALLOY_SANDBOX_*; nothing is mixed."""
    environ.setenv("ALLOY_SANDBOX_S3_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    environ.setenv("ALLOY_SANDBOX_S3_ACCESS_KEY", "env-access")
    environ.setenv("ALLOY_SANDBOX_S3_SECRET_KEY", "env-secret")
    environ.setenv("ALLOY_SANDBOX_S3_BUCKET", "env-bucket")
    environ.setenv("ALLOY_SANDBOX_API_KEYS", "env-key")
    environ.setenv("ALLOY_SANDBOX_DATA_DIR", str(tmp_path / "env-data"))
    environ.setenv("ALLOY_SANDBOX_URL_TTL", "120")
    with alloy_nb.sandbox.start(
        s3=sandbox.storage, api_keys=["arg-key"], data_dir=tmp_path / "arg-data", url_ttl=60
    ) as sb:
        assert (sb.storage, sb.api_key, sb.data_dir) == (
            sandbox.storage,
            "arg-key",
            tmp_path / "arg-data",
        )
        assert sb.settings.url_ttl == 60
    assert not (tmp_path / "env-data").exists()
    flags = _cli(
        *("--s3-endpoint", "http://127.0.0.1:10", "--s3-access-key", "flag-access"),
        *("--s3-bucket", "flag-bucket", "--api-key", "flag-key", "--url-ttl", "30"),
    )
    assert flags.s3 == S3Settings(
        "http://127.0.0.1:10", "flag-access", "env-secret", "flag-bucket", "us-east-1"
    )
    assert (flags.api_keys, flags.url_ttl, flags.port) == (("flag-key",), 30, 8765)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"ALLOY_SANDBOX_DATA_DIR": "/somewhere/data", "ALLOY_SANDBOX_API_KEYS": "a,b"},
        {
            "ALLOY_SANDBOX_DATA_DIR": "/somewhere/data",
            "ALLOY_SANDBOX_S3_ENDPOINT": "https://s3.example.test",
            "ALLOY_SANDBOX_S3_PUBLIC_ENDPOINT": "https://public.example.test",
            "ALLOY_SANDBOX_S3_ACCESS_KEY": "ak",
            "ALLOY_SANDBOX_S3_SECRET_KEY": "sk",
            "ALLOY_SANDBOX_S3_REGION": "ap-south-1",
            "ALLOY_SANDBOX_URL_TTL": "900",
        },
    ],
    ids=["nothing", "keys-and-data-dir", "external-s3"],
)
def test_the_cli_and_start_build_identical_settings(
    environ: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """The same environment gives the same settings; the CLI differs only in its defaults
    (port 8765 and ./sandbox-data, where start() picks a free port and a temporary dir)."""
    for name, value in env.items():
        environ.setenv(name, value)
    from_start = load_settings()  # what start() builds from no arguments
    from_cli = _cli("--port", "0")
    if "ALLOY_SANDBOX_DATA_DIR" in env:
        assert from_cli == from_start
    else:
        assert from_start.data_dir is None
        assert from_cli.data_dir == Path("sandbox-data")
        assert from_cli == SandboxSettings(**{**vars(from_start), "data_dir": Path("sandbox-data")})
    assert _cli().port == 8765
    assert from_start.port == 0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ALLOY_SANDBOX_URL_TTL": "soon"}, "$ALLOY_SANDBOX_URL_TTL must be a whole number"),
        ({"ALLOY_SANDBOX_URL_TTL": "0"}, "$ALLOY_SANDBOX_URL_TTL must be 1 to 604800 seconds"),
        ({"ALLOY_SANDBOX_S3_ENDPOINT": "localhost:9000"}, "$ALLOY_SANDBOX_S3_ENDPOINT must be an"),
        ({"ALLOY_SANDBOX_S3_ENDPOINT": "http://h:port"}, "$ALLOY_SANDBOX_S3_ENDPOINT must be an"),
        ({"ALLOY_SANDBOX_S3_ENDPOINT": "http://h:1"}, "needs $ALLOY_SANDBOX_S3_ACCESS_KEY and $"),
        (
            {"ALLOY_SANDBOX_S3_ENDPOINT": "http://h:1", "ALLOY_SANDBOX_S3_ACCESS_KEY": "ak"},
            "needs $ALLOY_SANDBOX_S3_SECRET_KEY",
        ),
        (
            {
                "ALLOY_SANDBOX_S3_ENDPOINT": "http://h:1",
                "ALLOY_SANDBOX_S3_ACCESS_KEY": "ak",
                "ALLOY_SANDBOX_S3_SECRET_KEY": "sk",
                "ALLOY_SANDBOX_S3_BUCKET": "My_Bucket",
            },
            "$ALLOY_SANDBOX_S3_BUCKET 'My_Bucket' is not an S3 bucket name",
        ),
        (
            {
                "ALLOY_SANDBOX_S3_ENDPOINT": "http://h:1",
                "ALLOY_SANDBOX_S3_ACCESS_KEY": "ak",
                "ALLOY_SANDBOX_S3_SECRET_KEY": "sk",
                "ALLOY_SANDBOX_S3_PUBLIC_ENDPOINT": "ftp://x",
            },
            "$ALLOY_SANDBOX_S3_PUBLIC_ENDPOINT must be an http(s) URL",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    environ: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    """start() raises SettingsError naming the variable and the fix, before touching anything."""
    for name, value in env.items():
        environ.setenv(name, value)
    with pytest.raises(SettingsError) as e:
        alloy_nb.sandbox.start()
    assert named in str(e.value)
    assert "sk" not in str(e.value).split()  # never the secret


def test_the_cli_refuses_a_bad_value_in_one_line(tmp_path: Path) -> None:
    """The CLI exits 2 with the variable named, no traceback, and no data directory made."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOY_")}
    env |= {"ALLOY_SANDBOX_URL_TTL": "an hour", "PYTHONPATH": os.getcwd()}
    argv = [sys.executable, "-m", "alloy_nb.sandbox", "--data-dir", str(tmp_path / "d")]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "alloy sandbox: $ALLOY_SANDBOX_URL_TTL must be a whole number of seconds, not 'an hour'"
    )
    assert not (tmp_path / "d").exists()


def test_bad_arguments_are_named_too(environ: pytest.MonkeyPatch) -> None:
    """A bad argument names the argument; the secret cannot be given as a flag."""
    with pytest.raises(SettingsError, match="url_ttl must be 1 to 604800"):
        load_settings(url_ttl=0)
    with pytest.raises(SettingsError, match="port must be 0"):
        load_settings(port=70000)
    with pytest.raises(SettingsError, match="--s3-endpoint must be an http"):
        _cli("--s3-endpoint", "s3.example.test")
    with pytest.raises(SettingsError, match="api_keys must be a list"):
        load_settings(api_keys="one-key")
    with pytest.raises(TypeError, match="settings or its fields"):
        alloy_nb.sandbox.start(settings=SandboxSettings(), port=1)
    with pytest.raises(SystemExit):
        _cli("--s3-secret-key", "x")


def test_secrets_stay_out_of_the_repr(environ: pytest.MonkeyPatch) -> None:
    """Neither the S3 secret nor an API key appears when settings are printed or logged."""
    environ.setenv("ALLOY_SANDBOX_S3_ENDPOINT", "http://127.0.0.1:1")
    environ.setenv("ALLOY_SANDBOX_S3_ACCESS_KEY", "ak")
    environ.setenv("ALLOY_SANDBOX_S3_SECRET_KEY", "very-secret-value")
    environ.setenv("ALLOY_SANDBOX_API_KEYS", "very-private-key")
    shown = repr(load_settings())
    assert "very-secret-value" not in shown
    assert "very-private-key" not in shown
    assert "http://127.0.0.1:1" in shown
