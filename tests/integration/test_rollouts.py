"""Rollouts through the real app, a real PostgreSQL and the recording deployer, under a clock
the tests move: waves after each soak, a failing canary halted and rolled back, halt and resume,
abandon, and a newer push during a halt. The loops' rounds are driven (never slept on), and the
recording deployer's calls are the history."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import pytest

from deployers.base import Health, HealthState, Target
from handlers.references import ImageName
from receiver.reloading import services_of
from tests.support.api import deployments
from tests.support.app import StartApp
from tests.support.clock import ManualClock
from tests.support.metrics import count, scrape
from tests.support.pushes import NAME, REGISTRY, digest, push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.release import ALICE_TOKEN, WEDNESDAY, Released, auth, starter
from tests.support.rollouts import NAMES, TARGET_ENTRIES, TARGETS, fleet_starter, step
from tests.support.settings import API_TOKEN, READ_TOKEN

SOAK = timedelta(seconds=10)


class Fleet:
    """The app with team/app on ten recording targets running 1.0.0, rolled out in waves."""

    def __init__(self, app: Released) -> None:
        self.app = app

    @property
    def deployer(self) -> RecordingDeployer:
        return self.app.deployer

    async def step(self, rounds: int = 2) -> None:
        await step(self.app, rounds)

    async def soak(self) -> None:
        self.app.clock.advance(seconds=SOAK.total_seconds())
        await self.step()

    async def rollouts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.app.get("/api/v1/rollouts"))["rollouts"]
        return found

    async def only_rollout(self) -> dict[str, Any]:
        [rollout] = await self.rollouts()
        return rollout

    def moved(self) -> list[str]:
        """Targets in the order the deployer was asked to move them, with the image."""
        return [
            f"{key.split(':')[1]}={image.rsplit(':', 1)[-1][-2:]}"
            for key, image in self.deployer.calls
        ]


@pytest.fixture
def fleet_of(start_app: StartApp) -> Any:
    start = fleet_starter(start_app)

    async def make(**rollout: Any) -> Fleet:
        return Fleet(await start(rollout=rollout))

    return make


async def test_a_good_push_moves_one_then_four_then_five_each_after_a_healthy_soak(
    fleet_of: Any,
) -> None:
    fleet = await fleet_of()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    assert [c[0] for c in fleet.deployer.calls] == ["recording:web-01"]
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "running"
    assert [len(w["targets"]) for w in rollout["waves"]] == [1, 4, 5]
    assert [w["state"] for w in rollout["waves"]] == ["soaking", "pending", "pending"]
    assert "wave 2 of 3 starts when wave 1 has been healthy for 10 s" in rollout["words"]

    fleet.app.clock.advance(seconds=9)
    await fleet.step()
    assert len(fleet.deployer.calls) == 1  # not before the soak has passed

    fleet.app.clock.advance(seconds=1)
    await fleet.step(3)
    assert [c[0].split(":")[1] for c in fleet.deployer.calls] == NAMES[:5]
    await fleet.soak()
    await fleet.step(2)
    assert [c[0].split(":")[1] for c in fleet.deployer.calls] == NAMES
    await fleet.soak()

    rollout = await fleet.only_rollout()
    assert rollout["state"] == "completed", rollout["words"]
    assert [w["state"] for w in rollout["waves"]] == ["healthy"] * 3
    assert all(image == ref("1.1.0", 2) for _, image in fleet.deployer.calls)
    kinds = [d["status"] for d in await deployments(fleet.app.client)]
    assert kinds.count("succeeded") == 10
    samples = await scrape(fleet.app.client)
    assert count(samples, "regdeploy_rollouts_total", outcome="started") == 1
    assert count(samples, "regdeploy_rollouts_total", outcome="completed") == 1
    assert count(samples, "regdeploy_rollout_wave_seconds_count", outcome="healthy") == 3


async def test_a_failing_canary_halts_and_is_rolled_back_and_nobody_else_moves(
    fleet_of: Any,
) -> None:
    fleet = await fleet_of()
    fleet.deployer.crashing.add(digest(2))
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step(4)

    assert fleet.deployer.calls == [
        ("recording:web-01", ref("1.1.0", 2)),
        ("recording:web-01", ref("1.0.0", 1)),
    ]
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "rolled_back", rollout["words"]
    assert "exited with code 1" in rollout["reason"]
    statuses = sorted(d["status"] for d in await deployments(fleet.app.client))
    assert statuses == ["cancelled"] * 9 + ["succeeded"] * 2
    notices = await fleet.app.get("/api/v1/notices")
    kinds = sorted(n["kind"] for n in notices["notices"])
    assert kinds == ["rollout_halted", "rollout_rolled_back", "rollout_started"]
    samples = await scrape(fleet.app.client)
    assert count(samples, "regdeploy_rollouts_total", outcome="halted") == 1
    assert count(samples, "regdeploy_rollouts_total", outcome="rolled_back") == 1
    assert count(samples, "regdeploy_rollbacks_total") == 1
    assert count(samples, "regdeploy_rollout_wave_seconds_count", outcome="failed") == 1


async def test_a_restart_during_the_soak_fails_the_wave(fleet_of: Any) -> None:
    fleet = await fleet_of()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    fleet.deployer.restarts["recording:web-01"] += 1
    fleet.app.clock.advance(seconds=3)
    await fleet.step(3)
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "rolled_back"
    assert "restarted during the soak" in rollout["reason"]


async def test_halt_keeps_the_later_waves_waiting_until_resumed(fleet_of: Any) -> None:
    fleet = await fleet_of(on_failure="halt")
    fleet.deployer.health_of["recording:web-01"] = Health(
        state=HealthState.FAILED, words="healthcheck failing"
    )
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step(3)
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "halted"
    assert len(fleet.deployer.calls) == 1  # no rollback with on_failure: halt
    waiting = [d for d in await deployments(fleet.app.client) if d["status"] == "waiting"]
    assert len(waiting) == 9
    assert all(f"rollout {rollout['id']} halted at wave 1" in d["wait"] for d in waiting)

    del fleet.deployer.health_of["recording:web-01"]
    status, body = await fleet.app.post(f"/api/v1/rollouts/{rollout['id']}/resume")
    assert status == 200, body
    await fleet.step()
    await fleet.soak()
    await fleet.step(2)
    assert len(fleet.deployer.calls) == 5


async def test_abandon_cancels_what_waits(fleet_of: Any) -> None:
    fleet = await fleet_of(on_failure="halt")
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    rollout = await fleet.only_rollout()
    status, body = await fleet.app.post(f"/api/v1/rollouts/{rollout['id']}/abandon")
    assert status == 200, body
    assert body["state"] == "abandoned"
    await fleet.soak()
    assert len(fleet.deployer.calls) == 1
    statuses = sorted(d["status"] for d in await deployments(fleet.app.client))
    assert statuses == ["cancelled"] * 9 + ["succeeded"]
    status, body = await fleet.app.post(f"/api/v1/rollouts/{rollout['id']}/resume")
    assert status == 409


async def test_a_newer_push_during_a_halt_starts_a_fresh_rollout(fleet_of: Any) -> None:
    fleet = await fleet_of(on_failure="halt")
    fleet.deployer.crashing.add(digest(2))
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step(3)
    await push(fleet.app.client, "1.1.1", 3)
    await fleet.step(3)
    newer, older = await fleet.rollouts()
    assert (older["state"], newer["state"]) == ("abandoned", "running")
    assert newer["digest"] == digest(3)
    assert fleet.deployer.calls[-1] == ("recording:web-01", ref("1.1.1", 3))


async def test_rollouts_need_a_read_token(fleet_of: Any) -> None:
    fleet = await fleet_of()
    response = await fleet.app.client.get("/api/v1/rollouts")
    assert response.status == 401
    response = await fleet.app.client.post("/api/v1/rollouts/1/resume", headers=auth(READ_TOKEN))
    assert response.status == 403
    response = await fleet.app.client.get("/api/v1/rollouts/99", headers=auth(API_TOKEN))
    assert response.status == 404


async def test_what_a_later_wave_waits_for_counts_down(fleet_of: Any) -> None:
    fleet = await fleet_of()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    fleet.app.clock.advance(seconds=3)
    found = await fleet.app.get("/api/v1/deployments?target=recording:web-02")
    [waiting] = found["deployments"]
    assert waiting["wait"] == (
        "wave 2 of 3 starts when wave 1 has been healthy for 10 s: 7 s to go"
    )
    [later] = (await fleet.app.get("/api/v1/deployments?target=recording:web-10"))["deployments"]
    assert later["wait"] == (
        "wave 3 of 3: starts when wave 2 has been healthy for 10 s; wave 1 of 3 is soaking"
    )
    explained = await fleet.app.get("/api/v1/repos/team/app/explain?target=web-02")
    assert "7 s to go" in str(explained)


STAGED = {
    "waves": [1, "100%"],
    "soak": "10s",
}
STAGES = [
    {
        "name": "staging",
        "select": {"targets": [{"kind": "recording", "name": n} for n in NAMES[:2]]},
    },
    {
        "name": "prod",
        "select": {"targets": TARGET_ENTRIES[2:5]},
        "promote": {"soak": "30s"},
    },
]


@pytest.fixture
def staged(start_app: StartApp) -> Any:
    start = starter(start_app)

    async def make(**promote: Any) -> Fleet:
        deployer = RecordingDeployer()
        for target in TARGETS[:5]:
            deployer.run(target, ref("1.0.0", 1))
        stages = [STAGES[0], {**STAGES[1], "promote": {"soak": "30s", **promote}}]
        app = await start(
            clock=ManualClock(WEDNESDAY),
            deployer=deployer,
            repositories=[
                repository(
                    targets=TARGET_ENTRIES[:5], notify=["ops"], rollout=STAGED, stages=stages
                )
            ],
        )
        return Fleet(app)

    return make


async def test_a_push_reaches_staging_only_and_prod_gets_the_same_digest_after_the_soak(
    staged: Any,
) -> None:
    fleet = await staged()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    await fleet.soak()
    await fleet.soak()
    found = await fleet.rollouts()
    assert [(r["stage"], r["state"]) for r in found] == [("staging", "completed")], found
    assert [c[0] for c in fleet.deployer.calls] == ["recording:web-01", "recording:web-02"]
    prod = [d for d in await deployments(fleet.app.client) if d["status"] == "skipped"]
    assert len(prod) == 3
    assert all(
        d["reason"] == "not deployed now: stage prod gets it once staging has run it healthy "
        "for 30 s"
        for d in prod
    )

    fleet.app.clock.advance(seconds=29)
    await fleet.step()
    assert len(fleet.deployer.calls) == 2  # not before promote.soak
    fleet.app.clock.advance(seconds=1)
    await fleet.step(3)
    promoted, staging = await fleet.rollouts()
    assert (promoted["stage"], promoted["promoted_from"]) == ("prod", staging["id"])
    assert promoted["digest"] == digest(2)
    assert fleet.deployer.calls[2] == ("recording:web-03", ref("1.1.0", 2))
    assert "promoted to prod" in staging["words"]


async def test_a_failing_staging_never_promotes(staged: Any) -> None:
    fleet = await staged()
    fleet.deployer.crashing.add(digest(2))
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step(4)
    fleet.app.clock.advance(seconds=3600)
    await fleet.step(3)
    [staging] = await fleet.rollouts()
    assert staging["state"] == "rolled_back"
    assert {c[0] for c in fleet.deployer.calls} == {"recording:web-01"}
    statuses = sorted(d["status"] for d in await deployments(fleet.app.client))
    assert statuses == ["cancelled"] + ["skipped"] * 3 + ["succeeded"] * 2

    status, body = await fleet.app.post(
        "/api/v1/repos/team/app/promote", {"stage": "prod", "digest": digest(2)}
    )
    assert status == 409
    assert "has not passed staging" in body["message"]
    status, body = await fleet.app.post(
        "/api/v1/repos/team/app/promote", {"stage": "prod", "digest": digest(2), "force": True}
    )
    assert status == 202, body
    assert body["forced"] is True
    audit = await fleet.app.get("/api/v1/repos/team/app")
    assert any(a["field"] == "promote" for a in audit["audit"])


async def test_promote_asks_for_a_known_stage(staged: Any) -> None:
    fleet = await staged()
    status, body = await fleet.app.post("/api/v1/repos/team/app/promote", {"stage": "qa"})
    assert status == 404
    assert "stages: staging, prod" in body["message"]
    status, body = await fleet.app.post("/api/v1/repos/team/app/promote", {"stage": "staging"})
    assert status == 409
    status, body = await fleet.app.post("/api/v1/repos/team/app/promote", {})
    assert status == 400


async def test_the_same_digest_pushed_again_joins_the_rollout_under_way(fleet_of: Any) -> None:
    fleet = await fleet_of()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    await push(fleet.app.client, "1.1.0", 2, at="2026-11-22T10:05:00.000000Z")
    await fleet.step()
    [rollout] = await fleet.rollouts()
    assert rollout["state"] == "running"
    assert len(fleet.deployer.calls) == 1
    reasons = {
        d["target_key"]: d["reason"]
        for d in await deployments(fleet.app.client)
        if d["status"] == "skipped"
    }
    assert reasons.pop("recording:web-01").startswith("already runs")
    assert sorted(reasons) == [f"recording:{n}" for n in NAMES[1:]]
    assert all(r.startswith("rolling out already: rollout") for r in reasons.values())


@pytest.fixture
def labelled(start_app: StartApp) -> Any:
    """team/app on workloads that opted in by label, two in each stage by their
    ``regdeploy.stage`` label, one in none."""
    start = starter(start_app)

    async def make() -> Fleet:
        deployer = RecordingDeployer()
        name = ImageName(registry=REGISTRY, repository=NAME)
        for workload, stage in [("s1", "staging"), ("s2", "staging"), ("p1", "prod"),
                                ("p2", "prod"), ("x1", "")]:  # fmt: skip
            labels = MappingProxyType({"stage": stage} if stage else {})
            target = Target(kind="recording", name=workload, release=labels)
            deployer.discoverable.append((target, name))
            deployer.run(target, ref("1.0.0", 1))
        stages = [
            {"name": "staging", "select": {"label": "regdeploy.stage=staging"}},
            {"name": "prod", "select": {"label": "regdeploy.stage=prod"}},
        ]
        app = await start(
            clock=ManualClock(WEDNESDAY),
            deployer=deployer,
            repositories=[repository(targets=[], rollout={"waves": ["100%"]}, stages=stages)],
        )
        return Fleet(app)

    return make


async def test_stages_select_workloads_by_their_stage_label(labelled: Any) -> None:
    fleet = await labelled()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step(3)
    found = {d["target_key"]: d for d in await deployments(fleet.app.client)}
    assert {k for k, _ in fleet.deployer.calls[:2]} == {"recording:s1", "recording:s2"}
    assert "no stage of team/app selects it" in found["recording:x1"]["reason"]
    await fleet.step(3)
    promoted, staging = await fleet.rollouts()
    assert (promoted["stage"], staging["stage"]) == ("prod", "staging")
    assert {k for k, _ in fleet.deployer.calls} == {
        "recording:s1",
        "recording:s2",
        "recording:p1",
        "recording:p2",
    }


async def test_a_promotion_that_asks_for_approvals_waits_for_them_on_its_first_wave(
    staged: Any,
) -> None:
    fleet = await staged(approvals=1)
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    await fleet.soak()
    await fleet.soak()
    fleet.app.clock.advance(seconds=30)
    await fleet.step(3)
    assert len(fleet.deployer.calls) == 2  # staging only: prod waits for its approval
    waiting = {
        d["target_key"]: d for d in await deployments(fleet.app.client) if d["status"] == "waiting"
    }
    first = waiting["recording:web-03"]
    assert first["wait"].startswith("0 of 1 approval")
    status, body = await fleet.app.post(
        f"/api/v1/deployments/{first['id']}/approve", {}, token=ALICE_TOKEN
    )
    assert status == 200, body
    await fleet.step(3)
    assert fleet.deployer.calls[2] == ("recording:web-03", ref("1.1.0", 2))


async def test_two_replicas_advance_a_rollout_once(start_app: StartApp) -> None:
    """Two apps on one database, their loops' rounds run at the same time: every wave starts
    once, every target moves once, in wave order."""
    start = fleet_starter(start_app)
    first = await start()
    clock = first.clock
    second = await starter(start_app)(
        clock=clock,
        deployer=first.deployer,
        repositories=[
            repository(targets=TARGET_ENTRIES, notify=["ops"],
                       rollout={"waves": [1, "50%", "100%"], "soak": "10s"})
        ],
    )  # fmt: skip
    await push(first.client, "1.1.0", 2)
    for _ in range(40):  # bounded: a 3-wave rollout of 10 s soaks takes about 12 of these
        await asyncio.gather(step(first, 1), step(second, 1))
        clock.advance(seconds=5)
        [rollout] = (await first.get("/api/v1/rollouts"))["rollouts"]
        if rollout["state"] != "running":
            break
    moved = [key for key, _ in first.deployer.calls]
    # In wave order (within a wave the two processes' deploys interleave).
    waves = [moved[:1], moved[1:5], moved[5:]]
    assert [sorted(w) for w in waves] == [
        [f"recording:{n}" for n in names] for names in (NAMES[:1], NAMES[1:5], NAMES[5:])
    ]
    assert sorted(moved) == [f"recording:{n}" for n in NAMES]  # each once
    assert rollout["state"] == "completed", rollout["words"]
    assert [len(w["targets"]) for w in rollout["waves"]] == [1, 4, 5]


async def test_a_look_made_before_a_person_abandoned_the_rollout_is_not_written(
    fleet_of: Any,
) -> None:
    fleet = await fleet_of()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    services = services_of(fleet.app.client.app)
    [listed] = await fleet.rollouts()
    stale = await services.store.rollouts.get(listed["id"])
    fleet.app.clock.advance(seconds=10)
    looked = await services.advancer.look(stale)  # would start wave 2
    status, _ = await fleet.app.post(f"/api/v1/rollouts/{stale.id}/abandon")
    assert status == 200
    assert await services.store.rollouts.record(looked, worker=None) is False
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "abandoned"
    assert [w["state"] for w in rollout["waves"]] == ["soaking", "pending", "pending"]
    await fleet.step(3)
    assert len(fleet.deployer.calls) == 1


@pytest.fixture
def by_policy(start_app: StartApp) -> Any:
    """team/app on two workloads that opted in by label, one following patches only, the
    other any version."""
    start = starter(start_app)

    async def make() -> Fleet:
        deployer = RecordingDeployer()
        name = ImageName(registry=REGISTRY, repository=NAME)
        for workload, policy in [("patch-only", "patch"), ("any", "major")]:
            target = Target(kind="recording", name=workload, policy=policy)
            deployer.discoverable.append((target, name))
            deployer.run(target, ref("1.2.4", 1))
        rules = {"waves": ["100%"], "soak": "10s"}
        app = await start(
            clock=ManualClock(WEDNESDAY),
            deployer=deployer,
            repositories=[repository(targets=[], rollout=rules)],
        )
        return Fleet(app)

    return make


async def test_rollouts_of_other_targets_of_a_repository_go_on_side_by_side(
    by_policy: Any,
) -> None:
    fleet = await by_policy()
    await push(fleet.app.client, "2.0.0", 2)
    await fleet.step()
    await push(fleet.app.client, "1.2.5", 3, at="2026-11-22T10:05:00.000000Z")
    await fleet.step()
    patch, major = await fleet.rollouts()
    assert (patch["digest"], major["digest"]) == (digest(3), digest(2))
    assert (patch["state"], major["state"]) == ("running", "running")
    await fleet.soak()
    patch, major = await fleet.rollouts()
    assert (patch["state"], major["state"]) == ("completed", "completed")


async def test_a_rejected_deploy_is_not_resumed_past_its_rejection(start_app: StartApp) -> None:
    app = await fleet_starter(start_app)(rollout={"on_failure": "halt"}, approvals=1)
    fleet = Fleet(app)
    await push(app.client, "1.1.0", 2)
    await fleet.step()
    [canary] = [d for d in await deployments(app.client) if d["target_key"].endswith("web-01")]
    assert canary["status"] == "waiting"
    status, _ = await app.post(
        f"/api/v1/deployments/{canary['id']}/reject", {"comment": "not today"}, token=ALICE_TOKEN
    )
    assert status == 200
    await fleet.step()
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "halted"
    status, body = await app.post(f"/api/v1/rollouts/{rollout['id']}/resume")
    assert status == 409
    assert "recording:web-01 was rejected" in body["message"]
    assert fleet.deployer.calls == []


async def test_a_target_that_ran_no_digest_is_not_rolled_back_and_the_rollout_halts(
    fleet_of: Any,
) -> None:
    fleet = await fleet_of()
    fleet.deployer.run(TARGETS[0], "registry.test:5000/team/app:1.0.0")
    fleet.deployer.crashing.add(digest(2))
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step(3)
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "halted"
    assert "nothing to roll back" in rollout["words"]
    assert "not a digest" in rollout["words"]
    assert fleet.deployer.calls == [("recording:web-01", ref("1.1.0", 2))]


async def test_a_failure_in_wave_two_rolls_back_the_canary_too_and_waits_for_it(
    fleet_of: Any,
) -> None:
    fleet = await fleet_of()
    await push(fleet.app.client, "1.1.0", 2)
    await fleet.step()
    await fleet.soak()
    await fleet.step(2)
    assert len(fleet.deployer.calls) == 5
    fleet.deployer.health_of["recording:web-03"] = Health(
        state=HealthState.FAILED, words="healthcheck failing"
    )
    await fleet.step(4)
    rollout = await fleet.only_rollout()
    assert rollout["state"] == "rolled_back", rollout["words"]
    assert rollout["words"].startswith("rolled back: 5 of 5 targets")
    moved = [t for w in rollout["waves"][:2] for t in w["targets"]]
    assert all(t["rollback_status"] == "succeeded" for t in moved)
    back = [key for key, image in fleet.deployer.calls if image == ref("1.0.0", 1)]
    assert sorted(back) == [f"recording:{n}" for n in NAMES[:5]]


async def test_a_halted_wave_holds_its_waiting_deploys_until_resumed(start_app: StartApp) -> None:
    """With approvals asked of every deploy, the canary's rejection halts the rollout; the
    halted wave's other deploy, waiting for its approval, is held by the halt, not released by
    a vote, and not deployed by a resume past its approvals."""
    app = await fleet_starter(start_app)(
        rollout={"waves": [2, "100%"], "on_failure": "halt"}, approvals=1
    )
    fleet = Fleet(app)
    await push(app.client, "1.1.0", 2)
    await fleet.step()
    waiting = {d["target_key"]: d for d in await deployments(app.client)}
    first, second = waiting["recording:web-01"], waiting["recording:web-02"]
    await app.post(f"/api/v1/deployments/{first['id']}/reject", {}, token=ALICE_TOKEN)
    await fleet.step()
    assert (await fleet.only_rollout())["state"] == "halted"
    status, _ = await app.post(f"/api/v1/deployments/{second['id']}/approve", {}, token=ALICE_TOKEN)
    assert status == 200
    await fleet.step(2)
    assert fleet.deployer.calls == []  # held by the halt, approved or not
    [held] = [d for d in await deployments(app.client) if d["id"] == second["id"]]
    assert held["status"] == "waiting"
    assert "halted at wave 1" in held["wait"]
