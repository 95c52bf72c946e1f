"""Request bodies: the base model every endpoint's body derives from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def _check_text(value: Any, where: str = "") -> None:
    """Every string, at any depth, must be real Unicode text (JSON allows lone surrogates,
    such as ``"\\ud800"``, which cannot be stored, logged or sent on)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{where}contains an invalid character (a lone UTF-16 surrogate); "
                "send valid Unicode text"
            ) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, f"key {k!r:.20} ")
            _check_text(v, f"{where}.{k} " if where else f"'{k}' ")
    elif isinstance(value, list):
        for item in value:
            _check_text(item, where)


class RequestBody(BaseModel):
    """Extra fields are ignored; every string must be valid Unicode."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _unicode_only(cls, value: Any) -> Any:
        _check_text(value)
        return value
