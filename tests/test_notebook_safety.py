"""Each shipped notebook, run against an account that already holds files, leaves them alone.

The notebook runs in a kernel whose environment (and only its environment) points
ALLOY_API_KEY / ALLOY_BASE_URL / ALLOY_USER_ID at a fresh user of the test sandbox, as a
data team's shell would point it at their real account.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from .helpers import WORKSPACE_KEYS, Api

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def run_notebook(source: Path, workdir: Path, account: Api) -> None:
    """Execute a copy of the notebook in ``workdir`` as ``account``; raise on a failing cell."""
    import nbformat  # here, not at collection: `make check` never loads Jupyter
    from nbclient import NotebookClient

    workdir.mkdir()
    shutil.copy(source, workdir / source.name)
    nb = nbformat.read(workdir / source.name, as_version=4)
    env = {
        **os.environ,
        "ALLOY_API_KEY": WORKSPACE_KEYS[0],
        "ALLOY_BASE_URL": account.base_url,
        "ALLOY_USER_ID": account.user_id or "",
    }
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute(env=env)


def listing(account: Api) -> dict[str, tuple[str, int]]:
    return {f["s3Key"]: (f["filename"], f["size"]) for f in account.files()}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_leaves_files_it_did_not_make_in_place(
    notebook: Path, workspace_a: Api, tmp_path: Path
) -> None:
    """Unrelated files, a foreign .tmp, and the very bytes the notebook uploads all survive."""
    # A first run on an empty account: it must clean up everything it made, and it leaves
    # on disk the files it uploads, whose bytes the second account will already hold.
    first = workspace_a.new_user()
    run_notebook(notebook, tmp_path / "first", first)
    assert listing(first) == {}, "the notebook left its own files behind"
    written = sorted(
        p
        for p in (tmp_path / "first").rglob("*")
        if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts
    )

    owner = workspace_a.new_user()
    owner.upload("customer-archive.tmp", secrets.token_bytes(3000))
    owner.upload("q3-report.csv", b"region,revenue\nnorth,1\n")
    owner.upload("model.bin", secrets.token_bytes(50_000))
    for i, path in enumerate(written):
        # Every other file under its own name (the notebook's upload then answers
        # "existing" with this key), the rest under another name with the same bytes.
        name = path.name if i % 2 == 0 else f"backup of {path.name}"
        owner.upload(name, path.read_bytes())
    before = listing(owner)
    assert len(before) == 3 + len(written)

    run_notebook(notebook, tmp_path / "second", owner)
    assert listing(owner) == before
