"""A trust check's hold in the store, against a real PostgreSQL: a running deploy a check holds
back waits (since when, until when, how often), is woken by the news it waits for, and never
waits behind a newer decision for its target (it would go after it and move the target back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.references import parse_reference
from receiver.decide.rules.release import ReleaseRules
from receiver.decide.trust.policy import Check, CheckOutcome, CheckResult
from receiver.store import Store
from receiver.store.records import Deployment, DeploymentStatus, Plan
from tests.support.decisions import record_plans
from tests.support.pushes import NAME, WEB, ref

NOW = datetime(2026, 12, 2, 18, 48, tzinfo=UTC)
WORKER = "worker-1"
AWAITING = CheckResult(check=Check.SCAN, outcome=CheckOutcome.WAITING, words="awaiting scan")


def plan(tag: str, n: int) -> Plan:
    image = parse_reference(ref(tag, n))
    return Plan(target=WEB, repository_name=NAME, image=image, deploy=True, reason="requested",
                trigger="manual", release=ReleaseRules())  # fmt: skip


async def running(store: Store, tag: str, n: int) -> Deployment:
    await record_plans(store, [plan(tag, n)], now=NOW)
    claimed = await store.deployments.claim_deployment(worker=WORKER, now=NOW)
    assert claimed is not None and claimed.image.tag == tag
    return claimed


async def hold(store: Store, deployment: Deployment, *, at: datetime) -> DeploymentStatus:
    return await store.deployments.hold_deployment(
        deployment, worker=WORKER, checks=[AWAITING], words="awaiting scan",
        until=at + timedelta(minutes=1), now=at,
    )  # fmt: skip


async def test_a_held_deploy_waits_and_the_news_wakes_it(store: Store) -> None:
    first = await running(store, "1.1.0", 1)
    assert await hold(store, first, at=NOW) is DeploymentStatus.WAITING
    held = await store.deployments.get_deployment(first.id)
    assert (held.status, held.wait_kinds, held.hold_words) == (
        DeploymentStatus.WAITING, ("scan",), "awaiting scan")  # fmt: skip
    assert (held.held_since, held.held_until, held.holds) == (NOW, NOW + timedelta(minutes=1), 1)
    assert held.checks == (AWAITING,)
    assert held.tries == 0  # a hold is no deploy attempt
    assert not held.announced  # release control announces the first hold

    later = NOW + timedelta(seconds=10)
    assert await store.deployments.wake_held(held.image.digest or "", now=later) == [first.id]
    woken = await store.deployments.get_deployment(first.id)
    assert woken.held_until == later and woken.due_at == later
    assert await store.deployments.wake_held("sha256:" + "9" * 64, now=later) == []


async def test_a_second_hold_keeps_when_the_first_began(store: Store) -> None:
    first = await running(store, "1.1.0", 1)
    await hold(store, first, at=NOW)
    async with store.releases.claim_due(now=NOW + timedelta(minutes=2)) as batch:
        [item] = batch.items
        assert await batch.release(item, message="released")
    again = await store.deployments.claim_deployment(worker=WORKER, now=NOW + timedelta(minutes=2))
    assert again is not None and again.id == first.id
    assert await hold(store, again, at=NOW + timedelta(minutes=2)) is DeploymentStatus.WAITING
    held = await store.deployments.get_deployment(first.id)
    assert (held.held_since, held.holds, held.attempts, held.tries) == (NOW, 2, 2, 0)
    assert held.announced  # announced once, at the first hold


async def test_a_deploy_is_not_held_behind_a_newer_decision(store: Store) -> None:
    older = await running(store, "1.1.0", 1)
    [newer] = await record_plans(store, [plan("1.2.0", 2)], now=NOW)  # queued meanwhile

    assert await hold(store, older, at=NOW) is DeploymentStatus.SUPERSEDED
    ended = await store.deployments.get_deployment(older.id)
    assert ended.status is DeploymentStatus.SUPERSEDED
    assert ended.message is not None and "a newer decision" in ended.message
    assert (await store.deployments.get_deployment(newer)).status is DeploymentStatus.PLANNED
