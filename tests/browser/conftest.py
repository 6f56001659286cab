"""A real Chromium for the module's tests, and the console it drives (a fresh one per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import VIEWPORT, launch_chromium
from tests.support.console import Console, running_console

#: How long a page waits for what it expects before the test fails.
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the module (a start costs a second)."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def console(pg_server_uri: str) -> Iterator[Console]:
    with running_console(pg_server_uri) as running:
        yield running


@pytest.fixture
def page(chromium: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the console."""
    yield from opened_page(chromium, console)


@pytest.fixture
def approval_console(pg_server_uri: str) -> Iterator[Console]:
    """The console with team/app asking one approval: the deploys of 1.4.1 wait for it."""
    with running_console(pg_server_uri, approvals=1) as running:
        yield running


@pytest.fixture
def approval_page(chromium: Browser, approval_console: Console) -> Iterator[Page]:
    yield from opened_page(chromium, approval_console)


def opened_page(chromium: Browser, console: Console) -> Iterator[Page]:
    context = chromium.new_context(viewport=VIEWPORT, base_url=console.url)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save a screenshot of each page."""
    return tmp_path_factory.mktemp("screenshots")
