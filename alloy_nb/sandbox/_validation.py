"""Request bodies: the base model every endpoint's body derives from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def _check_text(value: Any) -> None:
    """Every string, at any depth, must be real Unicode text (JSON allows lone surrogates,
    such as ``"\\ud800"``, which cannot be stored, logged or sent on). Walks with a stack,
    not recursion, so no nesting depth can exhaust the interpreter's."""
    todo: list[tuple[Any, str]] = [(value, "")]
    while todo:
        item, where = todo.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"{where}contains an invalid character (a lone UTF-16 surrogate); "
                    "send valid Unicode text"
                ) from None
        elif isinstance(item, dict):
            children = []
            for k, v in item.items():
                children += [(k, f"key {k!r:.20} "), (v, f"{where}.{k} " if where else f"'{k}' ")]
            todo.extend(reversed(children))  # popped in document order
        elif isinstance(item, list):
            todo.extend((x, where) for x in reversed(item))


class RequestBody(BaseModel):
    """Extra fields are ignored; every string must be valid Unicode."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _unicode_only(cls, value: Any) -> Any:
        _check_text(value)
        return value
