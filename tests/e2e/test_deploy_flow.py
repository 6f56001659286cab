"""End to end with the recording deployer: real docker-registry, real skopeo pushes, real
notifications (or none, for the reconciler), real PostgreSQL, the real app and worker."""

from __future__ import annotations

import time

import pytest

from tests.support.metrics import count, value
from tests.support.stack import REPO, WEB, StackFactory


async def test_minor_policy_ends_on_the_newest_minor_and_skips_the_rest(
    stack: StackFactory,
) -> None:
    s = await stack(policy="minor")
    first = await s.push("1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", first))
    digests = {"1.0.0": first}
    for tag in ("1.1.0", "2.0.0", "1.0.1"):
        digests[tag] = await s.push(tag)
    await s.settled(events=4)

    assert s.deployer.deployed(WEB) == [s.ref("1.1.0", digests["1.1.0"])]
    assert str(s.deployer.running[WEB.key]) == s.ref("1.1.0", digests["1.1.0"])
    by_tag = {d["tag"]: d for d in await s.deployments()}
    assert by_tag["2.0.0"]["status"] == "skipped"
    assert by_tag["2.0.0"]["reason"] == "2.0.0 is a new major version (policy minor)"
    assert by_tag["1.0.1"]["reason"] == "1.0.1 is lower than running 1.1.0"
    assert by_tag["1.1.0"]["image"] == s.ref("1.1.0", digests["1.1.0"])


async def test_auto_deploy_off_then_on_deploys_what_arrived_meanwhile(stack: StackFactory) -> None:
    s = await stack(policy="minor", auto_deploy=False)
    first = await s.push("1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", first))
    newest = {}
    for tag in ("1.0.1", "1.2.0", "3.0.0"):
        newest[tag] = await s.push(tag)
    await s.settled(events=4)
    assert s.deployer.calls == []

    await s.api("POST", f"/tags/{REPO}", {"auto_deploy": True})

    async def deployed() -> bool:
        return s.deployer.deployed(WEB) == [s.ref("1.2.0", newest["1.2.0"])]

    await s.wait_until("1.2.0 deployed after auto_deploy was switched on", deployed)


@pytest.mark.parametrize("htpasswd", [False, True], ids=["open", "basic-auth"])
async def test_reconciler_finds_pushes_whose_notifications_were_lost(
    stack: StackFactory, htpasswd: bool
) -> None:
    s = await stack(notify=False, htpasswd=htpasswd, reconcile=2.0, policy="minor")
    first = await s.push("1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", first))
    digests = {tag: await s.push(tag) for tag in ("1.0.1", "1.0.2", "1.1.0")}
    pushed_at = time.monotonic()

    async def deployed() -> bool:
        return s.deployer.deployed(WEB) == [s.ref("1.1.0", digests["1.1.0"])]

    await s.wait_until("the reconciler's find deployed", deployed)
    # Within one interval of the pushes (plus the deploy itself).
    assert time.monotonic() - pushed_at < 2.0 + 3.0
    events = (await s.api("GET", "/api/v1/events?limit=50"))["events"]
    assert {e["source"] for e in events} == {"reconciler"}
    assert {e["tag"] for e in events} == {"1.0.0", "1.0.1", "1.0.2", "1.1.0"}
    scraped = await s.metrics()
    assert count(scraped, "regdeploy_reconciler_runs_total") >= 1
    assert count(scraped, "regdeploy_reconciler_found_events_total") == 4
    lag = value(scraped, "regdeploy_reconciler_lag_seconds")
    assert lag is not None and lag < 2.0 * 3


async def test_a_digest_the_registry_does_not_serve_is_not_deployed(stack: StackFactory) -> None:
    s = await stack(policy="minor")
    first = await s.push("1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", first))
    real = await s.push("1.1.0")
    await s.settled(events=2)
    forged = "sha256:" + "f" * 64
    await s.notify(
        {
            "id": "forged-1",
            "timestamp": "2030-01-01T00:00:00Z",
            "action": "push",
            "target": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": forged,
                "repository": REPO,
                "tag": "1.1.0",
            },
        }
    )
    await s.settled(events=3)

    forged_deploy = next(d for d in await s.deployments() if d["digest"] == forged)
    assert forged_deploy["status"] == "skipped"  # refused, never retried
    assert f"the registry serves {real} for tag 1.1.0" in forged_deploy["message"]
    assert s.deployer.deployed(WEB) == [s.ref("1.1.0", real)]


async def test_metrics_move_as_pushes_are_received_decided_and_deployed(
    stack: StackFactory,
) -> None:
    s = await stack(policy="minor")
    before = await s.metrics()
    assert count(before, "regdeploy_webhooks_total", source="registry", status="202") == 0
    first = await s.push("1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", first))
    await s.push("1.1.0")
    await s.push("2.0.0")
    await s.settled(events=3)

    after = await s.metrics()
    # Every push notifies its blobs too: those are answered 202 and counted as ignored.
    assert count(after, "regdeploy_webhooks_total", source="registry", status="202") >= 3
    assert count(after, "regdeploy_events_total", source="registry", outcome="accepted") == 3
    assert count(after, "regdeploy_events_total", source="registry", outcome="ignored") >= 1
    assert count(after, "regdeploy_decisions_total", outcome="deploy") == 1
    assert count(after, "regdeploy_decisions_total", outcome="skip") == 2
    assert count(after, "regdeploy_deploys_total", kind="recording", outcome="succeeded") == 1
    assert value(after, "regdeploy_deploy_duration_seconds_count", kind="recording") == 1
    assert count(after, "regdeploy_registry_errors_total", operation="confirm") == 0
    for gauge in ("pending_events", "planned_deploys", "running_deploys", "outbox_depth"):
        assert value(after, f"regdeploy_{gauge}") == 0
    assert value(after, "regdeploy_oldest_pending_event_age_seconds") == 0
