"""Checks on the ids of connector calls, made before anything is sent."""

from __future__ import annotations

import re

__all__ = ["check_name", "check_object_id"]

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def check_object_id(field: str, value: object) -> str:
    """``value`` if it is a 24-character hex ObjectId (a credential id), else ValueError.

    >>> check_object_id("credential_id", "6901cf34fa3f225f1ceaa28c")
    '6901cf34fa3f225f1ceaa28c'
    >>> check_object_id("credential_id", "abc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: credential_id must be a 24-character hex ObjectId such as '...', not 'abc'
    """
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        raise ValueError(
            f"{field} must be a 24-character hex ObjectId such as '6901cf34fa3f225f1ceaa28c', "
            f"not {value!r:.40}"
        )
    return value


def check_name(field: str, value: object) -> str:
    """``value`` if it is a connector or action name (non-empty, no ``/``), else ValueError.

    >>> check_name("action_id", "uploadFile")
    'uploadFile'
    """
    if not isinstance(value, str) or not value or "/" in value:
        raise ValueError(f"{field} must be a non-empty name such as 'googleDrive'")
    return value
