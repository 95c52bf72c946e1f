"""`make bench`: run every benchmark, print one table, keep it in benchmarks/results.md.

Each script measures its rows side by side in one run (ratios, not absolute times, are what
the targets are about). P6 comes from the real-browser test (JupyterLab + Chromium), run
with its timing printed.
"""

from __future__ import annotations

import os
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
    # Benchmarks never reach a real account, whatever the shell exports: no ALLOY_* at all.
    for name in [n for n in os.environ if n.startswith("ALLOY_")]:
        del os.environ[name]
    py = sys.executable
    client = run([py, str(HERE / "bench_client.py")])
    sandbox = run([py, str(HERE / "bench_sandbox.py")])
    panel = run([py, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                 "tests/test_browser_e2e.py"])  # fmt: skip
    rows = [line for line in (client + sandbox).splitlines() if re.match(r"\| P\d ", line)]
    m = re.search(r"200 MB via UploadPanel: ([\d.]+) s \((\d+) MB/s\), kernel RSS growth "
                  r"([\d.]+) MiB", panel)  # fmt: skip
    upload = re.search(r"\| (\d+) vs \d+ MB/s \|", next(r for r in rows if "upload_file" in r))
    if m and upload:
        rows.append(f"| P6 | 200 MB through UploadPanel in headless Chromium vs Client.upload "
                    f"(1 GB, above) | {m.group(2)} vs {upload.group(1)} MB/s; kernel RSS "
                    f"+{m.group(3)} MiB | | succeeds; RSS <= 64 MiB |")  # fmt: skip
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
