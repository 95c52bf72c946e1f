"""Every python and curl block of README.md, CONTRIBUTING.md and docs/*.md runs, in order.

Python blocks of one file share a namespace and run in an empty temporary directory with no
``ALLOY_*`` client variable set, so ``alloy_nb.connect()`` gives a local sandbox (isolated by
the suite's sandbox home). Blocks written as a ``>>>`` session are checked like doctests:
outputs are compared after the same sanitising the notebooks use (ports, ids, timestamps).
Shell blocks that call ``curl`` run in bash against a sandbox started for the file, with
``ALLOY_BASE_URL`` and ``ALLOY_API_KEY`` exported, as the README tells a reader to do.
An HTML comment ``<!-- docs: standalone -->`` right before a python block runs it with those
two variables set too (the "use the standalone sandbox from Python" examples).
"""

from __future__ import annotations

import configparser
import doctest
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import alloy_nb.sandbox

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted(
    p
    for p in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")]
    if p.exists()
)
FENCE = re.compile(r"^```([\w-]*)\s*$")
DIRECTIVE = re.compile(r"<!--\s*docs:\s*([\w-]+)\s*-->")
SHELL = {"bash", "sh", "shell", "console"}
# The suite's own sandbox home and hash cache (tests/guard.py), kept so the docs never reach
# the user's.
KEEP = {"ALLOY_NB_SANDBOX_HOME", "ALLOY_NB_SANDBOX_IDLE_TIMEOUT", "ALLOY_NB_CACHE_DIR"}


@dataclass
class Block:
    lang: str
    code: str
    line: int
    directive: str | None


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    directive: str | None = None
    while i < len(lines):
        m = DIRECTIVE.search(lines[i])
        if m:
            directive = m.group(1)
        fence = FENCE.match(lines[i])
        if fence:
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
            found.append(Block(fence.group(1), "\n".join(lines[start:i]) + "\n", start, directive))
            directive = None
        elif lines[i].strip() and not m:
            directive = None
        i += 1
    return found


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "notebooks" / "nbval-sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


class SanitizingChecker(doctest.OutputChecker):
    subs = _sanitizers()

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        for pattern, replace in self.subs:
            want, got = pattern.sub(replace, want), pattern.sub(replace, got)
        return super().check_output(want, got, optionflags)


def run_python(block: Block, path: Path, namespace: dict[str, object]) -> None:
    where = f"{path.name}:{block.line}"
    if block.code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(
            block.code, namespace, where, str(path), block.line
        )
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        runner = doctest.DocTestRunner(checker=SanitizingChecker(), optionflags=flags)
        out: list[str] = []
        runner.run(test, out=out.append, clear_globs=False)
        assert runner.failures == 0, f"{where}:\n" + "".join(out)
    else:
        exec(compile(block.code, where, "exec"), namespace)  # noqa: S102 - the docs' own code


@pytest.fixture
def doc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An empty working directory, no ALLOY_* client variable, and a standalone sandbox."""
    for name in list(os.environ):
        if name.startswith("ALLOY_") and name not in KEEP:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    with alloy_nb.sandbox.start() as sb:
        yield {"ALLOY_BASE_URL": sb.base_url, "ALLOY_API_KEY": sb.api_key}


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_block_runs(path: Path, doc_env: dict[str, str]) -> None:
    """Every python and curl block of the file runs as written, in order."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in blocks(path):
        if block.lang == "python":
            saved = {k: os.environ.get(k) for k in doc_env}
            if block.directive == "standalone":
                os.environ.update(doc_env)
            try:
                run_python(block, path, namespace)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            ran += 1
        elif block.lang in SHELL and re.search(r"^\s*curl\b", block.code, re.M):
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.code],
                env={**os.environ, **doc_env},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, f"{path.name}:{block.line}\n{done.stdout}\n{done.stderr}"
            ran += 1
    if path.name == "README.md":
        assert ran >= 5, "the README lost its runnable examples"


def test_block_parser_sees_fences_and_directives(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n<!-- docs: standalone -->\n```python\nx = 1\n```\n\n```text\nno\n```\n"
        "```bash\ncurl -s x\n```\n"
    )
    got = [(b.lang, b.code, b.directive) for b in blocks(doc)]
    assert got == [
        ("python", "x = 1\n", "standalone"),
        ("text", "no\n", None),
        ("bash", "curl -s x\n", None),
    ]
