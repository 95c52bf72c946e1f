"""FileBrowser's table: one page of rows, the selection, and the pager.

Rows are a fixed pool of widgets, filled in place on every redraw, so the number of live
widgets does not grow however often the list is filtered, sorted or paged.

The selection rule, as the panel shows it: ticks stay when you filter, sort or change page;
the count says how many of the selected files are on other pages or hidden by the filter,
and every action works on all of them.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd

from alloy_nb.widgets._common import human_size

RULE = (
    "Ticks stay when you filter, sort or change page; Delete, Send and Copy act on every "
    "selected file."
)
_HEADER = ("filename", "size", "last modified", "s3Key")
_CLASSES = ("alloy-fb-name", "alloy-fb-size", "alloy-fb-date", "alloy-fb-key")
_FLEX = {"width": "auto", "flex": "1 1 0%", "min_width": "0"}  # the same width on every row


def _fixed(width: str) -> dict[str, str]:
    return {"width": width, "flex": "0 0 auto"}


def cells_html(values: tuple[str, str, str, str], *, header: bool = False) -> str:
    """The four cells of a row; long names and keys are cut with "…", the full text in a
    tooltip."""
    spans = "".join(
        f'<span class="{cls}" title="{html.escape(v)}">{html.escape(v)}</span>'
        for v, cls in zip(values, _CLASSES, strict=True)
    )
    return f'<div class="alloy-fb-cells{" alloy-fb-header" if header else ""}">{spans}</div>'


class _Row:
    """One reusable line: checkbox, cells, copy-s3Key button."""

    def __init__(self, table: FileTable) -> None:
        self.key = ""
        self.box = w.Checkbox(indent=False, layout=_fixed("28px"))
        self.cells = w.HTML(layout=_FLEX)
        self.copy = w.Button(icon="copy", tooltip="Copy this file's s3Key", layout=_fixed("34px"))
        self.line = w.HBox([self.box, self.cells, self.copy], layout={"align_items": "center"})
        self.line.add_class("alloy-fb-row")
        self.box.observe(lambda ch: table.tick(self.key, bool(ch["new"])), "value")
        self.copy.on_click(lambda _: table.on_copy(self.key))


class FileTable(w.VBox):  # type: ignore[misc]
    """A page of ``rows`` (set by :meth:`draw`) with selection and paging controls."""

    def __init__(
        self, page_size: int, on_change: Callable[[], None], on_copy: Callable[[str], None]
    ) -> None:
        self.page_size = page_size
        self.page = 0
        self.chosen: set[str] = set()
        self.on_change, self.on_copy = on_change, on_copy
        self._rows = pd.DataFrame(columns=["s3_key"])
        self._pool: list[_Row] = []
        self._drawing = False
        self.select_page = w.Checkbox(
            description="select page", indent=False, layout={"width": "auto"}
        )
        self.count = w.HTML(layout={"width": "auto"})
        self.clear_button = w.Button(
            description="clear selection", icon="times", layout={"width": "auto"}
        )
        self.header = w.HTML(cells_html(_HEADER, header=True), layout=_FLEX)
        self.empty = w.HTML()
        self.rows_box = w.VBox()
        self.prev_button = w.Button(
            icon="chevron-left", tooltip="previous page", layout={"width": "34px"}
        )
        self.next_button = w.Button(
            icon="chevron-right", tooltip="next page", layout={"width": "34px"}
        )
        self.page_label = w.Label()
        self.select_page.observe(self._on_select_page, "value")
        self.clear_button.on_click(lambda _: self.select(list(self.chosen), False))
        self.prev_button.on_click(lambda _: self.go(self.page - 1))
        self.next_button.on_click(lambda _: self.go(self.page + 1))
        head = w.HBox([w.HTML(layout=_fixed("28px")), self.header, w.HTML(layout=_fixed("34px"))])
        head.add_class("alloy-fb-row")
        centred = {"align_items": "center"}
        super().__init__(
            [
                w.HBox([self.select_page, self.count, self.clear_button], layout=centred),
                head,
                self.rows_box,
                w.HBox([self.prev_button, self.page_label, self.next_button], layout=centred),
            ]
        )
        self.add_class("alloy-fb-table")
        self.count.add_class("alloy-fb-count")

    # ---- selection ----

    def tick(self, key: str, value: bool) -> None:
        if not self._drawing and key:
            self.select([key], value)

    def select(self, keys: list[str], value: bool) -> None:
        """Tick or untick ``keys`` (on any page); the count and checkboxes follow."""
        for key in keys:
            if value:
                self.chosen.add(str(key))
            else:
                self.chosen.discard(str(key))
        self._sync()
        self.on_change()

    def page_keys(self) -> list[str]:
        start = self.page * self.page_size
        keys: list[str] = self._rows["s3_key"].iloc[start : start + self.page_size].tolist()
        return keys

    def count_text(self) -> str:
        n = len(self.chosen)
        if not n:
            return "No files selected"
        visible = set(self._rows["s3_key"])
        hidden = len(self.chosen - visible)
        elsewhere = len((self.chosen & visible) - set(self.page_keys()))
        notes = [f"{elsewhere} on other pages"] if elsewhere else []
        notes += [f"{hidden} hidden by the filter"] if hidden else []
        return f"{n} selected" + (f" ({', '.join(notes)})" if notes else "")

    def _on_select_page(self, change: dict[str, Any]) -> None:
        if not self._drawing:
            self.select(self.page_keys(), bool(change["new"]))

    # ---- drawing ----

    def draw(self, rows: pd.DataFrame, *, empty: str) -> None:
        """Show ``rows`` (already filtered and sorted), keeping the page where possible."""
        self._rows = rows
        self.empty.value = f'<div class="alloy-fb-empty">{html.escape(empty)}</div>'
        self.go(self.page)

    def go(self, page: int) -> None:
        pages = max(1, -(-len(self._rows) // self.page_size))
        self.page = min(max(page, 0), pages - 1)
        start = self.page * self.page_size
        shown = self._rows.iloc[start : start + self.page_size]
        while len(self._pool) < len(shown):
            self._pool.append(_Row(self))
        self._drawing = True
        try:
            for row, line in zip(shown.itertuples(), self._pool, strict=False):
                line.key = row.s3_key
                line.box.value = row.s3_key in self.chosen
                stamp = row.last_modified
                when = stamp.strftime("%Y-%m-%d %H:%M") if pd.notna(stamp) else ""
                line.cells.value = cells_html(
                    (str(row.filename), human_size(row.size), when, str(row.s3_key))
                )
        finally:
            self._drawing = False
        lines = [line.line for line in self._pool[: len(shown)]]
        self.rows_box.children = lines or [self.empty]
        n = len(self._rows)
        self.page_label.value = f"page {self.page + 1} of {pages} · {n} file{'s' * (n != 1)}"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        self._sync()

    def _sync(self) -> None:
        """Checkboxes, "select page" and the count, from ``chosen``."""
        page = self.page_keys()
        self._drawing = True
        try:
            for line in self._pool[: len(page)]:
                line.box.value = line.key in self.chosen
            self.select_page.value = bool(page) and all(k in self.chosen for k in page)
        finally:
            self._drawing = False
        self.select_page.disabled = not page
        self.count.value = f'<span title="{html.escape(RULE)}">{self.count_text()}</span>'
        self.clear_button.disabled = not self.chosen
