"""The console in a real browser: Debian's Chromium, driven by Playwright, against the app
served on a port with its worker, a real PostgreSQL and a recording deployer.

What a person does and sees: signing in, pinning and unpinning with the confirmation saying what
will move, deployments appearing and finishing without a reload, auto-deploy off and on with
its catch-up deploy, why the policy refuses a tag, approving a deploy that waits for it, what a
read token cannot do, the keyboard alone, a label on every control, no page wider than the
window, and a screenshot of every page (``test_console_tables``: at two widths, with long
reasons).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import WAIT_MS
from tests.support.browser import (
    REPOSITORY,
    VIEWPORT,
    save_screenshot,
    scrolls_sideways,
    sign_in,
    unlabelled_controls,
)
from tests.support.console import API, WEB, Console
from tests.support.pushes import ref
from tests.support.release import ALICE_TOKEN
from tests.support.settings import API_TOKEN, READ_TOKEN


def new_deployments(console: Console, trigger: str) -> list[dict[str, Any]]:
    found = console.api("/api/v1/deployments?repository=team/app")["deployments"]
    return [d for d in found if d["trigger"] == trigger]


def watch_finish(page: Page, console: Console, trigger: str, image_tag: str) -> None:
    """On Deployments: the deploys of ``trigger`` are there, and finish without a reload."""
    expect(page).to_have_url(re.compile(r"/deployments\?repository=team"))
    started = new_deployments(console, trigger)
    assert {d["target_key"] for d in started} == {"recording:web", "recording:api"}
    assert {d["tag"] for d in started} == {image_tag}
    page.evaluate("window.sameDocument = true")  # gone if the page loaded again
    for d in started:
        outcome = page.locator(f"#deployment-{d['id']} .outcome")
        expect(outcome).to_have_text("succeeded", timeout=WAIT_MS)
    assert page.evaluate("window.sameDocument") is True


def test_sign_in_shows_the_overview_and_a_wrong_token_is_refused(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile("/signin"))
    page.get_by_label("API token").fill("not-a-token-of-this-regdeploy")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not an API token")
    assert "not-a-token-of-this-regdeploy" not in page.content()
    sign_in(page)
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    expect(page.locator("footer")).to_contain_text("Signed in as admin (write)")


def test_pin_and_unpin_deploy_live_on_deployments(page: Page, console: Console) -> None:
    sign_in(page)
    page.goto("/repositories")
    page.get_by_label("Pin to tag").select_option("1.4.0")
    page.get_by_role("button", name="Pin…").click()
    expect(page.locator("#foresight")).to_contain_text("web and api will move from 1.4.1 to 1.4.0")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text('pinned_tag: "" → "1.4.0"')
    watch_finish(page, console, "pin", "1.4.0")
    assert console.api("/api/v1/repos/team/app")["audit"][0]["actor"] == "admin"

    page.goto(REPOSITORY)
    page.get_by_role("button", name="Unpin 1.4.0…").click()
    expect(page.locator("#foresight")).to_contain_text("web and api will move from 1.4.0 to 1.4.1")
    page.get_by_role("button", name="Confirm").click()
    watch_finish(page, console, "reset", "1.4.1")


def test_auto_deploy_off_then_on_catches_up(page: Page, console: Console) -> None:
    sign_in(page)
    page.goto(REPOSITORY)
    page.get_by_role("button", name="Switch auto-deploy off…").click()
    expect(page.locator("#foresight")).to_contain_text("Nothing deploys now")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".auto-deploy")).to_contain_text("off")

    page.goto("/events")
    page.evaluate("window.sameDocument = true")
    console.push("1.5.0", 4)  # recorded, deployed nowhere while auto-deploy is off
    expect(page.locator("#events")).to_contain_text("team/app:1.5.0")  # live, no reload
    assert page.evaluate("window.sameDocument") is True
    skipped = [d for d in console.settle() if d["tag"] == "1.5.0"]
    assert {d["status"] for d in skipped} == {"skipped"}

    page.goto(REPOSITORY)
    page.get_by_role("button", name="Switch auto-deploy on…").click()
    expect(page.locator("#foresight")).to_contain_text("web and api will move from 1.4.1 to 1.5.0")
    page.get_by_role("button", name="Confirm").click()
    watch_finish(page, console, "auto_deploy_on", "1.5.0")


def test_explain_shows_why_the_policy_refuses_a_tag(page: Page, console: Console) -> None:
    sign_in(page)
    page.goto("/explain?repository=team/app&target=recording:web")
    explained = console.api("/api/v1/repos/team/app/explain?target=recording:web")
    (refused,) = [p for p in explained["targets"][0]["pushes"] if p["tag"] == "2.0.0"]
    row = page.locator('tr.push[data-tag="2.0.0"]')
    expect(row).to_contain_text("skip")
    expect(row).to_contain_text(refused["reason"])
    assert not refused["deploy"]


def test_an_approver_approves_a_waiting_deploy_and_sees_it_deploy(
    approval_page: Page, approval_console: Console
) -> None:
    page, console = approval_page, approval_console
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    waiting = console.api("/api/v1/deployments?status=waiting")["deployments"]
    assert {d["target_key"] for d in waiting} == {WEB.key, API.key}
    (web,) = [d for d in waiting if d["target_key"] == WEB.key]
    sign_in(page, ALICE_TOKEN)
    expect(page.locator("footer")).to_contain_text("reading, approving and rejecting")
    page.goto("/deployments")
    row = page.locator(f"#deployment-{web['id']}")
    expect(row).to_contain_text("waits for: 0 of 1 approval")
    row.get_by_role("link", name=str(web["id"])).click()
    expect(page.locator("#waits")).to_contain_text("0 of 1 approval")
    page.get_by_role("button", name="Approve…").click()
    expect(page.locator("#foresight")).to_contain_text("1.4.1 deploys to recording:web now")
    assert unlabelled_controls(page) == []
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("approved by alice; released")
    page.evaluate("window.sameDocument = true")  # gone if the page loaded again
    expect(page.locator("#deployment .outcome")).to_have_text("succeeded", timeout=WAIT_MS)
    assert page.evaluate("window.sameDocument") is True
    assert page.get_by_role("button", name="Approve…").count() == 0
    assert console.deployer.deployed(WEB) == [ref("1.4.1", 2)]
    assert console.deployer.deployed(API) == []  # its own deploy still waits for a vote
    assert problems == []


def test_a_read_token_sees_no_write_controls_and_its_writes_get_403(
    page: Page, chromium: Browser, console: Console
) -> None:
    sign_in(page, READ_TOKEN)
    expect(page.locator("footer")).to_contain_text("reading only")
    page.goto("/repositories")
    expect(page.get_by_role("heading", name="team/app")).to_be_visible()
    assert page.locator("form[action$='/confirm']").count() == 0
    assert page.get_by_role("button", name=re.compile("Pin|Deploy|Switch")).count() == 0
    csrf = page.locator("footer input[name=csrf]").input_value()
    form: dict[str, str | float | bool] = {
        "csrf": csrf,
        "action": "pin",
        "tag": "1.4.0",
        "once": "x1",
    }
    refused = page.request.post(f"{REPOSITORY}/confirm", form=form)
    assert refused.status == 403
    assert "may only read" in refused.text()
    assert page.request.get(f"{REPOSITORY}/confirm?action=pin&tag=1.4.0").status == 403

    writer = chromium.new_context(viewport=VIEWPORT, base_url=console.url)  # type: ignore[arg-type]
    try:
        other = writer.new_page()
        sign_in(other)
        for forged in ({}, {"csrf": "forged"}, {"csrf": csrf}):
            answer = other.request.post(
                f"{REPOSITORY}/confirm", form={**form, **forged, "once": str(forged)}
            )
            assert answer.status == 403, forged
            assert "CSRF" in answer.text()
    finally:
        writer.close()
    unchanged = console.api("/api/v1/repos/team/app")
    assert unchanged["pinned_tag"] == ""
    assert unchanged["audit"] == []


def tab_to(page: Page, selector: str, *, presses: int = 80) -> None:
    """Press Tab until the element ``selector`` has the focus."""
    for _ in range(presses):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus")


def test_the_keyboard_alone_signs_in_and_pins_a_tag(page: Page, console: Console) -> None:
    page.goto("/")
    assert page.evaluate("document.activeElement.id") == "token"  # the form has the focus
    page.keyboard.type(API_TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    tab_to(page, "nav a[href='/repositories']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Repositories")).to_be_visible()
    tab_to(page, "#r1-pin")
    page.keyboard.press("End")  # the oldest tag: 1.4.0
    tab_to(page, "#r1-pin ~ button, form:has(#r1-pin) button")
    page.keyboard.press("Enter")
    expect(page.locator("#foresight")).to_contain_text("will move from 1.4.1 to 1.4.0")
    tab_to(page, "#confirm")
    page.keyboard.press("Enter")
    watch_finish(page, console, "pin", "1.4.0")


def test_every_page_labels_its_controls_breaks_no_policy_and_is_shown(
    page: Page, chromium: Browser, console: Console, shots: Path
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto("/signin")
    assert unlabelled_controls(page) == []
    save_screenshot(page, shots, "signin")
    sign_in(page)
    console.change({"pinned_tag": "1.4.0"})  # some history for the pages to show
    console.settle()
    deployment = console.api("/api/v1/deployments?repository=team/app")["deployments"][0]
    pages = {
        "overview": "/",
        "repositories": "/repositories",
        "repository": REPOSITORY,
        "confirm": f"{REPOSITORY}/confirm?action=pin&tag=1.4.0",
        "freeze": "/freezes/confirm?action=freeze&reason=incident+42",
        "workloads": "/workloads",
        "deployments": "/deployments",
        "deployment": f"/deployments/{deployment['id']}",
        "explain": "/explain?repository=team/app",
        "events": "/events",
        "notices": "/notices",
    }
    for name, path in pages.items():
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        assert unlabelled_controls(page) == [], path
        assert not scrolls_sideways(page), path
        save_screenshot(page, shots, name)
    assert {p.stem for p in shots.iterdir()} >= {*pages, "signin"}
    assert problems == []  # no script error, no Content-Security-Policy violation
