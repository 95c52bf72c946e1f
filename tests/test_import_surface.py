"""`import alloy_nb` stays light: no FastAPI, boto3 or sandbox."""

from __future__ import annotations

import subprocess
import sys
import types

import alloy_nb


def test_import_does_not_pull_the_sandbox_or_its_dependencies() -> None:
    code = (
        "import sys, alloy_nb; "
        "heavy = ('fastapi', 'starlette', 'boto3', 'botocore', 'uvicorn', 'anywidget', "
        "'ipywidgets'); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy "
        "or m.startswith('alloy_nb.sandbox')); "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_exactly_the_exported_ones() -> None:
    public = {
        n
        for n in dir(alloy_nb)
        if not n.startswith("_") and not isinstance(getattr(alloy_nb, n), types.ModuleType)
    }
    assert set(alloy_nb.__all__) - {"__version__"} == public
    assert alloy_nb.md5_file.__module__ == "alloy_nb"
