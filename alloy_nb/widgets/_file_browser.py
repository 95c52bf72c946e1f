"""FileBrowser: the caller's files as a filterable, sortable, paged table with actions."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as w
import pandas as pd
import traitlets

from alloy_nb._client import Client
from alloy_nb.connectors import google_drive
from alloy_nb.widgets._common import default_client, human_size, plain_error

SORT_COLUMNS = {"filename": "filename", "size": "size", "last modified": "last_modified",
                "s3Key": "s3_key"}  # fmt: skip
_CELL = "padding:0 8px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis"
_WIDE = {"width": "auto", "flex": "1 1 auto"}  # ipywidgets' default HTML width is too narrow
_AUTO = {"width": "auto"}


class _Clipboard(anywidget.AnyWidget):
    """Writes ``text`` to the browser's clipboard whenever it changes."""

    _esm = Path(__file__).parent / "clipboard.js"
    text = traitlets.Unicode("").tag(sync=True)


class FileBrowser(w.VBox):  # type: ignore[misc]
    """Browse, filter, sort, select, delete and send files to Google Drive.

    Example::

        >>> browser = alloy_nb.FileBrowser()       # doctest: +SKIP
        >>> browser.selected                       # the ticked rows, as a DataFrame
    """

    def __init__(self, client: Client | None = None, *, page_size: int = 25) -> None:
        self._client = client if client is not None else default_client()
        self.page_size = page_size
        self.page = 0
        self._files = pd.DataFrame()
        self._chosen: set[str] = set()
        self._boxes: dict[str, w.Checkbox] = {}

        self.filter = w.Text(placeholder="filter by name or s3Key", layout={"width": "260px"})
        self.sort_by = w.Dropdown(options=list(SORT_COLUMNS), value="filename",
                                  description="sort", layout={"width": "200px"})  # fmt: skip
        self.descending = w.ToggleButton(value=False, description="desc", layout={"width": "60px"})
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=_AUTO)
        self.select_page = w.Checkbox(description="select page", indent=False)
        self.table = w.VBox()
        self.prev_button = w.Button(description="◀", layout={"width": "40px"})
        self.next_button = w.Button(description="▶", layout={"width": "40px"})
        self.page_label = w.Label()
        self.delete_button = w.Button(
            description="Delete selected", button_style="danger", layout=_AUTO
        )
        self.confirm_button = w.Button(description="Yes, delete", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.HBox([w.Label(layout=_AUTO), self.confirm_button, self.cancel_button])
        self.confirm_box.layout.display = "none"
        self.credential = w.Dropdown(description="Drive", options=[], layout={"width": "320px"})
        self.send_button = w.Button(description="Send to Google Drive", icon="upload", layout=_AUTO)
        self.copy_button = w.Button(description="Copy s3Key", icon="copy", layout=_AUTO)
        self.keys_box = w.Textarea(layout={"width": "100%", "display": "none"}, disabled=True)
        self.status = w.HTML()
        self._clipboard = _Clipboard()

        self.filter.observe(lambda _: self._go(0), "value")
        self.sort_by.observe(lambda _: self._go(0), "value")
        self.descending.observe(lambda _: self._go(0), "value")
        self.select_page.observe(self._on_select_page, "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.prev_button.on_click(lambda _: self._go(self.page - 1))
        self.next_button.on_click(lambda _: self._go(self.page + 1))
        self.delete_button.on_click(lambda _: self._ask_delete())
        self.confirm_button.on_click(lambda _: self._safely(self.delete_selected))
        self.cancel_button.on_click(lambda _: self._hide_confirm())
        self.send_button.on_click(lambda _: self._safely(self.send_selected))
        self.copy_button.on_click(lambda _: self.copy_selected())

        super().__init__([
            w.HBox([self.filter, self.sort_by, self.descending, self.refresh_button]),
            self.select_page, self.table,
            w.HBox([self.prev_button, self.page_label, self.next_button]),
            w.HBox([self.delete_button, self.credential, self.send_button, self.copy_button]),
            self.confirm_box, self.keys_box, self.status, self._clipboard,
        ])  # fmt: skip
        self.add_class("alloy-file-browser")
        self.refresh()

    def __repr__(self) -> str:  # the text a saved notebook shows where widgets don't render
        return f"alloy_nb.FileBrowser({len(self._files)} file(s))"

    # ---- data ----

    @property
    def files(self) -> pd.DataFrame:
        """All of the caller's files, as last refreshed."""
        files: pd.DataFrame = self._files
        return files

    @property
    def visible(self) -> pd.DataFrame:
        """Files passing the filter, in the chosen order."""
        files: pd.DataFrame = self._files
        if files.empty:
            return files
        needle = self.filter.value.strip().lower()
        if needle:
            hit = files["filename"].str.lower().str.contains(needle, regex=False) | files[
                "s3_key"
            ].str.lower().str.contains(needle, regex=False)
            files = files[hit.fillna(False)]
        column = SORT_COLUMNS[self.sort_by.value]
        ordered: pd.DataFrame = files.sort_values(
            column, ascending=not self.descending.value, kind="stable"
        )
        return ordered

    @property
    def selected(self) -> pd.DataFrame:
        """The ticked files (on any page), as a DataFrame like ``Client.list_files``."""
        files: pd.DataFrame = self._files
        if files.empty:
            return files
        chosen: pd.DataFrame = files[files["s3_key"].isin(self._chosen)].reset_index(drop=True)
        return chosen

    def select(self, s3_keys: list[str] | pd.Series, value: bool = True) -> None:
        """Tick (or untick) rows by key, as a click on their checkboxes would."""
        for key in list(s3_keys):
            if value:
                self._chosen.add(str(key))
            else:
                self._chosen.discard(str(key))
            if key in self._boxes:
                self._boxes[key].value = value

    def refresh(self) -> None:
        """Load the listing and the Google Drive credentials again."""
        try:
            self._files = self._client.list_files()
            creds = self._client.list_credentials(google_drive.CONNECTOR_ID)
        except Exception as e:  # broad on purpose: shown in the panel
            self._error(f"Could not load the files: {plain_error(e)}")
            self._go(self.page)
            return
        self._chosen &= set(self._files["s3_key"])
        previous = self.credential.value
        options = [(f"{r.name} ({r.credential_id})", r.credential_id) for r in creds.itertuples()]
        self.credential.options = options
        ids = [value for _, value in options]
        self.credential.value = previous if previous in ids else (ids[0] if ids else None)
        self._info(f"{len(self._files)} file(s).")
        self._go(self.page)

    # ---- actions ----

    def _ask_delete(self) -> None:
        n = len(self._chosen)
        if not n:
            self._error("Select the files to delete first.")
            return
        self.confirm_box.children[0].value = f"Delete {n} file(s)? This cannot be undone."
        self.confirm_box.layout.display = "flex"

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"

    def delete_selected(self) -> pd.DataFrame:
        """Delete the ticked files (what the confirmation button does); one row per key."""
        self._hide_confirm()
        outcome = self._client.delete_files(sorted(self._chosen))
        failed = outcome[~outcome["deleted"]]
        self._chosen.clear()
        self.refresh()
        if len(failed):
            self._error(f"{len(failed)} file(s) could not be deleted: {failed['error'].iloc[0]}")
        else:
            self._info(f"Deleted {len(outcome)} file(s).")
        return outcome

    def send_selected(self) -> pd.DataFrame | None:
        """Send the ticked files to Google Drive with the chosen credential."""
        if not self._chosen:
            self._error("Select the files to send first.")
            return None
        if not self.credential.value:
            self._error(
                "No Google Drive credential: connect one in Alloy (or create one in the "
                "sandbox with client.create_credential('googleDrive')), then Refresh."
            )
            return None
        out = self._client.send_to_google_drive(self.selected, self.credential.value)
        failed = out[out["error"].notna()]
        if len(failed):
            self._error(f"{len(failed)} of {len(out)} file(s) failed: {failed['error'].iloc[0]}")
        else:
            self._info(f"Sent {len(out)} file(s) to Google Drive.")
        return out

    def copy_selected(self) -> str:
        """Put the ticked s3Keys on the clipboard (and show them, to copy by hand)."""
        text = "\n".join(sorted(self._chosen))
        if not text:
            self._error("Select the files whose s3Key you want first.")
            return ""
        self.keys_box.value = text
        self.keys_box.layout.display = "flex"
        self._clipboard.text = text
        self._info(f"Copied {len(self._chosen)} s3Key(s).")
        return text

    # ---- drawing ----

    def _go(self, page: int) -> None:
        rows = self.visible
        pages = max(1, -(-len(rows) // self.page_size))
        self.page = min(max(page, 0), pages - 1)
        start = self.page * self.page_size
        shown = rows.iloc[start : start + self.page_size]
        self._boxes = {}
        header = w.HTML(
            self._cells("", "filename", "size", "last modified", "s3Key", bold=True),
            layout=_WIDE,
        )
        lines: list[w.Widget] = [header]
        for row in shown.itertuples():
            box = w.Checkbox(value=row.s3_key in self._chosen, indent=False,
                             layout={"width": "28px"})  # fmt: skip
            box.observe(lambda ch, key=row.s3_key: self.select([key], ch["new"]), "value")
            self._boxes[row.s3_key] = box
            stamp = (
                row.last_modified.strftime("%Y-%m-%d %H:%M") if pd.notna(row.last_modified) else ""
            )
            cells = w.HTML(
                self._cells(None, row.filename, human_size(row.size), stamp, row.s3_key),
                layout=_WIDE,
            )
            lines.append(w.HBox([box, cells], layout={"align_items": "center"}))
        if shown.empty:
            lines.append(w.HTML("<i>No files.</i>" if self._files.empty else "<i>No match.</i>"))
        self.table.children = lines
        self.page_label.value = f"page {self.page + 1} of {pages} · {len(rows)} shown"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1

    @staticmethod
    def _cells(first: str | None, *values: Any, bold: bool = False) -> str:
        widths = ("220px", "80px", "130px", "320px")
        tag = "b" if bold else "span"
        lead = (
            f'<span style="display:inline-block;width:28px">{first}</span>'
            if first is not None
            else ""
        )
        parts = [
            f'<{tag} style="display:inline-block;width:{wd};{_CELL}">{html.escape(str(v))}</{tag}>'
            for v, wd in zip(values, widths, strict=True)
        ]
        return lead + "".join(parts)

    def _safely(self, action: Any) -> None:
        """Run a button's action; an error shows in the panel in plain words."""
        try:
            action()
        except Exception as e:  # broad on purpose: shown in the panel
            self._error(plain_error(e))

    def _on_select_page(self, change: dict[str, Any]) -> None:
        self.select(list(self._boxes), bool(change["new"]))

    def _info(self, text: str) -> None:
        self.status.value = f'<span style="color:#067647">{html.escape(text)}</span>'

    def _error(self, text: str) -> None:
        self.status.value = f'<span style="color:#b42318">{html.escape(text)}</span>'
