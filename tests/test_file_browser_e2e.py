"""FileBrowser in a real browser: JupyterLab + headless Chromium (Playwright) + the sandbox.

Covers what only a browser shows: the selection count while paging and filtering, the busy
state during a slow Refresh, plain words when the API is unreachable or the key is wrong,
and text contrast in the light and dark themes (screenshots go to build/screenshots/, docs/
under `make screenshots`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from alloy_nb import Client
from alloy_nb.sandbox import Sandbox
from alloy_nb.widgets._plain import SANDBOX_HINT

from .helpers import WORKSPACE_KEYS, Api, screenshots_dir
from .lab import Lab, jupyterlab
from .playwright_lab import CONTRAST, DARK, LIGHT, open_and_run, playwright_chromium, set_theme
from .ports import refused_port
from .slow_proxy import SlowProxy

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)  # a shared 2-core machine: kernels start slowly

KEY_ENV = "ALLOY_NB_E2E_KEY"
FILES = [
    ("survey-2024-q1.csv", 48_213),
    ("survey-2024-q2.csv", 51_877),
    ("survey-2024-q3.csv", 50_002),
    ("survey-2024-q4.csv", 53_410),
    ("field-notes-berlin.pdf", 1_284_112),
    ("field-notes-lisbon.pdf", 998_301),
    ("customer-churn-model-v3-final-reviewed-by-the-analytics-team.parquet", 2_340_032),
    ("lab-results-batch-07.xlsx", 220_144),
    ("lab-results-batch-08.xlsx", 231_980),
    ("interview-transcripts.zip", 1_718_592),
    ("readme.md", 2_048),
    ("sensor-log-2024-06-01.jsonl", 645_728),
    ("team-photo.jpg", 411_520),
    ("budget-forecast.xlsx", 88_064),
]
READABLE = 4.5  # WCAG AA for normal text
OUR_TEXT = [
    ".alloy-fb-cells span",
    ".alloy-fb-count",
    ".alloy-status span",
    ".alloy-hint",
    ".alloy-fb-bar .widget-label",
    ".alloy-fb-table .widget-label",
]


@pytest.fixture(scope="module")
def lab(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("e2e") / "lab"
    with jupyterlab(root, env={KEY_ENV: WORKSPACE_KEYS[0]}) as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with playwright_chromium() as browser:
        yield browser


@pytest.fixture
def page(lab: Lab, chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()
    lab.shut_down_kernels()


def browser_cell(
    base_url: str,
    user_id: str | None = None,
    key: str = f"os.environ['{KEY_ENV}']",
    page_size: int = 25,
) -> str:
    user = f", user_id={user_id!r}" if user_id else ""
    return (
        f"import os\nimport alloy_nb\nclient = alloy_nb.Client({key}, base_url={base_url!r}"
        f"{user})\nalloy_nb.FileBrowser(client, page_size={page_size})"
    )


def data_rows(panel: Locator) -> Locator:
    return panel.locator(".alloy-fb-row:has(input[type=checkbox])")


def tick(panel: Locator, row: int) -> None:
    data_rows(panel).nth(row).locator("input[type=checkbox]").check()


def assert_readable(page: Page, where: str) -> None:
    measured = page.evaluate(CONTRAST, OUR_TEXT)
    assert len(measured) > 20, measured
    poor = [m for m in measured if m["ratio"] < READABLE]
    assert not poor, f"{where}: text below {READABLE}:1 contrast: {poor}"


def test_selection_count_across_pages_and_filters_in_light_and_dark(
    lab: Lab, page: Page, sandbox: Sandbox, alice: Api
) -> None:
    with Client(WORKSPACE_KEYS[0], base_url=sandbox.base_url, user_id=alice.user_id) as client:
        for name, size in FILES:
            client.upload(secrets.token_bytes(size), filename=name, progress=False)
        client.create_credential("googleDrive", name="Team Drive")
    lab.open("select.ipynb", browser_cell(sandbox.base_url, alice.user_id, page_size=6))
    open_and_run(page, lab, "select.ipynb")
    panel = page.locator(".alloy-file-browser")
    expect(panel.locator(".alloy-status")).to_have_text("Loaded 14 files.")
    count = panel.locator(".alloy-fb-count")
    select_page = panel.locator(".widget-checkbox", has_text="select page").locator("input")
    expect(count).to_have_text("No files selected")

    tick(panel, 0)  # budget-forecast.xlsx
    tick(panel, 1)  # customer-churn-…parquet
    expect(count).to_have_text("2 selected")
    panel.locator("button[title='next page']").click()
    expect(panel.locator(".widget-label", has_text="page 2 of 3")).to_be_visible()
    expect(count).to_have_text("2 selected (2 on other pages)")
    expect(select_page).not_to_be_checked()
    tick(panel, 3)  # survey-2024-q1.csv
    expect(count).to_have_text("3 selected (2 on other pages)")

    panel.locator("input[placeholder='filter by name or s3Key']").fill("survey")
    expect(data_rows(panel)).to_have_count(4)
    expect(count).to_have_text("3 selected (2 hidden by the filter)")
    expect(select_page).not_to_be_checked()
    select_page.check()
    expect(count).to_have_text("6 selected (2 hidden by the filter)")
    expect(data_rows(panel).locator("input:checked")).to_have_count(4)

    panel.locator("input[placeholder='filter by name or s3Key']").fill("")
    expect(count).to_have_text("6 selected (4 on other pages)")
    expect(data_rows(panel).locator("input:checked")).to_have_count(2)
    long_key = data_rows(panel).nth(1).locator(".alloy-fb-key")
    expect(long_key).to_have_attribute("title", re.compile(r"analytics-team\.parquet$"))
    assert long_key.evaluate("e => e.scrollWidth > e.clientWidth"), "long keys are cut with …"
    expect(panel.get_by_label("Drive", exact=True)).to_have_value("Team Drive")

    shots = screenshots_dir()
    set_theme(page, lab, LIGHT)
    assert_readable(page, "light theme")
    panel.screenshot(path=str(shots / "file-browser.png"))
    set_theme(page, lab, DARK)
    assert_readable(page, "dark theme")
    panel.screenshot(path=str(shots / "file-browser-dark.png"))
    set_theme(page, lab, LIGHT)  # JupyterLab keeps the theme in its settings

    panel.get_by_role("button", name="clear selection").click()
    expect(count).to_have_text("No files selected")
    expect(data_rows(panel).locator("input:checked")).to_have_count(0)


def test_busy_state_during_a_slow_refresh(
    lab: Lab, page: Page, sandbox: Sandbox, alice: Api
) -> None:
    alice.upload("slow.csv", b"a,b\n1,2\n")
    with SlowProxy(sandbox.base_url, delay=4) as proxy:
        lab.open("slow.ipynb", browser_cell(proxy.base_url, alice.user_id))
        open_and_run(page, lab, "slow.ipynb")
        panel = page.locator(".alloy-file-browser")
        status = panel.locator(".alloy-status")
        expect(status).to_have_text("Loaded 1 file.", timeout=90_000)
        refresh = panel.locator("button[title='Refresh']")
        refresh.click()
        expect(refresh).to_be_disabled()
        expect(refresh.locator("i.fa-spin")).to_be_visible()
        expect(panel.get_by_role("button", name="Delete selected")).to_be_disabled()
        expect(panel.locator(".alloy-status[data-kind='busy']")).to_have_text("Loading your files…")
        expect(status).to_have_count(1)
        expect(refresh).to_be_enabled(timeout=30_000)
        expect(status).to_have_text("Loaded 1 file.")
        expect(panel.locator(".alloy-status[data-kind='info']")).to_have_count(1)
        expect(refresh.locator("i.fa-spin")).to_have_count(0)


def test_plain_words_when_unreachable_and_with_a_bad_key(
    lab: Lab, page: Page, sandbox: Sandbox
) -> None:
    with refused_port() as port:  # nothing listens there for the whole test
        lab.open(
            "errors.ipynb",
            browser_cell(f"http://127.0.0.1:{port}"),
            browser_cell(sandbox.base_url, key="'not-a-valid-key'"),
        )
        open_and_run(page, lab, "errors.ipynb")
        unreachable, bad_key = (page.locator(".alloy-file-browser").nth(i) for i in range(2))
        expect(unreachable.locator(".alloy-status[data-kind='error']")).to_have_text(
            f"Could not reach the Alloy API at 127.0.0.1:{port}: nothing is listening there. "
            f"{SANDBOX_HINT}",
            timeout=90_000,
        )
        expect(bad_key.locator(".alloy-status[data-kind='error']")).to_have_text(
            "The API key was refused: check ALLOY_API_KEY.", timeout=90_000
        )
        for panel in (unreachable, bad_key):
            shown = panel.inner_text()
            for word in ("No files", "Error", "Errno", "Exception", "Traceback"):
                assert word not in shown, shown
            expect(panel.locator(".alloy-fb-table")).to_be_hidden()
            expect(panel.locator("button[title='Refresh']")).to_be_enabled()
