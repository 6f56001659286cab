"""Debian's Chromium driven by Playwright: how to start it here, and the checks every page of
the console gets (every control labelled) and its screenshots.

``playwright install`` cannot download browsers on these machines: the tests drive the system's
``/usr/bin/chromium`` (apt package ``chromium``), headless. A missing Chromium skips the browser
tests, and fails them in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

from tests.support.components import require_binary

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
#: Where screenshots of the three pages the README shows are written as well, if set.
DOCS_SHOTS = "REGDEPLOY_DOCS_SCREENSHOTS"
DOCS_PAGES = ("overview", "repositories", "deployments")

# Every form control a person uses (hidden fields are not), and whether it has a label: a
# <label>, aria-label or aria-labelledby; a button by its text.
_UNLABELLED = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => el.tagName === 'BUTTON'
    ? !(el.textContent.trim() || el.getAttribute('aria-label'))
    : !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
      && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)
"""


def launch_chromium(playwright: Playwright) -> Browser:
    executable = require_binary("chromium")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


def unlabelled_controls(page: Page) -> list[str]:
    found: list[str] = page.evaluate(_UNLABELLED)
    return found


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    """A full-page screenshot ``folder/name.png``; also into ``$REGDEPLOY_DOCS_SCREENSHOTS``
    for the pages the README shows."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    docs = os.environ.get(DOCS_SHOTS)
    if docs and name in DOCS_PAGES:
        page.screenshot(path=str(Path(docs) / f"{name}.png"), full_page=True)
    return path
