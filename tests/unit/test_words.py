"""What regdeploy says it did and why, held in tables: what an action changed and deployed (or
why nothing), why a push moved nothing, what a vote, a freeze and an unfreeze did. The same
sentences reach the API, the CLI, the console and the events' reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deployers.base import Target
from handlers.events import Action, Event
from handlers.references import ImageName, ImageRef
from receiver.config.repositories import WatchedRepository
from receiver.decide.actions import ActionResult
from receiver.decide.planner import Outlook
from receiver.decide.rules.release import Freeze, ReleaseOutcome, ReleaseVerdict, Wait, WaitKind
from receiver.decide.words import audit, describe, unfrozen_words, unplanned, vote_words
from receiver.store.records import AuditEntry, Deployment, RepositoryState
from tests.support.decisions import waiting_deployment

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


def result(
    *outlooks: Outlook,
    trigger: str | None = "pin",
    waiting: dict[str, str] | None = None,
    **changed: Any,
) -> ActionResult:
    ids = tuple(i for i, o in enumerate(outlooks, 1) if o.deploy)
    return ActionResult(
        state=STATE,
        changed=changed,
        deployments=ids,
        outlooks=outlooks,
        trigger=trigger,
        waiting=waiting or {},
    )


@pytest.mark.parametrize(
    ("action", "kinds", "said"),
    [
        pytest.param(
            result(trigger=None, policy=("minor", "major")),
            [],
            'team/app: policy: "minor" → "major"',
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
            'team/app: pinned_tag: "" → "1.1.0"; deploying 1.1.0 to container:web; not to '
            "nomad:api: pinned tag 1.1.0 is not in the registry",
            id="some-targets",
        ),
        pytest.param(
            result(
                outlook(WEB, "1.1.0", deploy=True, reason="pinned to 1.1.0"),
                outlook(API, "1.1.0", deploy=True, reason="pinned to 1.1.0"),
                waiting={"nomad:api": "team/app frozen by ops: incident 42"},
                auto_deploy=(True, False),
            ),
            ["container", "nomad"],
            "team/app: auto_deploy: true → false; deploying 1.1.0 to container:web; 1.1.0 to "
            "nomad:api waits for: team/app frozen by ops: incident 42",
            id="one-goes-one-waits",
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


def event(action: Action, repository: str = "team/app") -> Event:
    return Event(
        source="distribution",
        event_id="e1",
        action=action,
        registry="localhost:5000",
        repository=repository,
        tag="1.1.0",
        digest=None,
        media_type=None,
        actor=None,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("pushed", "watched", "kinds", "said"),
    [
        pytest.param(
            event(Action.DELETE), STATE, ["container"], "a delete moves no workload", id="delete"
        ),
        pytest.param(
            event(Action.PUSH),
            STATE,
            ["swarm"],
            "team/app has no targets: its configuration lists none, and no deployer (swarm) "
            "found a workload opted in by label or job meta running localhost:5000/team/app",
            id="watched-without-targets",
        ),
        pytest.param(
            event(Action.PUSH, "team/other"),
            None,
            ["container", "swarm"],
            "no watched repository and no opted-in workload uses localhost:5000/team/other",
            id="nobody-uses-it",
        ),
        pytest.param(
            event(Action.PUSH, "team/other"),
            None,
            [],
            "no watched repository uses localhost:5000/team/other, and no deployer is on to find "
            "a workload opted in by label or job meta (see `regdeploy status`)",
            id="no-deployer-on",
        ),
    ],
)
def test_why_a_push_moved_nothing(
    pushed: Event, watched: RepositoryState | None, kinds: list[str], said: str
) -> None:
    assert unplanned(pushed, watched=watched, deployers=kinds) == said


def waiting_deploy() -> Deployment:
    return waiting_deployment(WEB, registry="localhost:5000")


TWO_VOTES = ReleaseVerdict(
    outcome=ReleaseOutcome.WAIT,
    waits=(Wait(kind=WaitKind.APPROVAL, words="1 of 2 approvals (alice)"),),
)
WHAT = "deployment 7 (team/app 1.2.0 to container:web)"


@pytest.mark.parametrize(
    ("approve", "counted", "verdict", "said"),
    [
        pytest.param(
            True,
            True,
            TWO_VOTES,
            f"{WHAT}: approved by alice; waits for: 1 of 2 approvals (alice)",
            id="approved-waits",
        ),
        pytest.param(
            True,
            True,
            ReleaseVerdict(outcome=ReleaseOutcome.RELEASE),
            f"{WHAT}: approved by alice; released: it deploys now",
            id="approved-released",
        ),
        pytest.param(
            True,
            False,
            TWO_VOTES,
            f"{WHAT}: alice had approved it already; waits for: 1 of 2 approvals (alice)",
            id="approved-twice",
        ),
        pytest.param(
            False,
            True,
            ReleaseVerdict(outcome=ReleaseOutcome.REJECTED, ended="rejected by alice: broken"),
            f"{WHAT}: rejected by alice: broken",
            id="rejected",
        ),
    ],
)
def test_what_a_vote_did(approve: bool, counted: bool, verdict: ReleaseVerdict, said: str) -> None:
    d = waiting_deploy()
    assert vote_words(d, actor="alice", approve=approve, counted=counted, verdict=verdict) == said


@pytest.mark.parametrize(
    ("repository", "lifted", "released", "said"),
    [
        ("team/app", True, (9,), "team/app unfrozen by ops; released deployment 9"),
        (None, True, (4, 9), "every repository unfrozen by ops; released deployments 4, 9"),
        ("team/app", True, (), "team/app unfrozen by ops; no deploy waited for it"),
        ("team/app", False, (), "team/app was not frozen"),
    ],
)
def test_what_an_unfreeze_did(
    repository: str | None, lifted: bool, released: tuple[int, ...], said: str
) -> None:
    assert unfrozen_words(repository, actor="ops", lifted=lifted, released=released) == said


def test_a_freeze_says_what_it_holds() -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    mine = Freeze(repository="team/app", reason="incident 42", actor="ops", since=since)
    every = Freeze(repository=None, reason="release day", actor="lead", since=since)
    assert mine.describe() == "team/app frozen by ops: incident 42"
    assert every.describe() == "every repository frozen by lead: release day"


FROZEN = {"reason": "incident 42", "since": "2026-12-01T00:00:00+00:00"}


@pytest.mark.parametrize(
    ("field", "old", "new", "said"),
    [
        ("pinned_tag", "", "1.2.0", 'pinned_tag: "" → "1.2.0"'),
        ("auto_deploy", True, False, "auto_deploy: true → false"),
        ("policy", None, "major", 'policy: null → "major"'),
        ("freeze", None, FROZEN, 'freeze: frozen "incident 42"'),
        ("freeze", FROZEN, None, 'freeze: unfrozen (was "incident 42")'),
        (
            "force",
            None,
            {"trigger": "manual", "tag": "1.2.0", "deployments": [4, 5]},
            'force: the manual deploy of "1.2.0" past the deploy windows (deployments 4, 5)',
        ),
        ("notify", {"to": "ops"}, {"to": "ünï"}, 'notify: (to: "ops") → (to: "ünï")'),
    ],
)
def test_a_change_of_the_audit(field: str, old: object, new: object, said: str) -> None:
    entry = AuditEntry(
        name="team/app",
        actor="ops",
        field=field,
        old_value=old,
        new_value=new,
        changed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert audit(entry) == said
