"""The Google Drive credential picker: names to choose from, or how to get a credential."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import ipywidgets as w
import pandas as pd

from alloy_nb.widgets._plain import LOCAL_HOSTS

NONE_YET = "No Google Drive credential yet: connect Google Drive in Alloy, then press Refresh."
NONE_YET_SANDBOX = "No Google Drive credential yet in this sandbox:"


def is_sandbox(base_url: str) -> bool:
    """A loopback API is a local sandbox, where a credential can be made with one click."""
    return (urlsplit(base_url).hostname or "") in LOCAL_HOSTS


class DrivePicker(w.HBox):  # type: ignore[misc]
    """A dropdown of credential names; when there is none, a hint (and, in the sandbox, a
    button that creates one)."""

    def __init__(self, *, sandbox: bool) -> None:
        self.sandbox = sandbox
        self.dropdown = w.Dropdown(description="Drive", options=[], layout={"width": "260px"})
        self.dropdown.style.description_width = "40px"
        self.hint = w.HTML(layout={"width": "auto"})
        self.create_button = w.Button(
            description="Create a sandbox credential", icon="plus", layout={"width": "auto"}
        )
        super().__init__(
            [self.dropdown, self.hint, self.create_button], layout={"align_items": "center"}
        )
        self.load(pd.DataFrame(columns=["credential_id", "name"]))

    @property
    def value(self) -> str | None:
        value: str | None = self.dropdown.value
        return value

    def load(self, credentials: pd.DataFrame, *, choose: str | None = None) -> None:
        """Offer ``credentials``; keep the current choice if it is still there."""
        previous = choose or self.dropdown.value
        names = credentials["name"].fillna("").astype(str).tolist()
        ids = credentials["credential_id"].astype(str).tolist()
        options = []
        for name, cred in zip(names, ids, strict=True):
            label = name or "unnamed"
            if names.count(name) > 1 or not name:  # tell same-named credentials apart
                label = f"{label} (…{cred[-6:]})"
            options.append((label, cred))
        self.dropdown.options = options
        self.dropdown.value = previous if previous in ids else (ids[0] if ids else None)
        has_any = bool(options)
        self.dropdown.layout.display = None if has_any else "none"
        hint = NONE_YET_SANDBOX if self.sandbox else NONE_YET
        self.hint.value = "" if has_any else f'<span class="alloy-hint">{html.escape(hint)}</span>'

        self.hint.layout.display = "none" if has_any else None
        self.create_button.layout.display = None if self.sandbox and not has_any else "none"
