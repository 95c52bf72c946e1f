"""The one status line of a panel: busy (with progress), an outcome, an error, or a question.

Each call replaces what the line said before, so an old message never sits beside a new
prompt. Errors are shown in plain words; technical detail, when there is any, is folded away.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import ipywidgets as w

from alloy_nb.widgets._plain import explain

_ICONS = {
    "busy": "fa-spinner fa-spin",
    "info": "fa-check",
    "error": "fa-exclamation-triangle",
    "ask": "fa-question-circle",
}


class StatusLine(w.VBox):  # type: ignore[misc]
    """``busy()``, ``step()``, ``info()``, ``error()``, ``ask()``; ``text`` is what it says now."""

    def __init__(self) -> None:
        self.kind = ""
        self.text = ""
        self.detail: str | None = None
        self.message = w.HTML(layout={"width": "auto", "flex": "1 1 auto"})
        self.progress = w.IntProgress(min=0, max=1, layout={"width": "140px", "display": "none"})
        self.yes_button = w.Button(button_style="danger", layout={"width": "auto"})
        self.no_button = w.Button(description="Cancel", layout={"width": "auto"})
        self.extra = w.Textarea(layout={"width": "100%", "display": "none"}, rows=3)
        self._answers: tuple[Callable[[], None], Callable[[], None]] | None = None
        self.yes_button.on_click(lambda _: self._answer(0))
        self.no_button.on_click(lambda _: self._answer(1))
        line = w.HBox(
            [self.progress, self.message, self.yes_button, self.no_button],
            layout={"align_items": "center"},
        )
        super().__init__([line, self.extra])
        self.add_class("alloy-status-line")
        self.clear()

    def clear(self) -> None:
        self._show("", "")

    def busy(self, text: str, total: int | None = None) -> None:
        """Work in progress; with ``total``, a bar that :meth:`step` advances."""
        self._show("busy", text)
        if total:
            self.progress.max, self.progress.value = total, 0
            self.progress.layout.display = None

    @contextmanager
    def working(
        self,
        text: str,
        controls: Sequence[w.DOMWidget],
        *,
        total: int | None = None,
        spinner: w.Button | None = None,
    ) -> Iterator[None]:
        """While the block runs: ``controls`` disabled, ``spinner`` spinning, ``text`` shown."""
        icon = spinner.icon if spinner is not None else ""
        for control in controls:
            control.disabled = True
        if spinner is not None:
            spinner.icon = "spinner spin"
        self.busy(text, total)
        try:
            yield
        finally:
            for control in controls:
                control.disabled = False
            if spinner is not None:
                spinner.icon = icon

    def step(self, done: int, text: str) -> None:
        self.progress.value = done
        self._say("busy", text)

    def info(self, text: str) -> None:
        self._show("info", text)

    def error(self, error: BaseException | str, *, prefix: str = "") -> None:
        """An error in plain words (``prefix`` says what was being done)."""
        plain = explain(error)
        self._show("error", f"{prefix} {plain.text}".strip(), detail=plain.detail)

    def ask(
        self, text: str, yes: str, on_yes: Callable[[], None], on_no: Callable[[], None]
    ) -> None:
        """A question with two buttons; the answer replaces the question."""
        self._show("ask", text)
        self._answers = (on_yes, on_no)
        self.yes_button.description = yes
        self.yes_button.layout.display = self.no_button.layout.display = None

    def show_text(self, text: str) -> None:
        """Text to copy by hand (e.g. s3Keys), under the line until the next message."""
        self.extra.value = text
        self.extra.rows = min(8, max(1, text.count("\n") + 1))
        self.extra.layout.display = None

    def _answer(self, which: int) -> None:
        answers, self._answers = self._answers, None
        if answers is not None:
            answers[which]()

    def _show(self, kind: str, text: str, *, detail: str | None = None) -> None:
        self._answers = None
        self.progress.layout.display = "none"
        self.yes_button.layout.display = self.no_button.layout.display = "none"
        self.extra.layout.display = "none"
        self._say(kind, text, detail)

    def _say(self, kind: str, text: str, detail: str | None = None) -> None:
        self.kind, self.text, self.detail = kind, text, detail
        if not text:
            self.message.value = ""
            return
        icon = f'<i class="fa {_ICONS[kind]}" aria-hidden="true"></i> ' if kind in _ICONS else ""
        more = (
            '<details class="alloy-status-detail"><summary>details</summary>'
            f"<pre>{html.escape(detail)}</pre></details>"
            if detail
            else ""
        )
        role = "alert" if kind == "error" else "status"
        self.message.value = (
            f'<div class="alloy-status" data-kind="{kind}" role="{role}">'
            f"{icon}<span>{html.escape(text)}</span>{more}</div>"
        )
