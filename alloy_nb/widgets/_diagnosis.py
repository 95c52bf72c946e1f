"""What to do when the browser's direct PUT ended without an answer the page could read.

A status 0 is what a browser reports for a refused CORS preflight or an unreachable
storage, but also for any answer that lacks CORS headers: storage that leaves them off its
error answers turns an expired URL (403) or a changed file (400 BadDigest) into the same
status 0. So before falling back to the relay, the kernel asks what it can find out:

* Alloy now says ``existing``: the PUT did land (only its answer was unreadable), and
  storage checked it against the browser's MD5, so it is the file as hashed;
* the browser could no longer read the file (browsers refuse to read a ``File`` whose file
  changed on disk after it was chosen): the file changed, say so, store nothing;
* the URL is past its ``X-Amz-Date`` + ``X-Amz-Expires``: renew it once, PUT directly again;
* otherwise the browser really cannot reach storage: relay (``transfer="auto"``) or fail.

A relay of a file that changed without the browser noticing still stores nothing: the
relay's PUT carries the browser's MD5, so storage refuses other bytes (BadDigest).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from alloy_nb.widgets._relay import CHANGED

Step = Literal["changed", "stored", "renew", "relay", "refuse"]

# DOMException names a browser gives a read of a File whose file changed or went away.
_READ_ERRORS = {
    "NotReadableError": CHANGED,
    "NotFoundError": "the file was moved or deleted while it was uploading; drop it again.",
}


def url_expired(url: str, now: float | None = None) -> bool | None:
    """Whether a presigned URL is past its expiry: SigV4 (``X-Amz-Date`` +
    ``X-Amz-Expires``) or SigV2 (``Expires``, epoch seconds); None if it says neither."""
    query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    now = time.time() if now is None else now
    try:
        if "x-amz-date" in query and "x-amz-expires" in query:
            signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ")
            expiry = signed.replace(tzinfo=timezone.utc).timestamp() + int(query["x-amz-expires"])
        elif "expires" in query:
            expiry = float(int(query["expires"]))
        else:
            return None
    except ValueError:
        return None
    return now >= expiry


def next_step(
    *, readable: bool, alloy_says: str, expired: bool | None, renewed: bool, transfer: str
) -> Step:
    """The step after an unreadable PUT answer (see the module docstring), in that order."""
    if alloy_says == "existing":
        return "stored"
    if not readable:
        return "changed"
    if expired and not renewed:
        return "renew"
    return "relay" if transfer == "auto" else "refuse"


def read_error_message(kind: object) -> str | None:
    """The row's message for a browser read error named ``kind``, if it means the file
    changed or went away after it was chosen; None for any other error."""
    return _READ_ERRORS.get(str(kind or ""))


def s3_message(body: str) -> str:
    """``Code: Message`` from an S3 XML error body, else the body's first words."""
    code = re.search(r"<Code>([^<]*)</Code>", body)
    message = re.search(r"<Message>([^<]*)</Message>", body)
    if code:
        return f"{code.group(1)}: {message.group(1)}" if message else code.group(1)
    return " ".join(body.split())[:200] or "no details"
