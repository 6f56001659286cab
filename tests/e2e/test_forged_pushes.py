"""A leaked registry token cannot deploy: forged notifications, checked against a real registry.

Each forged push carries the registry's own token, so regdeploy takes it in; none of them may
change the workload (the recording deployer's call log), each is recorded with its reason, and a
genuine push afterwards deploys once.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.stack import REPO, WEB, Stack, StackFactory

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_ids = itertools.count(1)


def forged(tag: str, digest: str, repository: str = REPO) -> dict[str, Any]:
    return {
        "id": f"forged-{next(_ids)}",
        "timestamp": "2030-01-01T00:00:00Z",
        "action": "push",
        "target": {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "repository": repository,
            "tag": tag,
        },
    }


async def deployment_of(s: Stack, tag: str, digest: str) -> dict[str, Any]:
    return next(d for d in await s.deployments() if (d["tag"], d["digest"]) == (tag, digest))


async def test_forged_pushes_change_nothing_and_a_genuine_one_deploys_once(
    stack: StackFactory,
) -> None:
    s = await stack(policy="patch")
    running = await s.push("1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", running))
    newer = await s.push("1.3.0")  # a real image that the patch policy keeps out
    await s.settled(events=2)

    for events, record in enumerate(
        [
            forged("1.0.6", newer),  # a tag the registry does not serve
            forged("1.0.0", newer),  # the running tag with another image's digest
            forged("0.9.0", newer),  # an older version
            forged("1.0.0", newer, repository="team/nothing"),  # a repository nothing uses
        ],
        start=3,
    ):
        await s.notify(record)
        await s.settled(events=events)
    invalid = await s.notify(forged("1.0.7+evil", newer))

    assert s.deployer.calls == []
    served = await deployment_of(s, "1.0.6", newer)
    assert (served["status"], served["message"]) == (
        "skipped",
        "the registry does not serve tag 1.0.6: not deployed",
    )
    mismatch = await deployment_of(s, "1.0.0", newer)
    assert mismatch["status"] == "skipped"
    assert f"the registry serves {running} for tag 1.0.0, not {newer}" in mismatch["message"]
    lower = await deployment_of(s, "0.9.0", newer)
    assert (lower["status"], lower["reason"]) == ("skipped", "0.9.0 is lower than running 1.0.0")
    assert invalid["rejected"] == 1 and invalid["accepted"] == 0
    rejections = (await s.api("GET", "/api/v1/rejections"))["rejections"]
    assert "invalid tag '1.0.7+evil'" in rejections[0]["reason"]
    events = (await s.api("GET", "/api/v1/events?repository=team/nothing"))["events"]
    assert [(e["status"], e["reason"]) for e in events] == [
        (
            "done",
            f"no watched repository and no opted-in workload uses {s.registry.host}/team/nothing",
        )
    ]

    genuine = await s.push("1.0.1")
    await s.settled(events=7)
    assert s.deployer.deployed(WEB) == [s.ref("1.0.1", genuine)]


async def test_an_older_tag_under_a_glob_policy_is_not_deployed(stack: StackFactory) -> None:
    s = await stack(policy="glob:latest.*")
    older = await s.push("latest.20241321")
    running = await s.push("latest.20251321")
    s.deployer.run(WEB, s.ref("latest.20251321", running))
    await s.settled(events=2)

    await s.notify(forged("latest.20241321", older))  # pushed again, or forged: the same
    await s.settled(events=3)

    assert s.deployer.calls == []
    again = next(d for d in await s.deployments() if d["tag"] == "latest.20241321")  # newest
    assert (again["status"], again["reason"]) == (
        "skipped",
        "tag latest.20241321 matches glob 'latest.*' but is not newer than running latest.20251321",
    )
    newest = await s.push("latest.20260101")
    await s.settled(events=4)
    assert s.deployer.deployed(WEB) == [s.ref("latest.20260101", newest)]
