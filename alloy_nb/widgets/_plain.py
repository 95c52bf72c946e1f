"""Plain words: every alloy_nb error as a sentence for a person (what happened, what to do).

Both panels show errors only through :func:`explain` / :func:`plain_error`, so no exception
class name or errno text reaches them. Batch calls (``delete_files``, ``send_to_google_drive``)
report errors per row as ``"ClassName: text"`` strings; those are explained too.
"""

from __future__ import annotations

import builtins
import errno
import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from alloy_nb import _exceptions as ex
from alloy_nb.connectors.google_drive import display_name

log = logging.getLogger("alloy_nb.widgets")

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SANDBOX_HINT = "If you use the local sandbox, re-run the cell that calls alloy_nb.connect()."
_CONNECTORS = {"googleDrive": "Google Drive"}
_ROW_ERROR = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): (.*)$", re.S)
_STATUS_TEXT = re.compile(r"^(\d{3}) (.*?)(?: \(request id [^)]*\))?$", re.S)
_REQUEST_TEXT = re.compile(r"^(GET|POST|PUT|DELETE|PATCH|HEAD) (\S+) (?:failed|timed out)")
_CONTEXT = re.compile(
    r"^(upload request for .+?|listing files|deleting .+?|\w+/\w+|listing \w+ credentials"
    r"|creating a \w+ credential): "
)
_UNREACHABLE = (
    ("refused", "nothing is listening there"),
    ("name or service not known", "that host name could not be found"),
    ("nodename nor servname", "that host name could not be found"),
    ("name resolution", "that host name could not be found"),
    ("no address associated", "that host name could not be found"),
    ("getaddrinfo", "that host name could not be found"),
    ("certificate", "its security certificate was not accepted"),
    ("ssl", "the secure connection could not be set up"),
    ("unreachable", "the network is unreachable"),
    ("no route", "the network is unreachable"),
    ("reset", "the connection was cut off"),
    ("disconnected", "the connection was cut off"),
    ("closed", "the connection was cut off"),
    ("broken pipe", "the connection was cut off"),
)


@dataclass(frozen=True)
class Plain:
    """``text`` for the panel; ``detail`` (technical, for a collapsible) if the text is generic."""

    text: str
    detail: str | None = None


@dataclass
class _Facts:
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


def plain_error(error: BaseException | str) -> str:
    """The sentence a person can act on, instead of a traceback."""
    return explain(error).text


def explain(error: BaseException | str) -> Plain:
    """The sentence, plus technical detail when the sentence alone is generic."""
    facts = _from_text(error) if isinstance(error, str) else _from_exception(error)
    if facts is None:  # a string that is already plain words
        return Plain(_sentence(str(error)))
    plain = _explain(facts)
    log.debug("%s -> %s", facts.kind.__name__, plain.text, exc_info=not isinstance(error, str))
    return plain


def _explain(f: _Facts) -> Plain:
    k = f.kind
    if issubclass(k, ex.MissingCredentialsError):
        return Plain(
            "No Alloy API key is set: set ALLOY_API_KEY (Dashboard → Settings → API "
            "Keys), or call alloy_nb.connect() without a key to use the local sandbox."
        )
    if issubclass(k, ex.MissingDependencyError):
        return Plain(_sentence(f.message))
    if issubclass(k, ex.FileTooLargeError):
        return Plain(_sentence(f"Too large to upload: {f.message}"))
    if issubclass(k, ex.IntegrityError):
        name = f"The file {f.filename}" if f.filename else "The file"
        return Plain(
            f"{name} changed while it was being uploaded, so storage refused it and "
            "nothing was stored. Upload it again once nothing is writing to it."
        )
    if issubclass(k, ex.APIStatusError) or f.status is not None:
        return _status(f)
    if issubclass(k, ex.APITimeoutError):
        return Plain(f"{_where(f)} did not answer in time{_doing(f)}. " + _todo(f, "again"))
    if issubclass(k, ex.APIConnectionError):
        text = f"{f.message} {f.causes}".lower()
        why = next((reason for needle, reason in _UNREACHABLE if needle in text), None)
        head = f"Could not reach {_where(f, lower=True)}" + (f": {why}." if why else ".")
        return Plain(f"{head} {_todo(f, 'connect')}")
    if issubclass(k, ex.APIError):
        return Plain(
            f"Alloy sent an answer that could not be used{_doing(f)}. Try again; "
            "if it keeps happening, keep the details for a bug report.",
            f.message,
        )
    if issubclass(k, IsADirectoryError):
        return Plain(
            f"The path {f.filename} is a folder, not a file: name a file, or a pattern such "
            "as folder/*.csv."
        )
    if issubclass(k, FileNotFoundError):
        return Plain(
            f"There is no file at {f.filename}: check the path (relative paths start "
            "in the notebook's folder)."
        )
    if issubclass(k, PermissionError):
        return Plain(f"Not allowed to open {f.filename}: check the file's permissions.")
    if issubclass(k, OSError) and f.errno == errno.ENOSPC:
        return Plain("The disk is full: free some space, then try again.")
    if issubclass(k, OSError) and f.strerror:
        where = f" ({f.filename})" if f.filename else ""
        return Plain(f"A file operation failed{where}: {f.strerror.lower()}. Try again.")
    if issubclass(k, ValueError | TypeError) and f.ours and f.message:
        return Plain(_sentence(f"Check the input: {f.message}"))
    return Plain(
        "Something unexpected went wrong. Try again; if it keeps happening, report it "
        "with the details.",
        f"{k.__name__}: {f.message}",
    )


def _status(f: _Facts) -> Plain:
    status, doing = f.status or 0, _doing(f)
    reason = _reason(f)
    if status == 401:
        return Plain("The API key was refused: check ALLOY_API_KEY.")
    if status == 403:
        return Plain(
            f"Alloy did not allow this{doing}: {reason} Ask your workspace admin if "
            "you need access."
        )
    if status == 404 and f.deleting:
        name = display_name(f.deleting)
        return Plain(
            f"The file {name} is no longer there: it was deleted already, or it belongs to "
            "another user. Refresh to see your files."
        )
    if status == 404:
        return Plain(
            f"Alloy could not find what was asked for{doing}: {reason} Refresh, then try again."
        )
    if status == 409:
        return Plain(
            f"Something changed at the same time{doing}: {reason} Refresh, then try again."
        )
    if status == 429:
        wait = f"about {f.retry_after} seconds" if f.retry_after else "a minute"
        return Plain(
            f"Alloy is receiving too many requests right now{doing}. Wait {wait}, then try again."
        )
    if status >= 500:
        head = f"{_where(f)} had a problem{doing} (HTTP {status}). "
        return Plain(head + _todo(f, "server"))
    return Plain(f"Alloy refused the request{doing}: {reason}")


def _from_exception(e: BaseException) -> _Facts:
    request = getattr(e, "request", None) if isinstance(e, ex.APIError) else None
    facts = _Facts(kind=type(e), message=str(getattr(e, "message", None) or e))
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


def _from_text(text: str) -> _Facts | None:
    """Facts from a batch row's ``"ClassName: text"``, or None if it is not one."""
    match = _ROW_ERROR.match(text.strip())
    if match is None:
        return None
    kind = _kind(match.group(1))
    if kind is None and re.fullmatch(r"(?:[A-Z][a-z0-9]*)+(?:Error|Exception|Timeout)", match[1]):
        kind = Exception  # another library's error class: say so generically
    if kind is None:
        return None
    message = match.group(2)
    facts = _Facts(kind=kind, message=message)
    if issubclass(kind, ex.APIStatusError) and (status := _STATUS_TEXT.match(message)):
        facts.status, facts.message = int(status.group(1)), status.group(2)
    if request := _REQUEST_TEXT.match(message):
        facts.method, facts.url = request.group(1), httpx.URL(request.group(2))
        facts.deleting = _deleted_key(facts.method, facts.url)
    elif (context := _CONTEXT.match(facts.message)) and context.group(1).startswith("deleting "):
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


def _reason(f: _Facts) -> str:
    """The server's own words, without the ``context:`` alloy_nb put in front."""
    text = _CONTEXT.sub("", f.message, count=1).strip() or "no reason was given"
    return _sentence(text)


def _doing(f: _Facts) -> str:
    if f.deleting:
        return f" while deleting {display_name(f.deleting)}"
    if f.url is None:
        return _doing_from_context(f.message)
    path, method = f.url.path, f.method or ""
    if path.endswith("/connectors/files/list"):
        return " while listing your files"
    if path.endswith("/connectors/files/upload/request"):
        return " while preparing the upload"
    if match := re.search(r"/connectors/([^/]+)/actions/[^/]+/execute$", path):
        return f" while talking to {_CONNECTORS.get(match.group(1), match.group(1))}"
    if match := re.search(r"/connectors/([^/]+)/credentials$", path):
        name = _CONNECTORS.get(match.group(1), match.group(1))
        return f" while {'creating' if method == 'POST' else 'loading'} {name} credentials"
    return " while sending the file to storage" if method == "PUT" else ""


def _doing_from_context(message: str) -> str:
    """What a batch row's call was doing, from the ``context:`` at the front of its message."""
    match = _CONTEXT.match(message)
    context = match.group(1) if match else ""
    if context == "listing files":
        return " while listing your files"
    if context.startswith("upload request for "):
        return f" while preparing the upload of {context.removeprefix('upload request for ')}"
    if action := re.fullmatch(r"(\w+)/\w+", context):
        return f" while talking to {_CONNECTORS.get(action[1], action[1])}"
    if creds := re.fullmatch(r"(listing|creating) (?:a )?(\w+) credentials?", context):
        verb = "creating" if creds[1] == "creating" else "loading"
        return f" while {verb} {_CONNECTORS.get(creds[2], creds[2])} credentials"
    return ""


def _is_local(f: _Facts) -> bool:
    return f.url is not None and f.url.host in LOCAL_HOSTS


def _where(f: _Facts, *, lower: bool = False) -> str:
    if f.url is None:
        return "the Alloy API" if lower else "The Alloy API"
    api = f.url.path.startswith(("/connectors", "/users")) or f.method != "PUT"
    what = "the Alloy API" if api else "the file storage"
    host = f.url.host + (f":{f.url.port}" if f.url.port else "")
    text = f"{what} at {host}"
    return text if lower else text[0].upper() + text[1:]


def _todo(f: _Facts, case: str) -> str:
    if _is_local(f):
        return SANDBOX_HINT
    if case == "connect":
        return "Check your network connection and ALLOY_BASE_URL, then try again."
    if case == "server":
        return "This is usually temporary: try again in a minute."
    return "Check your network connection, then try again."


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if first.isalpha():  # not a file or field name, whose case matters
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
