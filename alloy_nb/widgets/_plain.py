"""Plain words: every alloy_nb error as a sentence for a person (what happened, what to do).

Both panels show errors only through :func:`explain` / :func:`plain_error`, so no exception
class name or errno text reaches them. Batch calls (``delete_files``, ``send_to_google_drive``)
report errors per row as ``"ClassName: text"`` strings; those are explained too
(:mod:`alloy_nb.widgets._error_facts` reads both kinds).
"""

from __future__ import annotations

import errno
import logging
import re
from dataclasses import dataclass

from alloy_nb import _exceptions as ex
from alloy_nb.connectors.google_drive import display_name
from alloy_nb.widgets._error_facts import CONTEXT, Facts, from_exception, from_text

log = logging.getLogger("alloy_nb.widgets")

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SANDBOX_HINT = "If you use the local sandbox, re-run the cell that calls alloy_nb.connect()."
_CONNECTORS = {"googleDrive": "Google Drive"}
_NO_NAME = "that host name could not be found"
_CUT = "the connection was cut off"
_UNREACHABLE = {  # words in the transport's reason -> the reason in plain words
    "refused": "nothing is listening there",
    "name or service not known": _NO_NAME,
    "nodename nor servname": _NO_NAME,
    "name resolution": _NO_NAME,
    "no address associated": _NO_NAME,
    "getaddrinfo": _NO_NAME,
    "certificate": "its security certificate was not accepted",
    "ssl": "the secure connection could not be set up",
    "unreachable": "the network is unreachable",
    "no route": "the network is unreachable",
    "reset": _CUT,
    "disconnected": _CUT,
    "closed": _CUT,
    "broken pipe": _CUT,
}


@dataclass(frozen=True)
class Plain:
    """``text`` for the panel; ``detail`` (technical, for a collapsible) if the text is generic."""

    text: str
    detail: str | None = None


def plain_error(error: BaseException | str) -> str:
    """The sentence a person can act on, instead of a traceback."""
    return explain(error).text


def explain(error: BaseException | str) -> Plain:
    """The sentence, plus technical detail when the sentence alone is generic."""
    facts = from_text(error) if isinstance(error, str) else from_exception(error)
    if facts is None:  # a string that is already plain words
        return Plain(_sentence(str(error)))
    plain = _explain(facts)
    log.debug("%s -> %s", facts.kind.__name__, plain.text, exc_info=not isinstance(error, str))
    return plain


def _explain(f: Facts) -> Plain:
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
        why = next((reason for needle, reason in _UNREACHABLE.items() if needle in text), None)
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


def _status(f: Facts) -> Plain:
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


def _reason(f: Facts) -> str:
    """The server's own words, without the ``context:`` alloy_nb put in front."""
    text = CONTEXT.sub("", f.message, count=1).strip() or "no reason was given"
    return _sentence(text)


def _doing(f: Facts) -> str:
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
    match = CONTEXT.match(message)
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


def _is_local(f: Facts) -> bool:
    return f.url is not None and f.url.host in LOCAL_HOSTS


def _where(f: Facts, *, lower: bool = False) -> str:
    if f.url is None:
        return "the Alloy API" if lower else "The Alloy API"
    api = f.url.path.startswith(("/connectors", "/users")) or f.method != "PUT"
    what = "the Alloy API" if api else "the file storage"
    host = f.url.host + (f":{f.url.port}" if f.url.port else "")
    text = f"{what} at {host}"
    return text if lower else text[0].upper() + text[1:]


def _todo(f: Facts, case: str) -> str:
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
