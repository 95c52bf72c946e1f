"""alloy_nb: move files between Jupyter notebooks, Alloy's File Management API and connectors.

>>> import secrets
>>> import alloy_nb
>>> client = alloy_nb.connect()  # your account with $ALLOY_API_KEY, else your local sandbox
alloy_nb: ...
>>> data = b"id,score\\n" + secrets.token_hex(8).encode()  # bytes seen nowhere before
>>> result = client.upload(data, filename="scores.csv", progress=False)
>>> result.type, result.filename
('new', 'scores.csv')
>>> result.s3_key in set(client.list_files().s3_key)
True
>>> client.delete_file(result.s3_key)  # only what this example uploaded

(The test suite runs these lines against a sandbox of its own; :class:`alloy_nb.Client` has
a longer tour.)
The offline sandbox lives in :mod:`alloy_nb.sandbox` and is never imported from here.
"""

import typing as _typing

from alloy_nb import connectors as connectors
from alloy_nb._client import Client
from alloy_nb._connect import connect
from alloy_nb._exceptions import (
    AlloyError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FileTooLargeError,
    IntegrityError,
    MissingCredentialsError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from alloy_nb._hashcache import md5_file
from alloy_nb._md5 import MD5, to_base64, to_hex
from alloy_nb._models import UploadResult, UploadTicket
from alloy_nb.connectors._results import unwrap_result

if _typing.TYPE_CHECKING:  # the panels load lazily (below); these names let type checkers see them
    from alloy_nb.widgets import FileBrowser, UploadPanel


def _installed_version() -> str:
    """The version is written once, in pyproject.toml; this reads what was installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alloy_nb")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


__version__ = _installed_version()

_WIDGETS = ("FileBrowser", "UploadPanel")


def __getattr__(name: str) -> object:
    """The panels load ipywidgets and anywidget only when first used."""
    if name in _WIDGETS:
        from alloy_nb import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'alloy_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WIDGETS))


__all__ = [
    "MD5",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AlloyError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "FileBrowser",
    "FileTooLargeError",
    "IntegrityError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UploadPanel",
    "UploadResult",
    "UploadTicket",
    "__version__",
    "connect",
    "md5_file",
    "to_base64",
    "to_hex",
    "unwrap_result",
]

for _name in __all__:
    if _name in _WIDGETS:
        continue
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = "alloy_nb"
del _name, _obj
