"""Release control in the console, over HTTP as a browser meets it: the waits in words on a
deployment's page, in the list and on Explain; approving and rejecting with a confirmation,
a CSRF token and a one-time form, by tokens allowed to approve only; the freeze switch, of every
repository and of one. Time is the test's clock; the loops' rounds are driven."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app import StartApp
from tests.support.console_forms import csrf_of, once_of, sign_in
from tests.support.metrics import count, parse
from tests.support.pushes import WEB, push, ref
from tests.support.release import ALICE_TOKEN, BOB_TOKEN, Released, Start, starter
from tests.support.settings import API_TOKEN, READ_TOKEN

FROZEN = "every repository frozen by admin: incident 42"


@pytest.fixture
def start(start_app: StartApp) -> Start:
    return starter(start_app)


async def waiting_deploy(app: Released) -> dict[str, Any]:
    """Push 1.1.0 and decide it: the deploy that waits."""
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    waiting = await app.only()
    assert waiting["status"] == "waiting"
    return waiting


async def page_text(app: Released, path: str) -> str:
    response = await app.client.get(path)
    assert response.status == 200, path
    return await response.text()


async def confirm_vote(app: Released, number: int, action: str, **fields: str) -> str:
    """Open the confirmation of ``action`` on deployment ``number`` and confirm it; the page
    the browser is sent to."""
    page = await app.client.get(f"/deployments/{number}/confirm", params={"action": action})
    assert page.status == 200, await page.text()
    form = {"csrf": await csrf_of(page), "once": once_of(await page.text()), "action": action}
    answer = await app.client.post(f"/deployments/{number}/confirm", data={**form, **fields})
    assert answer.status == 200, await answer.text()
    return await answer.text()


async def test_the_waits_are_in_words_on_every_page_and_a_read_token_has_no_buttons(
    start: Start,
) -> None:
    app = await start(approvals=2, approval_deadline="24h")
    waiting = await waiting_deploy(app)
    words = "0 of 2 approvals, expires in 24 h"
    assert waiting["wait"] == words
    csrf = await sign_in(app.client, READ_TOKEN)

    page = await page_text(app, f"/deployments/{waiting['id']}")
    assert f"<li>{words}</li>" in page and "2 approvals needed" in page
    assert "Approve…" not in page and "Reject…" not in page and "/confirm" not in page
    assert f"waits for: {words}" in await page_text(app, "/deployments")
    assert f"waits for: {words}" in await page_text(app, "/explain?repository=team/app")
    assert "Freeze every repository…" not in await page_text(app, "/")

    confirm = f"/deployments/{waiting['id']}/confirm"
    assert (await app.client.get(confirm, params={"action": "approve"})).status == 403
    refused = await app.client.post(confirm, data={"csrf": csrf, "action": "approve", "once": "r1"})
    assert refused.status == 403 and "may only read" in await refused.text()
    after = await app.get(f"/api/v1/deployments/{waiting['id']}")
    assert (after["status"], after["approvals"]["votes"]) == ("waiting", [])


async def test_a_vote_without_the_csrf_token_gets_403_and_changes_nothing(start: Start) -> None:
    app = await start(approvals=1)
    waiting = await waiting_deploy(app)
    csrf = await sign_in(app.client, ALICE_TOKEN)
    confirm = f"/deployments/{waiting['id']}/confirm"
    for forged in ({}, {"csrf": "forged"}, {"csrf": csrf[:-1]}):
        answer = await app.client.post(confirm, data={"action": "approve", "once": "a", **forged})
        assert answer.status == 403
        assert "CSRF" in await answer.text()
    samples = parse(await (await app.client.get("/metrics")).text())
    assert count(samples, "regdeploy_auth_failures_total", surface="console", status="403") == 3
    await app.rounds(2)
    assert app.deployer.calls == []
    after = await app.get(f"/api/v1/deployments/{waiting['id']}")
    assert (after["status"], after["approvals"]["votes"]) == ("waiting", [])


async def test_an_approval_through_the_console_counts_once_and_the_last_one_deploys(
    start: Start,
) -> None:
    app = await start(approvals=2)
    waiting = await waiting_deploy(app)
    number = waiting["id"]
    await sign_in(app.client, ALICE_TOKEN)
    page = await page_text(app, f"/deployments/{number}")
    assert "Approve…" in page and "Reject…" in page
    assert "reading, approving and rejecting" in page

    foresight = await page_text(app, f"/deployments/{number}/confirm?action=approve")
    assert "It keeps waiting, for: 1 of 2 approvals (alice)." in foresight
    once = once_of(foresight)
    form = {"csrf": await csrf_of(await app.client.get("/")), "action": "approve", "once": once}
    shown = await app.client.post(f"/deployments/{number}/confirm", data=form)
    assert "approved by alice; waits for: 1 of 2 approvals (alice)" in await shown.text()
    again = await app.client.post(f"/deployments/{number}/confirm", data=form)
    assert "sent already" in await again.text()
    assert "alice approved it already" in await page_text(
        app, f"/deployments/{number}/confirm?action=approve"
    )
    assert "alice had approved it already" in await confirm_vote(app, number, "approve")
    votes = (await app.get(f"/api/v1/deployments/{number}"))["approvals"]["votes"]
    assert [(v["actor"], v["vote"]) for v in votes] == [("alice", "approve")]
    await app.rounds(2)
    assert app.deployer.calls == []

    await app.client.post("/signout", data={"csrf": await csrf_of(await app.client.get("/"))})
    await sign_in(app.client, BOB_TOKEN)
    foresight = await page_text(app, f"/deployments/{number}/confirm?action=approve")
    assert "1.1.0 deploys to recording:web now" in foresight
    assert "released: it deploys now" in await confirm_vote(app, number, "approve")
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]
    done = await page_text(app, f"/deployments/{number}")
    assert "succeeded" in done and "Approve…" not in done


async def test_a_rejection_through_the_console_ends_it_with_its_reason(start: Start) -> None:
    app = await start(approvals=1)
    waiting = await waiting_deploy(app)
    await sign_in(app.client, API_TOKEN)
    foresight = await page_text(app, f"/deployments/{waiting['id']}/confirm?action=reject")
    assert "It ends, rejected by admin: nothing deploys" in foresight

    shown = await confirm_vote(app, waiting["id"], "reject", comment="breaks login")
    assert "rejected by admin: breaks login" in shown
    await app.rounds(2)
    assert app.deployer.calls == []
    ended = await app.only()
    assert (ended["status"], ended["message"]) == ("rejected", "rejected by admin: breaks login")
    gone = await app.client.get(f"/deployments/{waiting['id']}/confirm?action=approve")
    assert gone.status == 409 and "not waiting" in await gone.text()


async def confirm_freeze(app: Released, **query: str) -> str:
    """Open the freeze switch's confirmation for ``query`` and confirm it; the page the
    browser is sent to."""
    page = await app.client.get("/freezes/confirm", params=query)
    assert page.status == 200, await page.text()
    text = await page.text()
    form = {"csrf": await csrf_of(page), "once": once_of(text), "repository": "", **query}
    answer = await app.client.post("/freezes/confirm", data=form)
    assert answer.status == 200, await answer.text()
    return await answer.text()


async def test_freezing_every_repository_from_the_overview_holds_then_releases_once(
    start: Start,
) -> None:
    app = await start()
    await sign_in(app.client, API_TOKEN)
    assert "Freeze every repository…" in await page_text(app, "/")
    missing = await app.client.get("/freezes/confirm", params={"action": "freeze"})
    assert missing.status == 400 and "say why" in await missing.text()
    foresight = await page_text(app, "/freezes/confirm?action=freeze&reason=incident+42")
    assert "decided from now on waits until it is unfrozen" in foresight

    shown = await confirm_freeze(app, action="freeze", reason="incident 42")
    assert "Unfreeze every repository…" in shown and FROZEN in shown
    [freeze] = (await app.get("/api/v1/freezes"))["freezes"]
    assert (freeze["actor"], freeze["reason"], freeze["repository"]) == (
        "admin",
        "incident 42",
        None,
    )
    waiting = await waiting_deploy(app)
    assert waiting["wait"] == FROZEN
    assert f"waits for: {FROZEN}" in await page_text(app, "/deployments")
    assert FROZEN in await page_text(app, "/repositories/team/app")

    lifted = await page_text(app, "/freezes/confirm?action=unfreeze")
    assert "the newest per target deploys" in lifted and f"<td>{WEB.key}</td>" in lifted
    assert "released" in await confirm_freeze(app, action="unfreeze")
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]
    assert (await app.get("/api/v1/freezes"))["freezes"] == []


async def test_a_repository_is_frozen_from_its_page_by_a_write_token_only(start: Start) -> None:
    app = await start()
    csrf = await sign_in(app.client, ALICE_TOKEN)
    assert "Freeze team/app…" not in await page_text(app, "/repositories/team/app")
    query = {"action": "freeze", "repository": "team/app", "reason": "load test"}
    assert (await app.client.get("/freezes/confirm", params=query)).status == 403
    refused = await app.client.post("/freezes/confirm", data={**query, "csrf": csrf, "once": "f"})
    assert "may only read, approve and reject" in await refused.text()
    forged = await app.client.post("/freezes/confirm", data={**query, "once": "g"})
    assert forged.status == 403 and "CSRF" in await forged.text()
    assert (await app.get("/api/v1/freezes"))["freezes"] == []

    await app.client.post("/signout", data={"csrf": csrf})
    await sign_in(app.client, API_TOKEN)
    assert "Freeze team/app…" in await page_text(app, "/repositories/team/app")
    shown = await confirm_freeze(app, **query)
    assert "team/app frozen by admin: load test" in shown and "Unfreeze team/app…" in shown
    audit = (await app.get("/api/v1/repos/team/app"))["audit"]
    assert [(a["actor"], a["field"]) for a in audit] == [("admin", "freeze")]
    waiting = await waiting_deploy(app)
    assert waiting["wait"] == "team/app frozen by admin: load test"

    await confirm_freeze(app, action="unfreeze", repository="team/app")
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]
