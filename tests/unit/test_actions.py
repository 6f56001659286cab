"""What an action on a repository says it changed and deployed, or why it deployed nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deployers.base import Target
from handlers.references import ImageName, ImageRef
from receiver.config.repositories import WatchedRepository
from receiver.decide.actions import ActionResult, describe
from receiver.decide.planner import Outlook
from receiver.store.records import RepositoryState

NAME = ImageName(registry="localhost:5000", repository="team/app")
STATE = RepositoryState(
    rules=WatchedRepository(name="team/app", image=NAME),
    overrides=(),
    updated_at=datetime(2026, 12, 1, tzinfo=UTC),
)
WEB = Target(kind="container", name="web")
API = Target(kind="nomad", name="api")


def outlook(target: Target, tag: str | None, *, deploy: bool, reason: str) -> Outlook:
    image = ImageRef(name=NAME, tag=tag, digest="sha256:" + "1" * 64) if tag else None
    return Outlook(target=target, running=None, image=image, deploy=deploy, reason=reason)


def result(*outlooks: Outlook, trigger: str | None = "pin", **changed: Any) -> ActionResult:
    ids = tuple(i for i, o in enumerate(outlooks, 1) if o.deploy)
    return ActionResult(
        state=STATE, changed=changed, deployments=ids, outlooks=outlooks, trigger=trigger
    )


@pytest.mark.parametrize(
    ("action", "kinds", "said"),
    [
        pytest.param(
            result(trigger=None, policy=("minor", "major")),
            [],
            'team/app: policy "minor" -> "major"',
            id="a-change-without-deploy",
        ),
        pytest.param(result(trigger=None), [], "team/app: nothing changed", id="nothing"),
        pytest.param(
            result(outlook(WEB, "1.1.0", deploy=True, reason="pinned to 1.1.0")),
            ["container"],
            "deploying 1.1.0 to container:web",
            id="one-target",
        ),
        pytest.param(
            result(
                outlook(WEB, "1.1.0", deploy=True, reason="pinned to 1.1.0"),
                outlook(API, None, deploy=False, reason="pinned tag 1.1.0 is not in the registry"),
                pinned_tag=("", "1.1.0"),
            ),
            ["container"],
            'team/app: pinned_tag "" -> "1.1.0"; deploying 1.1.0 to container:web; not to '
            "nomad:api: pinned tag 1.1.0 is not in the registry",
            id="some-targets",
        ),
        pytest.param(
            result(outlook(WEB, "1.0.0", deploy=False, reason="already runs 1.0.0@sha256:1")),
            ["container"],
            "nothing deployed: container:web: already runs 1.0.0@sha256:1",
            id="already-running",
        ),
        pytest.param(
            result(trigger="manual"),
            ["container", "swarm"],
            "nothing deployed: team/app has no targets: its configuration lists none, and no "
            "deployer (container, swarm) found a workload opted in by label or job meta "
            "running localhost:5000/team/app",
            id="no-targets",
        ),
        pytest.param(
            result(trigger="manual"),
            [],
            "nothing deployed: team/app has no targets: its configuration lists none, and no "
            "deployer is on to find a labelled workload (see `regdeploy status`)",
            id="no-deployers",
        ),
    ],
)
def test_describe(action: ActionResult, kinds: list[str], said: str) -> None:
    assert describe(action, deployers=kinds) == said
