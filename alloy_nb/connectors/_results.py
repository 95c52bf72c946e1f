"""What a provider answered, inside an execute response."""

from __future__ import annotations

from typing import Any

__all__ = ["unwrap_result"]


def unwrap_result(response: Any) -> Any:
    """The provider's answer inside an execute response: ``result``, else ``responseData``,
    else the whole body.

    >>> unwrap_result({"success": True, "result": {"id": "1x"}})
    {'id': '1x'}
    >>> unwrap_result({"executionId": "e1", "responseData": {"id": "2y"}})
    {'id': '2y'}
    """
    if isinstance(response, dict):
        for key in ("result", "responseData"):
            if key in response:
                return response[key]
    return response
