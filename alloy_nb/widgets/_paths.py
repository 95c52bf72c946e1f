"""What the UploadPanel's path box names on the kernel: a file, a folder or a glob."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from alloy_nb.widgets._common import n_files


@dataclass(frozen=True)
class Found:
    """The regular files to upload and the sentence that tells the user what was found."""

    files: list[str]
    message: str


def find_paths(text: str) -> Found:
    """The regular files ``text`` names on the kernel's filesystem.

    A folder gives every regular file under it (hidden files and folders left out, as a
    glob leaves them out); a glob gives the regular files it matches (``**`` recurses).
    """
    text = text.strip()
    if not text:
        return Found([], "Type a file, a folder or a pattern first, e.g. data/*.csv.")
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        return _folder(text, path)
    matches = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    if matches:
        one = len(matches) == 1 and matches[0] == path
        return Found(matches, "" if one else f"{n_files(len(matches))} match {text}.")
    if os.path.exists(path):
        return Found([], f"{text} is not a regular file or folder, so there is nothing to upload.")
    return Found(
        [],
        f"Nothing matches {text} on the kernel's filesystem (relative paths start in "
        f"{os.getcwd()}). Check the spelling, or try a pattern such as *.csv.",
    )


def _folder(text: str, path: str) -> Found:
    files: list[str] = []
    hidden = 0
    for top, dirs, names in os.walk(path):
        hidden += sum(d.startswith(".") for d in dirs)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            full = os.path.join(top, name)
            if name.startswith("."):
                hidden += 1
            elif os.path.isfile(full):
                files.append(full)
    shown = text.rstrip("/\\") + "/"
    left_out = f" ({hidden} hidden left out)" if hidden else ""
    if not files:
        return Found([], f"The folder {shown} has no files to upload{left_out}.")
    return Found(files, f"{n_files(len(files))} from {shown}{left_out}")
