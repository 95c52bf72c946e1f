"""Notebook panels: thin shells over :class:`alloy_nb.Client` (no HTTP or S3 code here)."""

from alloy_nb.widgets._file_browser import FileBrowser
from alloy_nb.widgets._upload_panel import UploadPanel

__all__ = ["FileBrowser", "UploadPanel"]
