"""FileBrowser: the caller's files as a filterable, sortable, paged table with actions."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from typing import Any

import ipywidgets as w
import pandas as pd

from alloy_nb._client import Client
from alloy_nb._frames import deletes_frame
from alloy_nb.connectors import google_drive
from alloy_nb.widgets._clipboard import Clipboard
from alloy_nb.widgets._common import default_client, n_files, plain_error
from alloy_nb.widgets._drive_picker import NONE_YET, DrivePicker, is_sandbox
from alloy_nb.widgets._file_table import FileTable
from alloy_nb.widgets._status_line import StatusLine

# label in the sort dropdown -> list_files() column
SORT_COLUMNS = {"filename": "filename", "size": "size", "last modified": "last_modified"}
SORT_COLUMNS["s3Key"] = "s3_key"
SANDBOX_CREDENTIAL_NAME = "Sandbox Drive"
_AUTO = {"width": "auto"}


class FileBrowser(w.VBox):  # type: ignore[misc]
    """Browse, filter, sort, select, delete and send files to Google Drive.

    Ticks stay when you filter, sort or change page; the count above the table says how
    many selected files are out of sight, and every action works on all of them.

    Example, against a sandbox of its own (in a notebook, end the cell with ``browser``):

    >>> import alloy_nb, alloy_nb.sandbox
    >>> with (
    ...     alloy_nb.sandbox.start() as sb,
    ...     alloy_nb.Client(sb.api_key, base_url=sb.base_url) as client,
    ... ):
    ...     _ = client.upload(b"a,b\\n1,2\\n", filename="report.csv", progress=False)
    ...     browser = FileBrowser(client)
    ...     print(len(browser.selected), "selected of", len(client.list_files()))
    ...     browser.close()
    0 selected of 1
    """

    def __init__(self, client: Client | None = None, *, page_size: int = 25) -> None:
        self._client = client if client is not None else default_client()
        self._files = pd.DataFrame(columns=list(SORT_COLUMNS.values()))
        self._loaded = False

        self.filter = w.Text(placeholder="filter by name or s3Key", layout={"width": "240px"})
        wide = {"width": "190px"}
        self.sort_by = w.Dropdown(options=list(SORT_COLUMNS), description="sort", layout=wide)
        self.sort_by.style.description_width = "32px"
        self.descending = w.ToggleButton(description="desc", icon="sort-amount-desc", layout=_AUTO)
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=_AUTO)
        self.table = FileTable(page_size, self._selection_changed, self.copy_key)
        self.delete_button = w.Button(
            description="Delete selected", icon="trash", button_style="danger", layout=_AUTO
        )
        self.drive = DrivePicker(sandbox=is_sandbox(self._client.base_url))
        self.send_button = w.Button(description="Send to Google Drive", icon="upload", layout=_AUTO)
        self.copy_button = w.Button(description="Copy s3Keys", icon="copy", layout=_AUTO)
        self.status = StatusLine()
        self._clipboard = Clipboard()

        self.filter.observe(lambda _: self._draw(page=0), "value")
        self.sort_by.observe(lambda _: self._draw(page=0), "value")
        self.descending.observe(lambda _: self._draw(page=0), "value")
        self.refresh_button.on_click(lambda _: self._run(self.refresh))
        self.delete_button.on_click(lambda _: self._run(self._ask_delete))
        self.send_button.on_click(lambda _: self._run(self.send_selected))
        self.copy_button.on_click(lambda _: self._run(self.copy_selected))
        self.drive.create_button.on_click(lambda _: self._run(self.create_drive_credential))

        toolbar = w.HBox([self.filter, self.sort_by, self.descending, self.refresh_button])
        self.actions = w.HBox([self.delete_button, self.drive, self.send_button, self.copy_button])
        for box in (toolbar, self.actions):
            box.add_class("alloy-fb-bar")
        super().__init__([toolbar, self.table, self.actions, self.status, self._clipboard])
        self.add_class("alloy-file-browser")
        self.refresh()

    def __repr__(self) -> str:  # the text a saved notebook shows where widgets don't render
        return f"alloy_nb.FileBrowser({n_files(len(self._files))})"

    # ---- data ----

    @property
    def page_size(self) -> int:
        return self.table.page_size

    @property
    def page(self) -> int:
        return self.table.page

    @property
    def files(self) -> pd.DataFrame:
        """All of the caller's files, as last refreshed."""
        files: pd.DataFrame = self._files
        return files

    @property
    def visible(self) -> pd.DataFrame:
        """Files passing the filter, in the chosen order."""
        files: pd.DataFrame = self._files
        needle = self.filter.value.strip().lower()
        if needle and not files.empty:
            hit = files["filename"].str.lower().str.contains(needle, regex=False)
            hit |= files["s3_key"].str.lower().str.contains(needle, regex=False)
            files = files[hit.fillna(False)]
        column = SORT_COLUMNS[self.sort_by.value]
        ordered: pd.DataFrame = files.sort_values(
            column, ascending=not self.descending.value, kind="stable"
        )
        return ordered

    @property
    def selected(self) -> pd.DataFrame:
        """The ticked files (on any page, shown or not), as a DataFrame like ``list_files``."""
        files: pd.DataFrame = self._files
        chosen: pd.DataFrame = files[files["s3_key"].isin(self.table.chosen)].reset_index(drop=True)
        return chosen

    def select(self, s3_keys: list[str] | pd.Series, value: bool = True) -> None:
        """Tick (or untick) rows by key, as clicks on their checkboxes would."""
        self.table.select([str(k) for k in s3_keys], value)

    # ---- actions ----

    def refresh(self) -> None:
        """Load the listing and the Google Drive credentials again."""
        with self._busy("Loading your files…", spinner=self.refresh_button):
            error, dropped = self._load()
        if error is not None:
            self.status.error(error)
        else:
            gone = f" {n_files(dropped)} you had selected are gone." if dropped else ""
            self.status.info(f"Loaded {n_files(len(self._files))}.{gone}")

    def delete_selected(self) -> pd.DataFrame:
        """Delete the ticked files (what "Yes, delete" does); one row per key."""
        keys = sorted(self.table.chosen)
        if not keys:
            self.status.error("Select the files to delete first.")
            nothing: pd.DataFrame = deletes_frame([])
            return nothing
        rows, n = [], len(keys)
        with self._busy(f"Deleting {n_files(n)}…", total=n):
            with ThreadPoolExecutor(max_workers=4) as pool:
                futures = {pool.submit(self._client.delete_file, key): key for key in keys}
                for done, future in enumerate(as_completed(futures), 1):
                    error = future.exception()
                    why = None if error is None else plain_error(error)
                    rows.append({"s3_key": futures[future], "deleted": not why, "error": why})
                    self.status.step(done, f"Deleting… {done} of {n}")
            outcome = deletes_frame(sorted(rows, key=lambda r: str(r["s3_key"])))
            self.table.chosen -= set(outcome.loc[outcome["deleted"], "s3_key"])
            load_error, _ = self._load()
        failed = outcome[~outcome["deleted"]]
        if len(failed):
            first = str(failed["error"].iloc[0])
            more = f" ({len(failed) - 1} more could not be deleted.)" if len(failed) > 1 else ""
            self.status.error(f"Deleted {n - len(failed)} of {n_files(n)}. {first}{more}")
        elif load_error is not None:
            self.status.error(load_error, prefix=f"Deleted {n_files(n)}.")
        else:
            self.status.info(f"Deleted {n_files(n)}.")
        return outcome

    def send_selected(self) -> pd.DataFrame | None:
        """Send the ticked files to Google Drive with the chosen credential."""
        files = self.selected
        if files.empty:
            self.status.error("Select the files to send first.")
            return None
        credential = self.drive.value
        if not credential:
            self.status.error(
                "No Google Drive credential yet: press “Create a sandbox credential” first."
                if self.drive.sandbox
                else NONE_YET
            )
            return None
        n, parts = len(files), []
        with self._busy(f"Sending {n_files(n)} to Google Drive…", total=n):
            for i in range(n):
                parts.append(self._client.send_to_google_drive(files.iloc[[i]], credential))
                self.status.step(i + 1, f"Sending to Google Drive… {i + 1} of {n}")
        out = pd.concat(parts, ignore_index=True)
        failed = out[out["error"].notna()]
        if len(failed):
            sent = f"Sent {n - len(failed)} of {n_files(n)} to Google Drive."
            self.status.error(str(failed["error"].iloc[0]), prefix=sent)
        else:
            self.status.info(f"Sent {n_files(n)} to Google Drive ({self.drive.dropdown.label}).")
        return out

    def create_drive_credential(self) -> str:
        """In the sandbox: make a Google Drive credential and choose it."""
        with self._busy("Creating a Google Drive credential…"):
            made = self._client.create_credential(
                google_drive.CONNECTOR_ID, name=SANDBOX_CREDENTIAL_NAME
            )
            credential = str(made.get("credentialId", ""))
            self.drive.load(
                self._client.list_credentials(google_drive.CONNECTOR_ID), choose=credential
            )
        self.status.info(f"Created the Google Drive credential “{SANDBOX_CREDENTIAL_NAME}”.")
        return credential

    def copy_selected(self) -> str:
        """Put the ticked s3Keys on the clipboard (and show them, to copy by hand)."""
        text = "\n".join(sorted(self.table.chosen))
        if not text:
            self.status.error("Select the files whose s3Keys you want first.")
            return ""
        self._clipboard.copy(text)
        self.status.info(f"Copied {len(self.table.chosen)} s3Key(s) to the clipboard.")
        self.status.show_text(text)
        return text

    def copy_key(self, s3_key: str) -> None:
        """Copy one row's s3Key (the row's copy button)."""
        self._clipboard.copy(s3_key)
        self.status.info(f"Copied the s3Key of {google_drive.display_name(s3_key)}.")
        self.status.show_text(s3_key)

    def _ask_delete(self) -> None:
        n = len(self.table.chosen)
        if not n:
            self.status.error("Select the files to delete first.")
            return
        out_of_sight = self.table.count_text().partition(" (")[2].rstrip(")")
        note = f" ({out_of_sight})" if out_of_sight else ""
        self.status.ask(
            f"Delete {n_files(n)}{note}? This cannot be undone.",
            "Yes, delete",
            on_yes=lambda: self._run(self.delete_selected),
            on_no=lambda: self.status.info("Nothing was deleted."),
        )

    # ---- plumbing ----

    def _load(self) -> tuple[BaseException | None, int]:
        """List files and credentials; ``(error, selected keys that vanished)``."""
        try:
            files = self._client.list_files()
        except Exception as e:  # broad on purpose: shown in the panel in plain words
            self._loaded = False
            self._draw()
            return e, 0
        self._files, self._loaded = files, True
        before = len(self.table.chosen)
        self.table.chosen &= set(files["s3_key"])
        self._draw()
        try:
            self.drive.load(self._client.list_credentials(google_drive.CONNECTOR_ID))
        except Exception as e:  # broad on purpose: the files are shown, the error too
            return e, before - len(self.table.chosen)
        return None, before - len(self.table.chosen)

    def _draw(self, page: int | None = None) -> None:
        self.table.layout.display = self.actions.layout.display = None if self._loaded else "none"
        if page is not None:
            self.table.page = page
        empty = (
            "No files yet: upload some with UploadPanel or client.upload()."
            if self._files.empty
            else "No file matches the filter."
        )
        self.table.draw(self.visible, empty=empty)

    def _selection_changed(self) -> None:
        if self.status.kind == "ask":  # the question's count would be stale
            self._ask_delete() if self.table.chosen else self.status.clear()

    def _busy(
        self, text: str, *, total: int | None = None, spinner: w.Button | None = None
    ) -> AbstractContextManager[None]:
        buttons = [
            self.refresh_button,
            self.delete_button,
            self.send_button,
            self.copy_button,
            self.drive.create_button,
            self.drive.dropdown,
        ]
        return self.status.working(text, buttons, total=total, spinner=spinner)

    def _run(self, action: Callable[[], Any]) -> None:
        """Run a button's action; an error shows in the status line in plain words."""
        try:
            action()
        except Exception as e:  # broad on purpose: shown in the panel
            self.status.error(e)
