"""alloy_nb._md5: the hex/base64 spellings and the streaming hash."""

from __future__ import annotations

import base64
import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alloy_nb import md5_file, to_base64, to_hex
from alloy_nb._md5 import parse_md5


def test_documented_example_round_trips() -> None:
    assert to_base64("2942bfabb3d05332b66eb128e0842cff") == "KUK/q7PQUzK2brEo4IQs/w=="
    assert to_hex("KUK/q7PQUzK2brEo4IQs/w==") == "2942bfabb3d05332b66eb128e0842cff"
    assert to_hex("2942BFABB3D05332B66EB128E0842CFF") == "2942bfabb3d05332b66eb128e0842cff"


@given(st.binary(min_size=16, max_size=16))
def test_any_digest_round_trips_through_both_spellings(digest: bytes) -> None:
    hex_form, b64_form = digest.hex(), base64.b64encode(digest).decode()
    assert to_base64(hex_form) == b64_form
    assert to_hex(b64_form) == hex_form
    assert to_hex(to_base64(hex_form.upper())) == hex_form


@given(st.text(max_size=40))
def test_anything_else_is_a_value_error_naming_both_forms(text: str) -> None:
    try:
        md5 = parse_md5(text)
    except ValueError as e:
        assert "32 hex characters" in str(e)
        assert "24 base64 characters" in str(e)
    else:
        assert len(md5.digest) == 16
        assert text in (md5.hex, md5.hex.upper(), md5.base64) or text.lower() == md5.hex


@pytest.mark.parametrize("value", [None, 5, b"2942bfabb3d05332b66eb128e0842cff"])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_md5(value)


def test_md5_file_from_path_and_file_object(tmp_path: Path) -> None:
    data = b"x" * 3_000_001
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    expected = hashlib.md5(data).hexdigest()
    assert md5_file(p).hex == expected
    assert md5_file(str(p)).hex == expected
    f = io.BytesIO(b"head" + data)
    f.seek(4)
    seen: list[int] = []
    assert md5_file(f, on_progress=seen.append).hex == expected
    assert f.tell() == 4, "a file object is rewound to where hashing started"
    assert sum(seen) == len(data)
    assert str(md5_file(p)) == expected


def test_md5_file_memory_does_not_grow_with_size(tmp_path: Path) -> None:
    p = tmp_path / "big.bin"
    with open(p, "wb") as f:
        for _ in range(64):
            f.write(b"\x5a" * (1 << 20))
    tracemalloc.start()
    md5_file(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * (1 << 20), f"peak {peak} bytes while hashing 64 MiB"
