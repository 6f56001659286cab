"""Release control through the real app, a real PostgreSQL and the recording deployer, with a
clock the tests move: windows, cooldown, settle, approvals, freezes, restarts, and two
replicas racing to release one wait. Time is never slept on: the loops' rounds are driven."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from deployers.base import Target
from handlers.references import ImageName
from receiver.reloading import services_of
from tests.support.api import deployments
from tests.support.app import StartApp
from tests.support.clock import ManualClock
from tests.support.metrics import count, scrape, value
from tests.support.pushes import NAME, REGISTRY, WEB, push, ref
from tests.support.release import (
    ALICE_TOKEN,
    BOB_TOKEN,
    EVENINGS,
    WEDNESDAY,
    Start,
    starter,
)
from tests.support.settings import API_TOKEN, READ_TOKEN

IMAGE = ImageName(registry=REGISTRY, repository=NAME)
OPENS = WEDNESDAY.replace(hour=21, minute=0)  # 22:00 in Berlin
WINDOW_WORDS = "outside the window mon–fri 22:00–23:30 Europe/Berlin; opens in 2 h 12 min"


@pytest.fixture
def start(start_app: StartApp) -> Start:
    return starter(start_app)


async def kinds_of_notices(client: Any) -> list[tuple[int, str]]:
    response = await client.get(
        "/api/v1/notices", headers={"Authorization": f"Bearer {READ_TOKEN}"}
    )
    return sorted((n["deployment_id"], n["kind"]) for n in (await response.json())["notices"])


async def test_a_push_outside_the_window_waits_and_deploys_once_when_it_opens(start: Start) -> None:
    app = await start(windows=EVENINGS)
    await push(app.client, "1.1.0", 2)
    await app.rounds(2)

    waiting = await app.only()
    assert (waiting["status"], waiting["wait"]) == ("waiting", WINDOW_WORDS)
    assert waiting["waits"] == [
        {"kind": "window", "words": WINDOW_WORDS, "until": OPENS.isoformat()}
    ]
    assert app.deployer.calls == []

    app.clock.set(OPENS - timedelta(seconds=1))
    await app.rounds(2)
    assert app.deployer.calls == []
    app.clock.set(OPENS)
    await app.rounds(3)

    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]
    done = await app.only()
    assert (done["status"], done["wait"]) == ("succeeded", None)
    assert await kinds_of_notices(app.client) == [
        (done["id"], "outcome"),
        (done["id"], "released"),
        (done["id"], "waiting"),
    ]


async def test_a_window_that_opened_while_regdeploy_was_down_is_honoured(start: Start) -> None:
    first = await start(windows=EVENINGS)
    await push(first.client, "1.1.0", 2)
    await first.rounds(1)
    await first.client.close()

    # Back at 23:00 in Berlin: the window is still open.
    clock = ManualClock(OPENS + timedelta(hours=1))
    again = await start(windows=EVENINGS, clock=clock, deployer=first.deployer)
    await again.rounds(2)
    assert first.deployer.deployed(WEB) == [ref("1.1.0", 2)]


async def test_a_window_that_closed_while_regdeploy_was_down_waits_for_the_next(
    start: Start,
) -> None:
    first = await start(windows=EVENINGS)
    await push(first.client, "1.1.0", 2)
    await first.rounds(1)
    await first.client.close()

    # Back at 23:45 in Berlin: closed again; Thursday's opening is next.
    clock = ManualClock(OPENS + timedelta(hours=1, minutes=45))
    again = await start(windows=EVENINGS, clock=clock, deployer=first.deployer)
    await again.rounds(2)
    waiting = await again.only()
    assert waiting["status"] == "waiting"
    assert waiting["wait"].endswith("opens in 22 h 15 min")
    assert first.deployer.calls == []


async def test_a_burst_of_ten_pushes_settles_into_one_deploy(start: Start) -> None:
    app = await start(settle="30s")
    first = WEDNESDAY - timedelta(seconds=10)
    for i in range(10):
        at = first + timedelta(seconds=i)
        await push(app.client, f"1.1.{i}", 10 + i, at=at.isoformat())
        app.clock.set(at)
        await app.rounds(1)

    last = first + timedelta(seconds=9)
    waiting = await app.only()
    assert (waiting["tag"], waiting["wait"]) == ("1.1.9", "settle: last push 0 s ago, needs 30 s")
    app.clock.set(last + timedelta(seconds=29))
    await app.rounds(2)
    assert app.deployer.calls == []

    app.clock.set(last + timedelta(seconds=30))
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.9", 19)]
    statuses = [d["status"] for d in await deployments(app.client)]
    assert (statuses.count("superseded"), statuses.count("succeeded")) == (9, 1)


async def test_an_image_deploys_only_once_old_enough(start: Start) -> None:
    app = await start(min_age="10m")
    pushed = WEDNESDAY - timedelta(minutes=4, seconds=30)
    await push(app.client, "1.1.0", 2, at=pushed.isoformat())
    await app.rounds(1)
    assert (await app.only())["wait"] == "cooldown: pushed 4 min ago, needs 10 min"

    app.clock.set(pushed + timedelta(minutes=10))
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]


async def test_two_approvals_from_two_tokens_release_it_and_one_token_counts_once(
    start: Start,
) -> None:
    app = await start(approvals=2)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    waiting = await app.only()
    assert waiting["wait"] == "0 of 2 approvals"
    path = f"/api/v1/deployments/{waiting['id']}/approve"

    status, answer = await app.post(path, token=ALICE_TOKEN)
    assert (status, answer["status"], answer["counted"]) == (200, "waiting", True)
    assert answer["message"].endswith("approved by alice; waits for: 1 of 2 approvals (alice)")
    status, again = await app.post(path, {"comment": "really"}, token=ALICE_TOKEN)
    assert (status, again["counted"], again["waits"][0]["words"]) == (
        200,
        False,
        "1 of 2 approvals (alice)",
    )
    assert (await app.post(path, token=READ_TOKEN))[0] == 403
    await app.rounds(2)
    assert app.deployer.calls == []

    status, answer = await app.post(path, token=BOB_TOKEN)
    assert (status, answer["status"], answer["outcome"]) == (200, "planned", "release")
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]
    shown = await app.get(f"/api/v1/deployments/{waiting['id']}")
    assert [v["actor"] for v in shown["approvals"]["votes"]] == ["alice", "bob"]
    assert (await app.post(path, token=BOB_TOKEN))[0] == 409  # it no longer waits


async def test_a_rejection_ends_it(start: Start) -> None:
    app = await start(approvals=2)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    waiting = await app.only()
    await app.post(f"/api/v1/deployments/{waiting['id']}/approve", token=ALICE_TOKEN)

    status, answer = await app.post(
        f"/api/v1/deployments/{waiting['id']}/reject", {"comment": "breaks login"}, token=BOB_TOKEN
    )
    assert (status, answer["status"]) == (200, "rejected")
    assert answer["message"].endswith("): rejected by bob: breaks login")
    await app.rounds(2)
    assert app.deployer.calls == []
    ended = await app.only()
    assert (ended["status"], ended["message"]) == ("rejected", "rejected by bob: breaks login")
    assert (await app.post(f"/api/v1/deployments/{waiting['id']}/approve"))[0] == 409


async def test_missing_approvals_expire(start: Start) -> None:
    app = await start(approvals=1, approval_deadline="1h")
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    assert (await app.only())["wait"] == "0 of 1 approval, expires in 1 h"

    app.clock.advance(hours=1)
    await app.rounds(2)
    expired = await app.only()
    assert (expired["status"], expired["message"]) == (
        "expired",
        "expired: 0 of 1 approval within 1 h",
    )
    assert (expired["id"], "outcome") in await kinds_of_notices(app.client)
    assert app.deployer.calls == []


async def test_a_newer_digest_supersedes_a_waiting_deploy_and_starts_a_fresh_vote(
    start: Start,
) -> None:
    app = await start(approvals=2)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    older = await app.only()
    await app.post(f"/api/v1/deployments/{older['id']}/approve", token=ALICE_TOKEN)

    await push(app.client, "1.1.0", 3)  # the same tag, a new digest
    await app.rounds(1)
    newer = await app.only()
    assert (newer["digest"], newer["wait"]) == (f"sha256:{3:064x}", "0 of 2 approvals")
    status, _ = await app.post(f"/api/v1/deployments/{older['id']}/approve", token=BOB_TOKEN)
    assert status == 409
    for token in (ALICE_TOKEN, BOB_TOKEN):
        await app.post(f"/api/v1/deployments/{newer['id']}/approve", token=token)
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 3)]


async def test_freeze_push_unfreeze_deploys_the_newest_once(start: Start) -> None:
    app = await start()
    status, frozen = await app.post("/api/v1/freeze", {"repository": NAME, "reason": "incident 42"})
    assert (status, frozen["message"]) == (200, "team/app frozen by admin: incident 42")
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    await push(app.client, "1.2.0", 3)
    await app.rounds(2)
    waiting = await app.only()
    assert (waiting["tag"], waiting["wait"]) == ("1.2.0", "team/app frozen by admin: incident 42")
    assert app.deployer.calls == []

    status, thawed = await app.post("/api/v1/unfreeze", {"repository": NAME})
    assert (status, thawed["released"], thawed["freezes"]) == (200, [waiting["id"]], [])
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.2.0", 3)]
    audit = (await app.get(f"/api/v1/repos/{NAME}"))["audit"]
    assert [(a["field"], a["actor"]) for a in audit][:2] == [
        ("freeze", "admin"),
        ("freeze", "admin"),
    ]


async def test_a_freeze_of_everything_holds_every_repository(start: Start) -> None:
    app = await start()
    assert (await app.post("/api/v1/freeze", {"reason": "release day"}))[0] == 200
    assert (await app.post("/api/v1/freeze", {"repository": "no/such", "reason": "x"}))[0] == 404
    await push(app.client, "1.1.0", 2)
    await app.rounds(2)
    assert (await app.only())["wait"] == "every repository frozen by admin: release day"
    status = await app.get("/api/v1/status")
    assert (status["queue"]["waiting_deploys"], len(status["freezes"])) == (1, 1)
    await app.post("/api/v1/unfreeze")
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]


async def test_force_takes_a_manual_deploy_past_the_window_and_is_audited(start: Start) -> None:
    app = await start(windows=EVENINGS)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    status, answer = await app.post(f"/api/v1/repos/{NAME}/deploy", {"tag": "1.1.0"})
    assert status == 202
    assert answer["message"] == f"1.1.0 to {WEB.key} waits for: {WINDOW_WORDS}"

    status, answer = await app.post(f"/api/v1/repos/{NAME}/deploy", {"tag": "1.1.0", "force": True})
    assert (status, answer["message"]) == (202, f"deploying 1.1.0 to {WEB.key}")
    await app.rounds(2)
    assert app.deployer.deployed(WEB) == [ref("1.1.0", 2)]
    forced = await app.only()
    assert (forced["forced_by"], forced["status"]) == ("admin", "succeeded")
    audit = (await app.get(f"/api/v1/repos/{NAME}"))["audit"]
    assert (audit[0]["field"], audit[0]["new"]["trigger"]) == ("force", "manual")


async def test_two_replicas_racing_release_one_wait_deploy_it_once(start: Start) -> None:
    clock = ManualClock(WEDNESDAY)
    one = await start(windows=EVENINGS, clock=clock)
    two = await start(windows=EVENINGS, clock=clock, deployer=one.deployer)
    await push(one.client, "1.1.0", 2)
    await one.rounds(1)
    clock.set(OPENS)

    first, second = one.worker, two.worker
    for _ in range(3):
        await asyncio.gather(first.work_once(), second.work_once())
    await asyncio.gather(first.finish(), second.finish())

    assert one.deployer.calls == [(WEB.key, ref("1.1.0", 2))]
    assert (await one.only())["status"] == "succeeded"


async def test_explain_and_the_deployments_say_the_same_words(start: Start) -> None:
    app = await start(windows=EVENINGS, approvals=2)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    waiting = await app.only()
    await app.post(f"/api/v1/deployments/{waiting['id']}/approve", token=ALICE_TOKEN)

    explained = await app.get(f"/api/v1/repos/{NAME}/explain")
    [target] = explained["targets"]
    shown = await app.get(f"/api/v1/deployments/{waiting['id']}")
    assert target["waiting"]["wait"] == shown["wait"] == f"{WINDOW_WORDS}; 1 of 2 approvals (alice)"
    assert target["release_rules"] == ["windows mon–fri 22:00–23:30 Europe/Berlin", "2 approvals"]


async def test_workload_labels_override_the_rules_and_a_bad_one_is_a_skip(start: Start) -> None:
    app = await start(windows=EVENINGS)
    labelled = app.deployer
    target = Target(kind="recording", name="web", release={"window": "always"})
    labelled.discoverable.append((target, IMAGE))
    await push(app.client, "1.1.0", 2)
    await app.rounds(2)
    assert labelled.deployed(WEB) == [ref("1.1.0", 2)]

    bad = Target(kind="recording", name="web", release={"approvals": "many"})
    labelled.discoverable[:] = [(bad, IMAGE)]
    services_of(app.client.app).inventory.changed()
    await push(app.client, "1.2.0", 3)
    await app.rounds(2)
    skipped = [d for d in await deployments(app.client) if d["tag"] == "1.2.0"]
    assert skipped[0]["status"] == "skipped"
    assert skipped[0]["reason"].startswith("not deployed: label regdeploy.approvals='many'")


async def test_metrics_count_waits_votes_and_endings(start: Start) -> None:
    app = await start(approvals=1)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    samples = await scrape(app.client)
    assert value(samples, "regdeploy_waiting_deploys", reason="approval") == 1
    assert count(samples, "regdeploy_waits_total", reason="approval") == 1
    waiting = await app.only()
    await app.post(f"/api/v1/deployments/{waiting['id']}/approve", token=API_TOKEN)
    samples = await scrape(app.client)
    assert count(samples, "regdeploy_approvals_total", vote="approve") == 1
    assert count(samples, "regdeploy_waits_ended_total", outcome="released") == 1
    assert value(samples, "regdeploy_waiting_deploys", reason="approval") == 0
