"""What an error says about itself: kind, HTTP status, request, cause, file (for _plain).

Reads exceptions and also batch rows' ``"ClassName: text"`` strings (``delete_files`` and
``send_to_google_drive`` report failures per row that way).
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from alloy_nb import _exceptions as ex

_ROW_ERROR = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): (.*)$", re.S)
_STATUS_TEXT = re.compile(r"^(\d{3}) (.*?)(?: \(request id [^)]*\))?$", re.S)
_REQUEST_TEXT = re.compile(r"^(GET|POST|PUT|DELETE|PATCH|HEAD) (\S+) (?:failed|timed out)")
_FOREIGN = re.compile(r"(?:[A-Z][a-z0-9]*)+(?:Error|Exception|Timeout)")
# the "context: " alloy_nb's client puts in front of a server's message
CONTEXT = re.compile(
    r"^(upload request for .+?|listing files|deleting .+?|\w+/\w+|listing \w+ credentials"
    r"|creating a \w+ credential): "
)


@dataclass
class Facts:
    """The parts of an error its plain-words sentence is built from."""

    kind: type[BaseException]
    message: str
    status: int | None = None
    method: str | None = None
    url: httpx.URL | None = None
    causes: str = ""
    filename: str | None = None
    strerror: str | None = None
    errno: int | None = None
    retry_after: str | None = None
    deleting: str | None = None  # the s3Key a DELETE was for
    ours: bool = True  # raised by alloy_nb itself, so its message was written for people


def from_exception(e: BaseException) -> Facts:
    request = getattr(e, "request", None) if isinstance(e, ex.APIError) else None
    facts = Facts(kind=type(e), message=str(getattr(e, "message", None) or e))
    if isinstance(request, httpx.Request):
        facts.method, facts.url = request.method, request.url
        facts.deleting = _deleted_key(request.method, request.url)
    if isinstance(e, ex.APIStatusError):
        facts.status = e.status_code
        facts.retry_after = e.response.headers.get("retry-after")
    if isinstance(e, OSError):
        facts.filename = None if e.filename is None else str(e.filename)
        facts.strerror, facts.errno = e.strerror, e.errno
    if isinstance(e, ex.IntegrityError):
        facts.filename = e.filename
    cause, seen = e.__cause__ or e.__context__, 0
    while cause is not None and seen < 5:  # the transport's reason, e.g. "connection refused"
        facts.causes += f" {cause}"
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", "")) if tb is not None else ""
    facts.ours = module.startswith("alloy_nb")
    return facts


def from_text(text: str) -> Facts | None:
    """Facts from a batch row's ``"ClassName: text"``, or None if it is not one."""
    match = _ROW_ERROR.match(text.strip())
    if match is None:
        return None
    kind = _kind(match.group(1))
    if kind is None and _FOREIGN.fullmatch(match[1]):
        kind = Exception  # another library's error class: say so generically
    if kind is None:
        return None
    message = match.group(2)
    facts = Facts(kind=kind, message=message)
    if issubclass(kind, ex.APIStatusError) and (status := _STATUS_TEXT.match(message)):
        facts.status, facts.message = int(status.group(1)), status.group(2)
    if request := _REQUEST_TEXT.match(message):
        facts.method, facts.url = request.group(1), httpx.URL(request.group(2))
        facts.deleting = _deleted_key(facts.method, facts.url)
    elif (context := CONTEXT.match(facts.message)) and context.group(1).startswith("deleting "):
        facts.method, facts.deleting = "DELETE", context.group(1).removeprefix("deleting ")
    return facts


def _deleted_key(method: str, url: httpx.URL) -> str | None:
    path = url.raw_path.decode("ascii", "replace").split("?", 1)[0]
    if method != "DELETE" or "/connectors/files/" not in path:
        return None
    return unquote(path.rsplit("/", 1)[-1])


def _kind(name: str) -> type[BaseException] | None:
    found = getattr(ex, name, None) or getattr(builtins, name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None
