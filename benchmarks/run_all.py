"""`make bench`: run every benchmark, print one table, keep it in benchmarks/results.md.

Each script measures its rows side by side in one run (ratios, not absolute times, are what
the targets are about). P6 comes from bench_panel.py (UploadPanel in JupyterLab + Chromium).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(cmd: list[str]) -> str:
    print("$", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    print(out.stdout[-4000:], out.stderr[-2000:] if out.returncode else "", flush=True)
    if out.returncode:
        raise SystemExit(f"{cmd[1]} failed with {out.returncode}")
    return out.stdout


def main() -> int:
    py = sys.executable
    client = run([py, str(HERE / "bench_client.py")])
    sandbox = run([py, str(HERE / "bench_sandbox.py")])
    panel = run([py, str(HERE / "bench_panel.py")])
    rows = [line for line in (client + sandbox + panel).splitlines() if re.match(r"\| P\d ", line)]
    env = next(line for line in client.splitlines() if line.startswith("# environment"))
    table = "\n".join([
        "# Benchmarks", "", env.lstrip("# "), "",
        "| id | measure | measured | ratio | target |", "|---|---|---|---|---|", *sorted(rows),
    ])  # fmt: skip
    print("\n" + table)
    (HERE / "results.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
