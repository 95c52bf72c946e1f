"""A tiny invisible widget that writes text to the browser's clipboard."""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets


class Clipboard(anywidget.AnyWidget):
    """Writes ``text`` to the clipboard each time ``copies`` goes up; it also brings the
    panels' stylesheet into the page for the ipywidgets-based FileBrowser."""

    _esm = Path(__file__).parent / "clipboard.js"
    _css = Path(__file__).parent / "panels.css"
    text = traitlets.Unicode("").tag(sync=True)
    copies = traitlets.Int(0).tag(sync=True)

    def copy(self, text: str) -> None:
        with self.hold_sync():
            self.text, self.copies = text, self.copies + 1
