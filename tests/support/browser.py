"""Debian's Chromium driven by Playwright: how to start it here, signing in to the console, the
checks every page of it gets (every control labelled, nothing beyond the window's width) and
its screenshots.

``playwright install`` cannot download browsers on these machines: the tests drive the system's
``/usr/bin/chromium`` (apt package ``chromium``), headless. A missing Chromium skips the browser
tests, and fails them in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, expect

from tests.support.components import require_binary
from tests.support.settings import API_TOKEN

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
#: The page of the console's repository, team/app.
REPOSITORY = "/repositories/team/app"
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

# Whether the page is wider than the window (a person would have to scroll it sideways).
_SIDEWAYS = "() => document.documentElement.scrollWidth > window.innerWidth"
# The elements of a selector that are not shown whole across: not rendered, or reaching out of
# the window or of a box around them that clips or scrolls; each as the start of its HTML and
# where its box begins and ends, and where the room it has does.
_OFFSCREEN = """
selector => [...document.querySelectorAll(selector)].flatMap(el => {
  const box = el.getBoundingClientRect();
  let [left, right] = [0, window.innerWidth];
  for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
    if (getComputedStyle(up).overflowX !== 'visible') {
      const room = up.getBoundingClientRect();
      left = Math.max(left, room.left + up.clientLeft);
      right = Math.min(right, room.left + up.clientLeft + up.clientWidth);
    }
  }
  const whole = box.width > 0 && box.left >= left - 0.5 && box.right <= right + 0.5;
  const where = `${box.left}-${box.right} px, room ${left}-${right} px`;
  return whole ? [] : [`${el.outerHTML.slice(0, 120)}: ${where}`];
})
"""


def launch_chromium(playwright: Playwright) -> Browser:
    executable = require_binary("chromium")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


def sign_in(page: Page, token: str = API_TOKEN) -> None:
    """Sign in to the console with ``token``; its overview shows."""
    page.goto("/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def unlabelled_controls(page: Page) -> list[str]:
    found: list[str] = page.evaluate(_UNLABELLED)
    return found


def scrolls_sideways(page: Page) -> bool:
    """Whether the page is wider than the window."""
    return bool(page.evaluate(_SIDEWAYS))


def offscreen(page: Page, selector: str) -> list[str]:
    """The elements of ``selector`` not shown whole across (none: all are): in the window, and
    inside any box around them that scrolls sideways or clips."""
    found: list[str] = page.evaluate(_OFFSCREEN, selector)
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
