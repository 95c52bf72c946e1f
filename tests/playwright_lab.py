"""Playwright on the harness's browser: attached over CDP to the headless Chromium of
tests/cdp.py (the one launcher), opening notebooks of a tests/lab.py JupyterLab.

For tests that read best with Playwright's locators and ``expect``; the panel measurements
drive the page over CDP directly (tests/cdp.py says why).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

from .cdp import Chromium
from .lab import Lab
from .notebook_page import run_open_notebook, wait_kernel_idle, wait_until

DARK, LIGHT = "JupyterLab Dark", "JupyterLab Light"


@contextmanager
def playwright_chromium() -> Iterator[Browser]:
    """A Playwright ``Browser`` on a fresh headless Chromium; both stopped on exit."""
    with Chromium(page=False) as chrome, sync_playwright() as pw:
        # is_local: same machine, so files are handed to the browser by path (no 50 MB limit).
        browser = pw.chromium.connect_over_cdp(chrome.endpoint, is_local=True)
        try:
            yield browser
        finally:
            browser.close()


def open_and_run(
    page: Page,
    lab: Lab,
    name: str | None = None,
    *,
    wait_for: str | None = None,
    timeout: float = 120,
) -> None:
    """Open a notebook ``lab`` has opened (the default one without ``name``), wait until its
    kernel is idle, run every cell, and wait until they have all run and (with ``wait_for``)
    a CSS selector matches."""
    name = name or lab.notebook
    page.goto(lab.url_of(name))
    run_open_notebook(
        page.evaluate, name, log_tail=lab.log_tail, wait_for=wait_for, timeout=timeout
    )


def kernel_idle(page: Page, lab: Lab, name: str | None = None, timeout: float = 60) -> None:
    """Wait until the open notebook's kernel is idle again (widgets built and synced)."""
    wait_kernel_idle(page.evaluate, name or lab.notebook, log_tail=lab.log_tail, timeout=timeout)


# "ok" once the body carries the theme and the notebook is painted in its colours
# (transitions over), so a screenshot or a contrast measure sees the theme.
_THEMED = """((name) => {
  const shown = document.body.dataset.jpThemeName;
  if (shown !== name) return 'theme ' + shown;
  const notebook = document.querySelector('.jp-Notebook');
  if (!notebook) return 'no notebook';
  const probe = document.createElement('div');
  probe.style.cssText = 'transition: none; background: var(--jp-layout-color0)';
  document.body.appendChild(probe);
  const want = getComputedStyle(probe).backgroundColor;
  probe.remove();
  return getComputedStyle(notebook).backgroundColor === want ? 'ok' : 'painting';
})(__THEME__)"""


def set_theme(page: Page, lab: Lab, theme: str) -> None:
    """Switch JupyterLab's theme and wait until the notebook is painted in its colours."""
    page.evaluate(
        f"window.jupyterapp.commands.execute('apputils:change-theme', "
        f"{{theme: {json.dumps(theme)}}}) && true"
    )
    wait_until(
        page.evaluate,
        _THEMED.replace("__THEME__", json.dumps(theme)),
        "ok",
        what=f"theme {theme}",
        log_tail=lab.log_tail,
        timeout=30,
    )


# Contrast of each matched element's text against what is painted behind it (WCAG ratio).
CONTRAST = """(selectors) => {
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000';
    ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data; return [r, g, b, a / 255]; };
  const over = (top, under) => top.slice(0, 3).map((c, i) => c * top[3] + under[i] * (1 - top[3]));
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const behind = (el) => { const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor); if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break; }
    let base = [255, 255, 255];
    for (const layer of layers.reverse()) base = over(layer, base);
    return base; };
  const out = [];
  for (const sel of selectors) for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const bg = behind(el), fg = over(rgba(getComputedStyle(el).color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({sel, text: el.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return out;
}"""
