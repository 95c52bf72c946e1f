"""The filename sanitiser and the key scheme, as properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alloy_nb.sandbox._names import (
    MAX_NAME_BYTES,
    candidate_keys,
    filename_of,
    sanitize_filename,
    split_extension,
)

USER = "651eb6e11d156e0d7a42c59d"
OTHER = "0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("document.pdf", "document.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.xlsx", "report.xlsx"),
        ("..", "file"),
        ("", "file"),
        ("   ", "file"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("tab\there.txt", "tabhere.txt"),
        (f"{OTHER}_secret.txt", "secret.txt"),
        (f"{OTHER}_{USER}_x.txt", "x.txt"),
        ("what?#frag%20.txt", "what__frag_20.txt"),
        ("  spaced   out .txt  ", "spaced out .txt"),
        (".hidden", "hidden"),
        ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),
        ("\u202egnp.exe", "gnp.exe"),
    ],
)
def test_examples(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_names_keep_their_extension() -> None:
    name = sanitize_filename("a" * 300 + ".parquet")
    assert name.endswith(".parquet")
    assert len(name.encode()) == MAX_NAME_BYTES
    multi = sanitize_filename("é" * 300 + ".csv")
    assert multi.endswith(".csv")
    assert len(multi.encode()) <= MAX_NAME_BYTES


@settings(max_examples=400)
@given(st.text(max_size=400))
def test_sanitised_names_are_safe_bounded_and_stable(raw: str) -> None:
    name = sanitize_filename(raw)
    assert name
    assert name not in (".", "..")
    assert not set(name) & set('/\\<>:"|?*#%{}[]`')
    assert all(ch.isprintable() or ch == " " for ch in name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert not re.match(r"[0-9a-fA-F]{24}_", name)
    assert name == name.strip(" .")
    assert sanitize_filename(name) == name


@given(st.text(max_size=300), st.sampled_from([USER, OTHER]))
def test_every_key_stays_inside_its_owners_prefix(raw: str, owner: str) -> None:
    md5 = "2942bfabb3d05332b66eb128e0842cff"
    keys = candidate_keys(owner, raw, md5)
    for key in (next(keys), next(keys), next(keys)):
        assert key.startswith(owner + "_")
        other = OTHER if owner == USER else USER
        assert not key.startswith(other + "_")
        rest = key[len(owner) + 1 :]
        assert not re.match(r"[0-9a-fA-F]{24}_", rest), "a key must never look like another user's"
        assert filename_of(key) == rest


def test_candidate_keys_keep_the_extension_and_add_the_md5() -> None:
    md5 = "2942bfabb3d05332b66eb128e0842cff"
    keys = candidate_keys(USER, "report.csv", md5)
    assert [next(keys) for _ in range(4)] == [
        f"{USER}_report.csv",
        f"{USER}_report-2942bfab.csv",
        f"{USER}_report-{md5}.csv",
        f"{USER}_report-{md5}-2.csv",
    ]


@pytest.mark.parametrize(
    ("name", "parts"),
    [("a.tar.gz", ("a.tar", ".gz")), ("noext", ("noext", "")), ("a.", ("a", "."))],
)
def test_split_extension(name: str, parts: tuple[str, str]) -> None:
    assert split_extension(name) == parts
