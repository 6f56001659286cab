"""Release control in the store, against a real PostgreSQL: a waiting deploy is held by one
transaction at a time and leaves ``waiting`` once; freezes hold what is decided after them; a
newer decision supersedes what waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.references import parse_reference
from receiver.decide.rules.release import ReleaseOutcome, ReleaseRules, ReleaseVerdict
from receiver.store import Store
from receiver.store.records import DeploymentStatus, Plan
from tests.support.decisions import record_plans
from tests.support.pushes import NAME, WEB, ref

NOW = datetime(2026, 12, 2, 18, 48, tzinfo=UTC)


def plan(tag: str, n: int, rules: ReleaseRules) -> Plan:
    return Plan(
        target=WEB,
        repository_name=NAME,
        image=parse_reference(ref(tag, n)),
        deploy=True,
        reason="requested",
        trigger="manual",
        release=rules,
    )


async def status_of(store: Store, deployment_id: int) -> DeploymentStatus:
    return (await store.deployments.get_deployment(deployment_id)).status


async def test_a_waiting_deploy_is_held_by_one_claim_and_released_once(store: Store) -> None:
    [waiting] = await record_plans(store, [plan("1.1.0", 2, ReleaseRules(approvals=1))], now=NOW)
    assert await status_of(store, waiting) is DeploymentStatus.WAITING

    async with store.releases.claim_due(now=NOW) as first:
        assert [item.deployment.id for item in first.items] == [waiting]
        async with store.releases.claim_due(now=NOW) as second:
            assert second.items == []  # held: skipped, not waited for
        assert await first.release(first.items[0], message="released")
    async with store.releases.claim_due(now=NOW + timedelta(days=1)) as later:
        assert later.items == []
    assert await status_of(store, waiting) is DeploymentStatus.PLANNED


async def test_what_is_decided_while_frozen_waits_and_unfreezing_makes_it_due(
    store: Store,
) -> None:
    await store.releases.freeze(NAME, reason="incident 42", actor="ops", at=NOW)
    [older] = await record_plans(store, [plan("1.1.0", 2, ReleaseRules())], now=NOW)
    [newer] = await record_plans(store, [plan("1.2.0", 3, ReleaseRules())], now=NOW)
    assert await status_of(store, older) is DeploymentStatus.SUPERSEDED
    assert await status_of(store, newer) is DeploymentStatus.WAITING

    async with store.releases.claim_due(now=NOW) as batch:  # announced, kept waiting
        verdict = ReleaseVerdict(outcome=ReleaseOutcome.WAIT, waits=())
        await batch.keep(batch.items[0], verdict)
    stored = await store.deployments.get_deployment(newer)
    assert (stored.wait_kinds, stored.due_at, stored.announced) == ((), None, True)
    async with store.releases.claim_due(now=NOW) as batch:
        assert batch.items == []

    assert await store.releases.unfreeze(NAME, actor="ops", at=NOW) is not None
    assert await store.releases.unfreeze(NAME, actor="ops", at=NOW) is None
    assert await store.releases.list_freezes() == []


async def test_a_decision_for_what_already_waits_joins_it(store: Store) -> None:
    rules = ReleaseRules(approvals=2)
    [first] = await record_plans(store, [plan("1.1.0", 2, rules)], now=NOW)
    [again] = await record_plans(store, [plan("1.1.0", 2, rules)], now=NOW)
    assert again == first
    [other] = await record_plans(store, [plan("1.1.1", 4, rules)], now=NOW)
    assert await status_of(store, first) is DeploymentStatus.SUPERSEDED
    assert await status_of(store, other) is DeploymentStatus.WAITING
