"""UploadPanel in headless Chromium + JupyterLab against the sandbox; prints a Markdown table.

    python benchmarks/bench_panel.py [--size-mb 200] [--big-mb 1000]

P6  a file dropped on the panel, end to end (browser hash + transfer + confirmation), through
    the direct path (browser PUT to storage) and the relay (chunks through the kernel),
    beside Client.upload of the same file from Python; the kernel's peak RSS growth
P6  the same bytes dropped again under another name: time to "already stored"
P6  a 1 GB file through the direct path: the tab's peak JS heap (CDP JSHeapUsedSize)

Absolute numbers vary on a shared 2-core machine (browser, JupyterLab, kernel, API and
storage all share it); run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import alloy_nb  # noqa: E402
import alloy_nb.sandbox  # noqa: E402
from tests.cdp import Chromium  # noqa: E402
from tests.lab import jupyterlab, run_all_cells  # noqa: E402

from _timing import MiB, Peak, make_file  # noqa: E402

MB = 1000 * 1000
KEY = "bench-panel-key"


def drop(
    chrome: Chromium, panel: int, path: Path, stage: str, heap: list[float] | None = None
) -> float:
    """Seconds from dropping ``path`` on panel ``panel`` until its row reaches ``stage``.

    With ``heap``, the tab's JSHeapUsedSize is sampled (DevTools Performance metrics).
    """
    if heap is not None:
        chrome.call("Performance.enable")
    row = (
        f"document.querySelectorAll('.alloy-upload-panel')[{panel}]"
        f".querySelector('.alloy-row[data-name=\"{path.name}\"]')"
    )
    finished = f"{row} && ['{stage}', 'failed'].includes({row}.dataset.stage)"
    started = time.monotonic()
    chrome.set_files(".alloy-file-input", [path], nth=panel)
    while not chrome.evaluate(f"!!({finished})"):
        if heap is not None:
            heap.append(chrome.js_heap_used())
        time.sleep(0.1)
    seconds = time.monotonic() - started
    if chrome.evaluate(f"{row}.dataset.stage") == "failed":
        raise SystemExit(f"{path.name} failed: {chrome.evaluate(f'{row}.innerText')}")
    return seconds


def measure(
    chrome: Chromium, kernel: psutil.Process, base_url: str, tmp: Path, size: int, big_size: int
) -> dict[str, float]:
    """Every P6 figure, in one browser session."""
    rss = lambda: kernel.memory_info().rss  # noqa: E731
    with Peak(rss) as direct_rss:
        direct = drop(chrome, 0, make_file(tmp / "direct.bin", size), "done")
    with Peak(rss) as relay_rss:
        relay = drop(chrome, 1, make_file(tmp / "relay.bin", size), "done")
    (tmp / "again.bin").hardlink_to(tmp / "direct.bin")
    again = drop(chrome, 0, tmp / "again.bin", "already stored")
    with alloy_nb.Client(KEY, base_url=base_url) as client:
        started = time.monotonic()
        client.upload(make_file(tmp / "client.bin", size), progress=False)
        kernel_side = time.monotonic() - started
    for name in ("direct.bin", "relay.bin", "again.bin", "client.bin"):
        (tmp / name).unlink()
    heap: list[float] = []
    big = drop(chrome, 0, make_file(tmp / "one-gigabyte.bin", big_size), "done", heap)
    return {
        "direct": size / direct / MB,
        "relay": size / relay / MB,
        "client": size / kernel_side / MB,
        "direct_rss": (direct_rss.peak - direct_rss.base) / MiB,
        "relay_rss": (relay_rss.peak - relay_rss.base) / MiB,
        "again": again,
        "big": big_size / big / MB,
        "heap": max(heap) / MiB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=1000)
    args = parser.parse_args()
    size, big_size = args.size_mb * MB, args.big_mb * MB
    cells = [
        "import alloy_nb\nclient = alloy_nb.connect()",
        "alloy_nb.UploadPanel(client)",
        "alloy_nb.UploadPanel(client, transfer='relay')",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="bench-panel-") as d,
        alloy_nb.sandbox.start(api_keys=[KEY]) as sb,
        jupyterlab(
            Path(d) / "lab", cells, {"ALLOY_API_KEY": KEY, "ALLOY_BASE_URL": sb.base_url}
        ) as lab,
    ):
        chrome = Chromium()
        try:
            run_all_cells(chrome, lab, wait_for=".alloy-upload-panel")
            chrome.wait_for("document.querySelectorAll('.alloy-upload-panel').length === 2")
            m = measure(chrome, lab.kernel(), sb.base_url, Path(d), size, big_size)
        finally:
            chrome.close()
    mb = args.size_mb
    rows = [
        f"| P6 | {mb} MB dropped on UploadPanel, direct path (browser hash + PUT + confirm) vs "
        f"Client.upload from the kernel | {m['direct']:.0f} vs {m['client']:.0f} MB/s; kernel "
        f"RSS +{m['direct_rss']:.1f} MiB | {m['direct'] / m['client']:.2f}x | >= 60 MB/s; RSS "
        "<= 64 MiB |",
        f"| P6 | {mb} MB dropped on UploadPanel, relay path (transfer='relay') | "
        f"{m['relay']:.0f} MB/s; kernel RSS +{m['relay_rss']:.1f} MiB | "
        f"{m['relay'] / m['client']:.2f}x | >= 40 MB/s; RSS <= 64 MiB |",
        f"| P6 | the same {mb} MB dropped again under another name: time to 'already stored' | "
        f"{m['again']:.2f} s | | <= 4 s |",
        f"| P6 | {args.big_mb} MB dropped on UploadPanel, direct path: speed; the tab's peak JS "
        f"heap | {m['big']:.0f} MB/s; {m['heap']:.1f} MiB | | completes; heap < 100 MB |",
    ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# environment: {psutil.cpu_count()} cores, load average {load} at the end")
    print("| id | measure | measured | ratio | target |\n|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
