"""The committed widget bundle is exactly what js/ builds from its lock file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
STATIC = ROOT / "alloy_nb" / "widgets" / "static"


def test_bundle_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    """npm ci + build in a fresh copy of js/ gives the committed static/ files exactly."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed (.ci/run installs nodejs, which brings it)"
    work = tmp_path / "js"
    shutil.copytree(JS, work, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=300,
    )
    out = tmp_path / "static"
    subprocess.run(["node", "build.mjs", str(out)], cwd=work, check=True, timeout=120)
    built = sorted(p.name for p in out.iterdir())
    assert built == sorted(p.name for p in STATIC.iterdir())
    for name in built:
        assert (out / name).read_bytes() == (STATIC / name).read_bytes(), (
            f"static/{name} is stale: run `make js` and commit it"
        )
