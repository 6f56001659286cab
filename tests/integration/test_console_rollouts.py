"""Rollouts in the console, over HTTP as a browser meets them (the real app, a real PostgreSQL,
the recording deployer with ten targets, a clock the test moves and the rollout loop's rounds
driven): the list and a rollout's page with its waves, targets and words; resume and abandon
through a confirmation in words, a CSRF token and a one-time form, by a write token only; the
live parts of both pages."""

from __future__ import annotations

import asyncio
import re

import pytest

from deployers.base import Health, HealthState
from tests.support.app import StartApp
from tests.support.console_forms import csrf_of, once_of, sign_in
from tests.support.pushes import NAME
from tests.support.release import Released
from tests.support.rollouts import Fleet, fleet_starter, pushed, step
from tests.support.settings import API_TOKEN, READ_TOKEN

#: How long a live part may take to show news (it looks at least every two seconds).
NEWS_WITHIN = 10.0


@pytest.fixture
def fleet(start_app: StartApp) -> Fleet:
    return fleet_starter(start_app)


async def page_text(app: Released, path: str) -> str:
    response = await app.client.get(path)
    assert response.status == 200, (path, await response.text())
    return await response.text()


def text_of(html: str) -> str:
    """The page's words, without tags and with runs of white space as one space."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def confirm(app: Released, number: int, action: str) -> tuple[dict[str, str], str]:
    """Open the confirmation of ``action`` on rollout ``number`` and confirm it: the form
    posted, and the page the browser is sent to."""
    path = f"/rollouts/{number}/confirm"
    page = await app.client.get(path, params={"action": action})
    assert page.status == 200, await page.text()
    form = {"csrf": await csrf_of(page), "once": once_of(await page.text()), "action": action}
    answer = await app.client.post(path, data=form)
    assert answer.status == 200, await answer.text()
    return form, await answer.text()


async def test_the_list_and_the_page_show_the_waves_targets_and_words(fleet: Fleet) -> None:
    app = await fleet()
    rollout = await pushed(app)
    number, words = rollout["id"], rollout["words"]
    [first] = rollout["waves"][0]["targets"]
    await sign_in(app.client, READ_TOKEN)

    listed = await page_text(app, "/rollouts")
    row = re.search(rf'<tr id="rollout-{number}">.*?</tr>', listed, re.S)
    assert row is not None
    assert text_of(row.group(0)).startswith(f"{number} {NAME} 1.1.0 @sha256:000000000000 running")
    assert f'href="/rollouts/{number}"' in row.group(0)
    assert f"1/3 {words}" in text_of(row.group(0))
    empty = await page_text(app, "/rollouts?state=completed")
    assert "No rollout matches these filters." in text_of(empty)

    shown = text_of(await page_text(app, f"/rollouts/{number}"))
    assert f"running {words}" in shown
    assert "each wave healthy for 10 s before the next starts" in shown
    assert "Wave 1 of 3 soaking Started 2026-12-02 18:48:00 UTC" in shown
    assert "Wave 2 of 3 pending Not started." in shown
    html = await page_text(app, f"/rollouts/{number}")
    target = re.search(r'<tr class="target" data-target="recording:web-01">.*?</tr>', html, re.S)
    assert target is not None
    assert f'<a href="/deployments/{first["deployment_id"]}">' in target.group(0)
    assert text_of(target.group(0)) == (
        f"recording:web-01 {first['deployment_id']} succeeded running 1.0.0 @sha256:000000000000 "
        "none"
    )
    assert html.count('<tr class="target"') == 10
    assert "waits for: wave 2 of 3: starts when wave 1 has been healthy for 10 s" in html
    assert (await app.client.get("/rollouts/999")).status == 404


async def test_a_read_session_sees_no_buttons_and_may_not_confirm(fleet: Fleet) -> None:
    app = await fleet()
    number = (await pushed(app))["id"]
    csrf = await sign_in(app.client, READ_TOKEN)
    page = await page_text(app, f"/rollouts/{number}")
    assert "Abandon…" not in page and "Resume…" not in page and "/confirm" not in page

    path = f"/rollouts/{number}/confirm"
    assert (await app.client.get(path, params={"action": "abandon"})).status == 403
    refused = await app.client.post(path, data={"csrf": csrf, "action": "abandon", "once": "r"})
    assert refused.status == 403 and "may only read" in await refused.text()
    assert (await app.get(f"/api/v1/rollouts/{number}"))["state"] == "running"


async def test_abandon_asks_in_words_acts_once_and_then_is_refused(fleet: Fleet) -> None:
    app = await fleet()
    number = (await pushed(app))["id"]
    await sign_in(app.client, API_TOKEN)
    page = await page_text(app, f"/rollouts/{number}")
    assert "Abandon…" in page and "Resume…" not in page

    foresight = text_of(await page_text(app, f"/rollouts/{number}/confirm?action=abandon"))
    assert f"Abandon rollout {number} of {NAME} 1.1.0?" in foresight
    assert "Its 9 waiting targets will never be deployed" in foresight
    assert "abandoning rolls nothing back" in foresight
    no_csrf = await app.client.post(
        f"/rollouts/{number}/confirm", data={"action": "abandon", "once": "x"}
    )
    assert no_csrf.status == 403

    form, shown = await confirm(app, number, "abandon")
    assert f"Rollout {number}: abandoned by admin at wave 1 of 3" in shown
    assert "Abandon…" not in shown
    after = await app.get(f"/api/v1/rollouts/{number}")
    assert after["state"] == "abandoned"
    cancelled = [t["status"] for w in after["waves"][1:] for t in w["targets"]]
    assert cancelled == ["cancelled"] * 9

    again = await app.client.post(f"/rollouts/{number}/confirm", data=form)
    assert "That form was sent already: nothing more done." in await again.text()
    gone = await app.client.get(f"/rollouts/{number}/confirm?action=abandon")
    assert gone.status == 409
    assert f"rollout {number} is abandoned: there is nothing to abandon" in await gone.text()
    fresh = await app.client.post(f"/rollouts/{number}/confirm", data={**form, "once": "new"})
    assert fresh.status == 409
    assert "only a running or halted rollout can be abandoned" in await fresh.text()
    app.clock.advance(seconds=10)
    await step(app)
    assert len(app.deployer.calls) == 1


async def test_resume_of_a_halted_rollout_through_the_console(fleet: Fleet) -> None:
    app = await fleet(rollout={"on_failure": "halt"})
    sick = Health(state=HealthState.FAILED, words="healthcheck failing")
    app.deployer.health_of["recording:web-01"] = sick
    number = (await pushed(app, rounds=3))["id"]
    await sign_in(app.client, API_TOKEN)
    page = text_of(await page_text(app, f"/rollouts/{number}"))
    assert "halted halted: wave 1 of 3 failed" in page
    assert "Resume… Abandon…" in page

    foresight = text_of(await page_text(app, f"/rollouts/{number}/confirm?action=resume"))
    assert f"Resume rollout {number} of {NAME} 1.1.0?" in foresight
    assert (
        "Wave 1 of 3 deploys 1.1.0 again at once where its deploys failed (they were released "
        "before: windows and approvals are not asked again), and soaks 10 s afresh"
    ) in foresight
    assert "Then its 9 waiting targets follow, wave by wave" in foresight
    assert "If a wave fails again, it halts again." in foresight
    bad = await app.client.get(f"/rollouts/{number}/confirm?action=explode")
    assert bad.status == 400 and "action must be one of resume, abandon" in await bad.text()

    del app.deployer.health_of["recording:web-01"]
    _, shown = await confirm(app, number, "resume")
    assert f"Rollout {number}: resumed by admin: wave 1 of 3 deploying" in shown
    assert (await app.get(f"/api/v1/rollouts/{number}"))["state"] == "running"


async def test_both_pages_are_live_parts(fleet: Fleet) -> None:
    app = await fleet()
    number = (await pushed(app))["id"]
    await sign_in(app.client, READ_TOKEN)
    for path, part, said in (
        ("/live/rollouts?repository=team/app", "rollouts", f'<tr id="rollout-{number}">'),
        (f"/live/rollout?id={number}", "rollout", 'data-target="recording:web-01"'),
    ):
        async with app.client.get(path) as stream:
            assert stream.content_type == "text/event-stream"
            first = await stream.content.readuntil(b"\n\n")
        assert first.startswith(f"event: {part}\ndata: ".encode()), first[:80]
        assert said.encode() in first
    assert (await app.client.get("/live/rollout?id=999")).status == 404
    assert (await app.client.get("/live/rollouts?state=sideways")).status == 400


async def test_a_rollouts_page_shows_it_move_without_a_reload(fleet: Fleet) -> None:
    app = await fleet()
    number = (await pushed(app))["id"]
    await sign_in(app.client, READ_TOKEN)
    async with app.client.get(f"/live/rollout?id={number}") as stream:
        assert b"wave 2 of 3 starts when" in await stream.content.readuntil(b"\n\n")
        status, _ = await app.post(f"/api/v1/rollouts/{number}/abandon")
        assert status == 200

        async def next_parts() -> None:
            while b"abandoned by admin at wave 1 of 3" not in await stream.content.readuntil(
                b"\n\n"
            ):
                pass

        await asyncio.wait_for(next_parts(), NEWS_WITHIN)
