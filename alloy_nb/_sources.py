"""Whatever a user passes to ``upload`` -> a seekable binary file with a name and a size.

Paths are opened; bytes are wrapped; seekable file objects are used from their current
position; anything else (pipes, sockets, DataFrames) is first streamed to a temporary file,
never copied whole into memory.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias

from alloy_nb._exceptions import MissingDependencyError

if TYPE_CHECKING:
    import pandas as pd

UploadSource: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | pd.DataFrame"
)


@dataclass
class OpenedSource:
    file: BinaryIO
    start: int
    size: int
    filename: str
    from_path: bool = False  # opened here from a path: the hash cache may answer for it


def _is_dataframe(obj: object) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "to_csv")


def describe(source: object) -> str:
    """A short label for a source, for tables and error messages."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{len(source)} bytes>"
    if _is_dataframe(source):
        return f"<DataFrame {getattr(source, 'shape', '')}>"
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, str) else f"<{type(source).__name__}>"


@contextlib.contextmanager
def open_source(source: Any, filename: str | None) -> Iterator[OpenedSource]:
    """Open ``source`` for hashing and uploading; clean up whatever was made for it."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory; pass a file (or use upload_many)")
        with open(path, "rb") as f:
            yield OpenedSource(
                f, 0, os.fstat(f.fileno()).st_size, filename or path.name, from_path=True
            )
        return
    if isinstance(source, bytes | bytearray | memoryview):
        if not filename:
            raise ValueError("filename= is required when uploading bytes")
        yield OpenedSource(io.BytesIO(source), 0, len(source), filename)
        return
    if _is_dataframe(source):
        name = filename or "dataframe.csv"
        with _dataframe_file(source, name) as f:
            yield OpenedSource(f, 0, os.fstat(f.fileno()).st_size, name)
        return
    if hasattr(source, "read"):
        name = filename or _name_of(source)
        if source.seekable():
            start = source.tell()
            end = source.seek(0, io.SEEK_END)
            source.seek(start)
            yield OpenedSource(source, start, end - start, name)
            return
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(source, spool, 1024 * 1024)
            size = spool.tell()
            spool.seek(0)
            yield OpenedSource(spool, 0, size, name)
        return
    raise TypeError(
        f"cannot upload a {type(source).__name__}: pass a path, bytes, a binary file "
        "object or a pandas DataFrame"
    )


def _name_of(f: Any) -> str:
    name = getattr(f, "name", None)
    if isinstance(name, str) and name and not name.startswith("<"):
        return os.path.basename(name)
    raise ValueError("filename= is required for a file object without a name")


@contextlib.contextmanager
def _dataframe_file(df: Any, filename: str) -> Iterator[BinaryIO]:
    """Write the frame to a temporary file in the format its extension names."""
    ext = Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="alloy-nb-") as d:
        path = Path(d) / ("frame" + ext)
        if ext == ".parquet":
            try:
                df.to_parquet(path, index=False)
            except ImportError as e:
                raise MissingDependencyError(
                    "writing Parquet needs pyarrow: pip install pyarrow (or use a .csv name)"
                ) from e
        elif ext in (".csv", ".txt"):
            df.to_csv(path, index=False)
        elif ext == ".json":
            df.to_json(path, orient="records", lines=True)
        else:
            raise ValueError(
                f"cannot tell how to write a DataFrame as {filename!r}: "
                "name it .csv, .parquet or .json"
            )
        with open(path, "rb") as f:
            yield f
