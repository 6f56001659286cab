"""A rollout in a real browser (Debian's Chromium, driven by Playwright) against the app served
on a port with its worker and rollout loop, a real PostgreSQL and a recording deployer: team/app
rolled out in two waves that soak an hour, so that the push of 1.4.1 has moved ``api`` and
``web`` waits. A person finds the rollout, reads its waves, and abandons it through the
confirmation; the page shows the outcome without a reload of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import opened_page
from tests.support.browser import save_screenshot, scrolls_sideways, sign_in, unlabelled_controls
from tests.support.console import WEB, Console, running_console

ROLLOUT = {"waves": [1, "100%"], "soak": "1h"}


@pytest.fixture
def rollout_console(pg_server_uri: str) -> Iterator[Console]:
    with running_console(pg_server_uri, rollout=ROLLOUT) as running:
        yield running


@pytest.fixture
def rollout_page(chromium: Browser, rollout_console: Console) -> Iterator[Page]:
    yield from opened_page(chromium, rollout_console)


def test_a_rollout_page_shows_its_waves_and_abandons_after_confirming(
    rollout_page: Page, rollout_console: Console, shots: Path
) -> None:
    page, console = rollout_page, rollout_console
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    [rollout] = [r for r in console.api("/api/v1/rollouts")["rollouts"] if r["state"] == "running"]
    number = rollout["id"]
    sign_in(page)
    page.goto("/rollouts")
    row = page.locator(f"#rollout-{number}")
    expect(row).to_contain_text("1/2")
    expect(row).to_contain_text(rollout["words"])
    assert unlabelled_controls(page) == []
    assert not scrolls_sideways(page)
    save_screenshot(page, shots, "rollouts")
    row.get_by_role("link", name=str(number), exact=True).click()

    expect(page).to_have_url(re.compile(rf"/rollouts/{number}$"))
    expect(page.get_by_role("heading", name=f"Rollout {number}")).to_be_visible()
    expect(page.get_by_role("heading", name="Wave 1 of 2")).to_be_visible()
    moved = page.locator('#wave-1 tr[data-target="recording:api"]')
    expect(moved).to_contain_text("succeeded")
    expect(moved).to_contain_text("1.4.0")  # what it ran before
    waiting = page.locator('#wave-2 tr[data-target="recording:web"]')
    expect(waiting).to_contain_text("waiting")
    assert unlabelled_controls(page) == []
    assert not scrolls_sideways(page)
    save_screenshot(page, shots, "rollout")

    page.get_by_role("button", name="Abandon…").click()
    title = f"Abandon rollout {number} of team/app 1.4.1?"
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.locator("#foresight")).to_contain_text(
        "Its 1 waiting target will never be deployed"
    )
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(rf"/rollouts/{number}$"))
    expect(page.get_by_role("status")).to_contain_text(
        f"Rollout {number}: abandoned by admin at wave 1 of 2"
    )
    expect(page.locator("#words")).to_contain_text("abandoned")
    expect(waiting).to_contain_text("cancelled")
    expect(page.get_by_role("button", name="Abandon…")).to_have_count(0)
    assert console.api(f"/api/v1/rollouts/{number}")["state"] == "abandoned"
    assert console.deployer.deployed(WEB) == []  # it never moved
    assert problems == []
