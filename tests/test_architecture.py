"""The shape of the package: imports run one way, modules stay small, public names type-check."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import alloy_nb

PACKAGE = Path(alloy_nb.__file__).parent
TESTS = Path(__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """alloy_nb modules that ``name`` imports anywhere: at the top, inside functions and
    under ``TYPE_CHECKING`` alike. ``from a import b`` names ``a.b`` when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def graph() -> dict[str, set[str]]:
    return {name: imported(name, path) for name, path in MODULES.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    """A cycle through three modules is reported as its path; a tree has none."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_alloy_nb_modules() -> None:
    """No cycle, counting imports under TYPE_CHECKING and inside functions."""
    edges = graph()
    assert "alloy_nb._sources" in edges["alloy_nb._client"], "TYPE_CHECKING imports count"
    assert "alloy_nb.widgets" in edges["alloy_nb"], "so do the lazy panels' mirrors"
    assert edges["alloy_nb.sandbox._server"], "the sandbox's arrows are followed too"
    assert find_cycle(edges) is None


@pytest.mark.parametrize("helper", ["alloy_nb._uploads", "alloy_nb._files", "alloy_nb._session"])
def test_helpers_never_import_the_client(helper: str) -> None:
    """Arrows run client -> helpers: no helper reaches alloy_nb._client, even indirectly."""
    edges = graph()
    seen: set[str] = set()
    todo = [helper]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert "alloy_nb._client" not in seen
    assert "alloy_nb" not in seen


# The tests' own helper modules (the harnesses, fixtures and shared helpers) too.
HELPERS = {
    f"tests/{p.name}": p for p in sorted(TESTS.glob("*.py")) if not p.name.startswith("test_")
}


@pytest.mark.parametrize("name", sorted(MODULES) + sorted(HELPERS))
def test_every_module_is_under_300_lines(name: str) -> None:
    """One concern per module, under 300 lines."""
    lines = {**MODULES, **HELPERS}[name].read_text(encoding="utf-8").count("\n")
    assert lines < 300, f"{name} has {lines} lines: split it by concern"


TYPED_USE = """\
import alloy_nb
from alloy_nb.connectors import ActionRequest, google_drive


def panel(client: alloy_nb.Client) -> alloy_nb.UploadPanel:
    return alloy_nb.UploadPanel(client)


def browser(client: alloy_nb.Client) -> alloy_nb.FileBrowser:
    return alloy_nb.FileBrowser(client)


def send(client: alloy_nb.Client, s3_key: str, cred: str) -> object:
    request: ActionRequest = google_drive.upload_file(s3_key)
    return client.execute_action(request, credential_id=cred)
"""


def test_public_names_type_check_under_mypy_strict(tmp_path: Path) -> None:
    """mypy --strict accepts the lazy panels and a builder's request passed to execute_action."""
    snippet = tmp_path / "uses_alloy_nb.py"
    snippet.write_text(TYPED_USE, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(snippet)],
        cwd=PACKAGE.parent,  # the project's mypy config and cache
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
