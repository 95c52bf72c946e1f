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
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import alloy_nb  # noqa: E402
import alloy_nb.sandbox  # noqa: E402
from tests.lab import CHROMIUM, CHROMIUM_ARGS, jupyterlab, run_all_cells  # noqa: E402

MB, MiB = 1000 * 1000, 1024 * 1024
KEY = "bench-panel-key"


def make_file(path: Path, size: int) -> Path:
    block = secrets.token_bytes(MiB)
    with open(path, "wb") as f:
        for start in range(0, size, MiB):
            f.write(block[: min(MiB, size - start)])
    return path


class Peak:
    """Peak of ``sample()`` while active (sampled every 50 ms on a thread)."""

    def __init__(self, sample: Any) -> None:
        self.sample, self.base = sample, sample()
        self.peak, self._stop = self.base, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def drop(page: Any, panel: int, path: Path, stage: str, heap: list[float] | None = None) -> float:
    """Seconds from dropping ``path`` on panel ``panel`` until its row reaches ``stage``.

    With ``heap``, the tab's JSHeapUsedSize is sampled (CDP) while waiting.
    """
    cdp = page.context.new_cdp_session(page) if heap is not None else None
    if cdp is not None:
        cdp.send("Performance.enable")
    target = page.locator(".alloy-upload-panel").nth(panel)
    row = target.locator(f'.alloy-row[data-name="{path.name}"]')
    started = time.monotonic()
    target.locator(".alloy-file-input").set_input_files(str(path))
    while row.count() == 0 or row.get_attribute("data-stage") not in (stage, "failed"):
        if cdp is not None and heap is not None:
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            heap.append(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize"))
        page.wait_for_timeout(100)
    seconds = time.monotonic() - started
    if row.get_attribute("data-stage") == "failed":
        raise SystemExit(f"{path.name} failed: {row.inner_text()}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=1000)
    args = parser.parse_args()
    size, big_size = args.size_mb * MB, args.big_mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-panel-") as d, alloy_nb.sandbox.start(
        api_keys=[KEY]
    ) as sb:
        tmp = Path(d)
        cells = ["import alloy_nb\nclient = alloy_nb.connect()", "alloy_nb.UploadPanel(client)",
                 "alloy_nb.UploadPanel(client, transfer='relay')"]  # fmt: skip
        env = {"ALLOY_API_KEY": KEY, "ALLOY_BASE_URL": sb.base_url}
        with jupyterlab(tmp / "lab", cells, env) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            run_all_cells(page, lab, wait_for=".alloy-upload-panel >> nth=1")
            kernel = lab.kernel()
            rss = lambda: kernel.memory_info().rss  # noqa: E731
            rows: list[str] = []

            with Peak(rss) as direct_rss:
                direct = drop(page, 0, make_file(tmp / "direct.bin", size), "done")
            with Peak(rss) as relay_rss:
                relay = drop(page, 1, make_file(tmp / "relay.bin", size), "done")
            (tmp / "again.bin").hardlink_to(tmp / "direct.bin")
            again = drop(page, 0, tmp / "again.bin", "already stored")
            with alloy_nb.Client(KEY, base_url=sb.base_url) as client:
                started = time.monotonic()
                client.upload(make_file(tmp / "client.bin", size), progress=False)
                kernel_side = time.monotonic() - started
            for name in ("direct.bin", "relay.bin", "again.bin", "client.bin"):
                (tmp / name).unlink()
            heap: list[float] = []
            big = drop(page, 0, make_file(tmp / "one-gigabyte.bin", big_size), "done", heap)
            browser.close()

        mb = args.size_mb
        rows += [
            f"| P6 | {mb} MB dropped on UploadPanel, direct path (hash + PUT + confirm) vs "
            f"Client.upload | {size / direct / MB:.0f} vs {size / kernel_side / MB:.0f} MB/s; "
            f"kernel RSS +{(direct_rss.peak - direct_rss.base) / MiB:.1f} MiB | "
            f"{direct / kernel_side:.2f}x time | >= 60 MB/s; RSS <= 64 MiB |",
            f"| P6 | {mb} MB dropped on UploadPanel, relay path (transfer='relay') | "
            f"{size / relay / MB:.0f} MB/s; kernel RSS "
            f"+{(relay_rss.peak - relay_rss.base) / MiB:.1f} MiB | | >= 40 MB/s; RSS <= 64 MiB |",
            f"| P6 | the same {mb} MB again under another name: time to 'already stored' | "
            f"{again:.2f} s | | <= 4 s |",
            f"| P6 | {args.big_mb} MB direct path: speed; tab's peak JS heap | "
            f"{big_size / big / MB:.0f} MB/s; {max(heap) / MiB:.1f} MiB | | completes; heap "
            "< 100 MB |",
        ]
    print(f"# environment: {psutil.cpu_count()} cores, Chromium {CHROMIUM}")
    print("| id | measure | measured | ratio | target |\n|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
