"""Binder: a fresh virtual environment built from binder/ alone runs every notebook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alloy_nb.sandbox._shared import stop_shared_sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(2700)  # a whole environment is installed; each step has its own bound
def test_binder_instructions_alone_give_a_working_environment(tmp_path: Path) -> None:
    """As repo2docker does: requirements.txt, then postBuild from the repo root."""
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALLOY_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    home = tmp_path / "home"  # the notebooks' shared sandbox lives here, not in the user's
    env["ALLOY_NB_SANDBOX_HOME"] = str(home)
    try:
        _build_and_run(tmp_path, venv, bin_dir, env)
    finally:
        stop_shared_sandbox(home)


def _build_and_run(tmp_path: Path, venv: Path, bin_dir: Path, env: dict[str, str]) -> None:
    repo = tmp_path / "repo"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "*.egg-info",
            "build",
            "__pycache__",
            ".*_cache",
            "sandbox-data",
            "exports",
            "*.csv",
        ),
    )
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "-r", "binder/requirements.txt"], cwd=repo, env=env, check=True, timeout=1200
    )
    subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=env, check=True, timeout=1200)
    out = tmp_path / "executed"
    nbconvert = [str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute"]
    notebooks = sorted(str(p) for p in (repo / "notebooks").glob("*.ipynb"))
    result = subprocess.run(
        [*nbconvert, "--output-dir", str(out), *notebooks],
        cwd=repo / "notebooks",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    executed = sorted(p.name for p in out.glob("*.ipynb"))
    assert executed == [
        "01_quickstart.ipynb",
        "02_browse_and_clean.ipynb",
        "03_google_drive_bridge.ipynb",
    ]
    # alloy_nb came from the build, not from this checkout's editable install
    probe = "import alloy_nb; print(alloy_nb.__file__)"
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(venv) in where.stdout
