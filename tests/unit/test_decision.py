"""Decisions for one target: a push, the image it should run now, and the newest tag."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.references import ImageName, ImageRef
from receiver.decide.rules.decision import (
    Decision,
    Rules,
    artifact_of,
    decide_push,
    desired_image,
    newest_tag,
)
from receiver.decide.rules.policy import TagFilter, parse_filter
from receiver.decide.rules.versions import parse_version
from receiver.errors import PolicyError

NAME = ImageName(registry="registry.internal:5000", repository="team/app")
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
NEW_SHORT = "sha256:" + "b" * 12
SEQUENCE = ["1.0.0", "1.1.0", "2.0.0", "1.0.1"]


def _digest(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def _catalog(*tags: str) -> dict[str, str]:
    return {tag: _digest(tag) for tag in tags}


def _runs(tag: str | None, digest: str | None = OLD) -> ImageRef:
    return ImageRef(name=NAME, tag=tag, digest=digest)


def _filters(*specs: Mapping[str, str]) -> tuple[TagFilter, ...]:
    return tuple(parse_filter(spec) for spec in specs)


# --- decide_push -------------------------------------------------------------------------------

PINNED = Rules(pinned_tag="1.2.0")
OFF = Rules(auto_deploy=False)
BELOW_1_5 = _filters({"semver": "<1.5"})

# (rules, running, pushed tag, pushed digest, manual, deploy, reason)
PUSHES = [
    # the target already runs the digest, whatever else holds
    pytest.param(
        Rules(), _runs("1.0.0", NEW), "1.0.0", NEW, False, False, f"already runs 1.0.0@{NEW_SHORT}",
        id="already-runs-digest",
    ),
    pytest.param(
        Rules(), _runs("1.0.0", NEW), "stable", NEW, False, False,
        f"already runs stable@{NEW_SHORT}",
        id="already-runs-digest-under-another-tag",
    ),
    pytest.param(
        OFF, _runs("1.0.0", NEW), "1.0.0", NEW, True, False, f"already runs 1.0.0@{NEW_SHORT}",
        id="already-runs-digest-beats-manual",
    ),
    pytest.param(
        PINNED, _runs("1.2.0", NEW), "1.2.0", NEW, False, False, f"already runs 1.2.0@{NEW_SHORT}",
        id="already-runs-pinned-digest",
    ),
    pytest.param(
        Rules(), _runs(None, NEW), "1.0.0", NEW, False, False, f"already runs 1.0.0@{NEW_SHORT}",
        id="already-runs-digest-untagged",
    ),
    # auto_deploy off, and a manual deploy overriding it
    pytest.param(
        OFF, _runs("1.0.0"), "1.0.1", NEW, False, False, "auto_deploy is off", id="auto-off",
    ),
    pytest.param(
        OFF, _runs("1.0.0"), "1.0.0", NEW, False, False, "auto_deploy is off",
        id="auto-off-same-tag",
    ),
    pytest.param(
        Rules(auto_deploy=False, pinned_tag="1.2.0"), _runs("1.0.0"), "1.2.0", NEW, False, False,
        "auto_deploy is off", id="auto-off-pinned",
    ),
    pytest.param(
        OFF, None, "1.0.1", NEW, False, False, "auto_deploy is off", id="auto-off-nothing-runs",
    ),
    pytest.param(
        OFF, _runs("1.0.0"), "1.0.1", NEW, True, True, "1.0.1 is newer than running 1.0.0",
        id="auto-off-manual",
    ),
    pytest.param(
        OFF, _runs("1.0.0"), "2.0.0", NEW, True, False,
        "2.0.0 is a new major version (policy minor)",
        id="auto-off-manual-still-judged",
    ),
    pytest.param(
        Rules(auto_deploy=False, pinned_tag="1.2.0"), _runs("1.0.0"), "1.2.0", NEW, True, True,
        "pinned tag 1.2.0 points at a new digest", id="auto-off-manual-pinned",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "1.0.1", NEW, True, True, "1.0.1 is newer than running 1.0.0",
        id="manual-with-auto-on",
    ),
    # a pin
    pytest.param(
        PINNED, _runs("1.0.0"), "1.2.0", NEW, False, True,
        "pinned tag 1.2.0 points at a new digest", id="pinned-tag-pushed",
    ),
    pytest.param(
        PINNED, _runs("1.2.0"), "1.2.0", NEW, False, True,
        "pinned tag 1.2.0 points at a new digest", id="pinned-tag-new-digest",
    ),
    pytest.param(
        PINNED, _runs("2.0.0"), "1.2.0", NEW, False, True,
        "pinned tag 1.2.0 points at a new digest", id="pinned-tag-lower-than-running",
    ),
    pytest.param(
        PINNED, None, "1.2.0", NEW, False, True, "pinned tag 1.2.0 points at a new digest",
        id="pinned-tag-nothing-runs",
    ),
    pytest.param(
        PINNED, _runs(None), "1.2.0", NEW, False, True, "pinned tag 1.2.0 points at a new digest",
        id="pinned-tag-untagged-runs",
    ),
    pytest.param(
        Rules(pinned_tag="1.2.0", filters=BELOW_1_5, policy="patch"), _runs("0.1.0"), "1.2.0",
        NEW, False, True, "pinned tag 1.2.0 points at a new digest", id="pin-beats-policy",
    ),
    pytest.param(
        Rules(pinned_tag="9.0.0", filters=BELOW_1_5), _runs("1.0.0"), "9.0.0", NEW, False, True,
        "pinned tag 9.0.0 points at a new digest", id="pin-beats-filters",
    ),
    pytest.param(
        Rules(pinned_tag="1.2.0", follow_tag_only=True), _runs("1.0.0"), "1.2.0", NEW, False,
        True, "pinned tag 1.2.0 points at a new digest", id="pin-beats-follow-tag-only",
    ),
    pytest.param(
        PINNED, _runs("1.0.0"), "1.3.0", NEW, False, False, "pinned to 1.2.0",
        id="pinned-other-tag-newer",
    ),
    pytest.param(
        PINNED, _runs("1.0.0"), "1.0.0", NEW, False, False, "pinned to 1.2.0",
        id="pinned-running-tag-new-digest",
    ),
    pytest.param(
        PINNED, None, "1.3.0", NEW, False, False, "pinned to 1.2.0", id="pinned-other-no-running",
    ),
    # nothing known runs, or an untagged image
    pytest.param(
        Rules(), None, "1.0.1", NEW, False, False,
        "the target runs no image regdeploy knows; pin a tag to deploy it", id="nothing-runs",
    ),
    pytest.param(
        Rules(), None, "1.0.1", NEW, True, False,
        "the target runs no image regdeploy knows; pin a tag to deploy it",
        id="nothing-runs-manual",
    ),
    pytest.param(
        Rules(), _runs(None), "1.0.1", NEW, False, False,
        "the target runs an untagged image; pin a tag to deploy it", id="untagged",
    ),
    pytest.param(
        Rules(policy="all"), _runs(None), "1.0.1", NEW, False, False,
        "the target runs an untagged image; pin a tag to deploy it", id="untagged-policy-all",
    ),
    # the running tag got a new digest
    pytest.param(
        Rules(), _runs("1.0.0"), "1.0.0", NEW, False, True, "tag 1.0.0 points at a new digest",
        id="same-tag-new-digest",
    ),
    pytest.param(
        Rules(), _runs("latest"), "latest", NEW, False, True, "tag latest points at a new digest",
        id="same-tag-latest",
    ),
    pytest.param(
        Rules(policy="force"), _runs("stable"), "stable", NEW, False, True,
        "tag stable points at a new digest", id="same-tag-force",
    ),
    pytest.param(
        Rules(follow_tag_only=True), _runs("main"), "main", NEW, False, True,
        "tag main points at a new digest", id="same-tag-follow-tag-only",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!^1"})), _runs("1.0.0"), "1.0.0", NEW, False, True,
        "tag 1.0.0 points at a new digest", id="same-tag-despite-filters",
    ),
    pytest.param(
        Rules(policy="glob:2.*"), _runs("1.0.0"), "1.0.0", NEW, False, True,
        "tag 1.0.0 points at a new digest", id="same-tag-despite-glob",
    ),
    # follow_tag_only
    pytest.param(
        Rules(follow_tag_only=True), _runs("main"), "dev", NEW, False, False,
        "the target follows tag main only", id="follow-tag-only-other-tag",
    ),
    pytest.param(
        Rules(follow_tag_only=True, policy="all"), _runs("1.0.0"), "2.0.0", NEW, False, False,
        "the target follows tag 1.0.0 only", id="follow-tag-only-beats-policy",
    ),
    # filters, in order; the first that rejects gives the reason
    pytest.param(
        Rules(filters=BELOW_1_5), _runs("1.0.0"), "1.5.0", NEW, False, False,
        "tag 1.5.0 is outside semver <1.5", id="semver-filter-outside",
    ),
    pytest.param(
        Rules(filters=BELOW_1_5), _runs("1.0.0"), "stable", NEW, False, False,
        "tag stable is not a version (semver <1.5)", id="semver-filter-not-a-version",
    ),
    pytest.param(
        Rules(filters=_filters({"semver": ">= 1.2, <2"})), _runs("1.0.0"), "1.1.0", NEW, False,
        False, "tag 1.1.0 is outside semver >= 1.2, <2", id="semver-filter-two-bounds",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "-alpine$"})), _runs("1.0.0-alpine"), "1.1.0", NEW,
        False, False, "tag 1.1.0 does not match regex '-alpine$'", id="regex-filter-no-match",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!-debug$"})), _runs("1.0.0"), "1.1.0-debug", NEW,
        False, False, "tag 1.1.0-debug matches excluded regex '-debug$'",
        id="regex-filter-excluded",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!-debug$"}, {"semver": "<1.5"})), _runs("1.0.0"),
        "1.6.0-debug", NEW, False, False, "tag 1.6.0-debug matches excluded regex '-debug$'",
        id="first-rejecting-filter-wins",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!-debug$"}, {"semver": "<1.5"})), _runs("1.0.0"),
        "1.6.0", NEW, False, False, "tag 1.6.0 is outside semver <1.5",
        id="second-filter-rejects",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!-debug$"}, {"semver": "<1.5"})), _runs("1.0.0"),
        "1.4.0", NEW, False, True, "1.4.0 is newer than running 1.0.0", id="filters-pass",
    ),
    pytest.param(
        Rules(filters=BELOW_1_5), _runs("1.0.0"), "0.9.0", NEW, False, False,
        "0.9.0 is lower than running 1.0.0", id="filters-pass-policy-rejects",
    ),
    # the minor policy (the default)
    pytest.param(
        Rules(), _runs("1.0.0"), "1.0.1", NEW, False, True, "1.0.1 is newer than running 1.0.0",
        id="minor-newer-patch",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "1.1.0", NEW, False, True, "1.1.0 is newer than running 1.0.0",
        id="minor-newer-minor",
    ),
    pytest.param(
        Rules(), _runs("v1.0"), "v1.9.3", NEW, False, True, "v1.9.3 is newer than running v1.0",
        id="minor-v-prefix-two-parts",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "2.0.0", NEW, False, False,
        "2.0.0 is a new major version (policy minor)", id="minor-new-major",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "0.9.0", NEW, False, False, "0.9.0 is lower than running 1.0.0",
        id="minor-lower",
    ),
    pytest.param(
        Rules(), _runs("1.1.0"), "1.0.9", NEW, False, False, "1.0.9 is lower than running 1.1.0",
        id="minor-lower-minor",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "v1.0.0", NEW, False, False,
        "v1.0.0 is the same version as running 1.0.0", id="minor-same-version-other-spelling",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "1.1.0-rc.1", NEW, False, False, "tag 1.1.0-rc.1 is a pre-release",
        id="minor-prerelease-skipped",
    ),
    pytest.param(
        Rules(match_prerelease=False), _runs("1.0.0"), "1.1.0-rc.1", NEW, False, True,
        "1.1.0-rc.1 is newer than running 1.0.0", id="minor-prerelease-allowed",
    ),
    pytest.param(
        Rules(), _runs("1.1.0-rc.1"), "1.1.0-rc.2", NEW, False, True,
        "1.1.0-rc.2 is newer than running 1.1.0-rc.1", id="minor-same-track",
    ),
    pytest.param(
        Rules(), _runs("1.1.0-rc.1"), "1.2.0-beta.1", NEW, False, False,
        "1.2.0-beta.1 is on pre-release track 'beta', running 1.1.0-rc.1 on 'rc'",
        id="minor-other-track",
    ),
    pytest.param(
        Rules(), _runs("1.1.0-rc.1"), "1.1.0", NEW, False, False,
        "1.1.0 is a release and running 1.1.0-rc.1 is a pre-release", id="minor-rc-to-release",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), "stable", NEW, False, False,
        "stable is not a version (policy minor)", id="minor-pushed-not-a-version",
    ),
    pytest.param(
        Rules(), _runs("stable"), "1.0.0", NEW, False, False,
        "running stable is not a version (policy minor)", id="minor-running-not-a-version",
    ),
    pytest.param(
        Rules(), _runs("latest"), "3.0.0", NEW, False, True,
        "running latest: any new image updates", id="minor-running-latest",
    ),
    # the other policies
    pytest.param(
        Rules(policy="patch"), _runs("1.0.0"), "1.0.1", NEW, False, True,
        "1.0.1 is newer than running 1.0.0", id="patch-newer-patch",
    ),
    pytest.param(
        Rules(policy="patch"), _runs("1.0.0"), "1.1.0", NEW, False, False,
        "1.1.0 is a new minor version (policy patch)", id="patch-new-minor",
    ),
    pytest.param(
        Rules(policy="patch"), _runs("1.0.0"), "2.0.0", NEW, False, False,
        "2.0.0 is a new major version (policy patch)", id="patch-new-major",
    ),
    pytest.param(
        Rules(policy="major"), _runs("1.0.0"), "2.0.0", NEW, False, True,
        "2.0.0 is newer than running 1.0.0", id="major-new-major",
    ),
    pytest.param(
        Rules(policy="major"), _runs("1.0.0"), "2.0.0-rc.1", NEW, False, False,
        "tag 2.0.0-rc.1 is a pre-release", id="major-prerelease-skipped",
    ),
    pytest.param(
        Rules(policy="all"), _runs("1.0.0"), "2.0.0-rc.1", NEW, False, True,
        "2.0.0-rc.1 is newer than running 1.0.0", id="all-prerelease",
    ),
    pytest.param(
        Rules(policy="all"), _runs("1.0.0"), "0.1.0", NEW, False, False,
        "0.1.0 is lower than running 1.0.0", id="all-lower",
    ),
    pytest.param(
        Rules(policy="force"), _runs("1.0.0"), "1.0.1", NEW, False, False,
        "force follows only tag 1.0.0", id="force-other-tag",
    ),
    pytest.param(
        Rules(policy="glob:1.*"), _runs("1.0.0"), "1.5.0", NEW, False, True,
        "tag 1.5.0 matches glob '1.*' and is newer than running 1.0.0", id="glob-match",
    ),
    pytest.param(
        Rules(policy="glob:1.*"), _runs("1.0.0"), "2.0.0", NEW, False, False,
        "tag 2.0.0 does not match glob '1.*'", id="glob-no-match",
    ),
    pytest.param(
        Rules(policy="regexp:^main-"), _runs("main-1"), "main-2", NEW, False, True,
        "tag main-2 matches regexp '^main-' and is newer than running main-1",
        id="regexp-match",
    ),
    pytest.param(
        Rules(policy="regexp:^main-"), _runs("main-1"), "dev-2", NEW, False, False,
        "tag dev-2 does not match regexp '^main-'", id="regexp-no-match",
    ),
    pytest.param(
        Rules(policy="MINOR"), _runs("1.0.0"), "1.1.0", NEW, False, True,
        "1.1.0 is newer than running 1.0.0", id="policy-name-case-insensitive",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rules", "running", "tag", "digest", "manual", "deploy", "reason"), PUSHES
)
def test_decide_push(
    rules: Rules,
    running: ImageRef | None,
    tag: str,
    digest: str,
    manual: bool,
    deploy: bool,
    reason: str,
) -> None:
    decision = decide_push(rules, running=running, tag=tag, digest=digest, manual=manual)
    assert decision == Decision(deploy=deploy, reason=reason)


T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("rules", "pushed_at", "since", "deploy", "reason"),
    [
        pytest.param(
            Rules(), LATER, T0, True,
            "tag 1.0.0 was pushed at 2026-05-01T12:05:00+00:00, after the target last changed "
            "(2026-05-01T12:00:00+00:00)",
            id="pushed-after-the-target-changed",
        ),
        pytest.param(
            Rules(), T0, LATER, False,
            "adopted: the target runs 1.0.0 by tag, taken as this push since it was pushed at "
            "2026-05-01T12:00:00+00:00, before the target last changed (2026-05-01T12:05:00+00:00)",
            id="pushed-before-the-target-changed",
        ),
        pytest.param(
            Rules(), T0, T0, False,
            "adopted: the target runs 1.0.0 by tag, taken as this push since it was pushed at "
            "2026-05-01T12:00:00+00:00, before the target last changed (2026-05-01T12:00:00+00:00)",
            id="pushed-as-the-target-changed",
        ),
        pytest.param(
            Rules(), None, T0, False,
            "adopted: the target runs 1.0.0 by tag, taken as this push since nothing shows when "
            "it was pushed",
            id="push-time-unknown",
        ),
        pytest.param(
            Rules(), LATER, None, False,
            "adopted: the target runs 1.0.0 by tag, taken as this push since the orchestrator "
            "does not say when the target last changed",
            id="change-time-unknown",
        ),
        pytest.param(
            Rules(pinned_tag="1.0.0"), LATER, T0, True,
            "pinned tag 1.0.0 was pushed at 2026-05-01T12:05:00+00:00, after the target last "
            "changed (2026-05-01T12:00:00+00:00)",
            id="pinned-pushed-after",
        ),
        pytest.param(
            Rules(pinned_tag="1.0.0"), None, T0, False,
            "adopted: the target runs 1.0.0 by tag, taken as this push since nothing shows when "
            "it was pushed",
            id="pinned-push-time-unknown",
        ),
    ],
)  # fmt: skip
def test_a_target_that_runs_its_tag_without_a_digest_moves_only_for_a_later_push(
    rules: Rules, pushed_at: datetime | None, since: datetime | None, deploy: bool, reason: str
) -> None:
    decision = decide_push(
        rules,
        running=_runs("1.0.0", None),
        tag="1.0.0",
        digest=NEW,
        pushed_at=pushed_at,
        running_since=since,
    )
    assert decision == Decision(deploy=deploy, reason=reason, adopt=not deploy)


def test_a_known_digest_is_compared_whatever_the_times() -> None:
    decision = decide_push(
        Rules(), running=_runs("1.0.0"), tag="1.0.0", digest=NEW, pushed_at=T0, running_since=LATER
    )
    assert decision == Decision(deploy=True, reason="tag 1.0.0 points at a new digest")


def test_decide_push_manual_defaults_to_false() -> None:
    decision = decide_push(OFF, running=_runs("1.0.0"), tag="1.0.1", digest=NEW)
    assert decision == Decision(deploy=False, reason="auto_deploy is off")


def test_decide_push_invalid_policy_raises() -> None:
    with pytest.raises(PolicyError, match="unknown policy"):
        decide_push(Rules(policy="newest"), running=_runs("1.0.0"), tag="1.0.1", digest=NEW)


# --- desired_image -----------------------------------------------------------------------------

FULL = _catalog("1.0.0", "1.0.1", "1.1.0", "2.0.0", "2.1.0-rc.1", "latest", "stable")

# (rules, running, catalog, expected tag or None, reason)
DESIRED = [
    # a pin
    pytest.param(
        Rules(pinned_tag="1.0.1"), _runs("1.0.0"), FULL, "1.0.1", "pinned to 1.0.1",
        id="pin-in-catalog",
    ),
    pytest.param(
        Rules(pinned_tag="1.0.0"), _runs("2.0.0"), FULL, "1.0.0", "pinned to 1.0.0",
        id="pin-lower-than-running",
    ),
    pytest.param(
        Rules(pinned_tag="stable", filters=BELOW_1_5), None, FULL, "stable", "pinned to stable",
        id="pin-beats-filters-nothing-runs",
    ),
    pytest.param(
        Rules(pinned_tag="1.0.0", auto_deploy=False), _runs("1.0.0"), FULL, "1.0.0",
        "pinned to 1.0.0", id="pin-auto-off",
    ),
    pytest.param(
        Rules(pinned_tag="9.9.9"), _runs("1.0.0"), FULL, None,
        "pinned tag 9.9.9 is not in the registry", id="pin-not-in-catalog",
    ),
    pytest.param(
        Rules(pinned_tag="1.0.0"), None, {}, None, "pinned tag 1.0.0 is not in the registry",
        id="pin-empty-catalog",
    ),
    # newest eligible from a running version
    pytest.param(
        Rules(), _runs("1.0.0"), FULL, "1.1.0", "1.1.0 is the newest eligible tag",
        id="minor-from-running",
    ),
    pytest.param(
        Rules(policy="patch"), _runs("1.0.0"), FULL, "1.0.1", "1.0.1 is the newest eligible tag",
        id="patch-from-running",
    ),
    pytest.param(
        Rules(policy="major"), _runs("1.0.0"), FULL, "2.0.0", "2.0.0 is the newest eligible tag",
        id="major-from-running",
    ),
    pytest.param(
        Rules(policy="all"), _runs("1.0.0"), FULL, "2.1.0-rc.1",
        "2.1.0-rc.1 is the newest eligible tag", id="all-from-running",
    ),
    pytest.param(
        Rules(policy="major", match_prerelease=False), _runs("1.0.0"), FULL, "2.1.0-rc.1",
        "2.1.0-rc.1 is the newest eligible tag", id="major-prereleases-allowed",
    ),
    pytest.param(
        Rules(), _runs("1.1.0"), FULL, "1.1.0", "1.1.0 is the newest eligible tag",
        id="running-is-newest",
    ),
    pytest.param(
        Rules(), _runs("2.0.0", _digest("2.0.0")), FULL, "2.0.0",
        "2.0.0 is the newest eligible tag", id="running-is-newest-same-digest",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!^1\\.1"})), _runs("1.0.0"), FULL, "1.0.1",
        "1.0.1 is the newest eligible tag", id="filter-excludes-newest",
    ),
    pytest.param(
        Rules(filters=_filters({"semver": ">=1.1"})), _runs("1.0.0"), FULL, "1.1.0",
        "1.1.0 is the newest eligible tag", id="filter-excludes-running-newer-allowed",
    ),
    pytest.param(
        Rules(filters=_filters({"semver": ">=1.2"})), _runs("1.0.0"), FULL, "1.0.0",
        "1.0.0 is the newest eligible tag", id="filters-do-not-apply-to-staying-put",
    ),
    pytest.param(
        Rules(), _runs("latest"), FULL, "2.1.0-rc.1", "2.1.0-rc.1 is the newest eligible tag",
        id="running-latest-any-version",
    ),
    pytest.param(
        Rules(policy="glob:1.*"), _runs("1.0.1"), FULL, "1.1.0",
        "1.1.0 is the newest eligible tag", id="glob-from-running",
    ),
    pytest.param(
        Rules(policy="force"), _runs("stable"), FULL, "stable", "stable is the newest eligible tag",
        id="force-from-running",
    ),
    # nothing eligible
    pytest.param(
        Rules(), _runs("3.0.0"), FULL, None, "no tag is eligible under the policy and filters",
        id="running-not-in-catalog-nothing-newer",
    ),
    pytest.param(
        Rules(), _runs("1.0.0"), {}, None, "no tag is eligible under the policy and filters",
        id="empty-catalog",
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "^9"})), None, FULL, None,
        "no tag is eligible under the policy and filters", id="filters-reject-all",
    ),
    pytest.param(
        Rules(), None, _catalog("1.0.0-rc.1", "latest"), None,
        "no tag is eligible under the policy and filters", id="nothing-runs-only-prereleases",
    ),
    pytest.param(
        Rules(policy="force"), None, FULL, None,
        "no tag is eligible under the policy and filters", id="nothing-runs-force",
    ),
    pytest.param(
        Rules(policy="glob:3.*"), None, FULL, None,
        "no tag is eligible under the policy and filters", id="nothing-runs-glob-no-match",
    ),
    # no running image: the newest release, whatever the version range
    pytest.param(
        Rules(), None, FULL, "2.0.0", "2.0.0 is the newest eligible tag",
        id="nothing-runs-minor-newest-release",
    ),
    pytest.param(
        Rules(policy="patch"), None, FULL, "2.0.0", "2.0.0 is the newest eligible tag",
        id="nothing-runs-patch-newest-release",
    ),
    pytest.param(
        Rules(), _runs(None), FULL, "2.0.0", "2.0.0 is the newest eligible tag",
        id="untagged-runs-newest-release",
    ),
    pytest.param(
        Rules(policy="all"), None, FULL, "2.1.0-rc.1", "2.1.0-rc.1 is the newest eligible tag",
        id="nothing-runs-all-takes-prerelease",
    ),
    pytest.param(
        Rules(policy="major", match_prerelease=False), None, FULL, "2.1.0-rc.1",
        "2.1.0-rc.1 is the newest eligible tag", id="nothing-runs-prereleases-allowed",
    ),
    pytest.param(
        Rules(filters=BELOW_1_5), None, FULL, "1.1.0", "1.1.0 is the newest eligible tag",
        id="nothing-runs-filtered",
    ),
    pytest.param(
        Rules(policy="glob:1.*"), None, FULL, "1.1.0", "1.1.0 is the newest eligible tag",
        id="nothing-runs-glob",
    ),
    pytest.param(
        Rules(policy="glob:st*"), None, FULL, "stable", "stable is the newest eligible tag",
        id="nothing-runs-glob-not-a-version",
    ),
    pytest.param(
        Rules(policy="regexp:^2\\."), None, FULL, "2.1.0-rc.1",
        "2.1.0-rc.1 is the newest eligible tag", id="nothing-runs-regexp",
    ),
    pytest.param(
        Rules(policy="glob:*"), None, _catalog("b", "a", "latest"), "latest",
        "latest is the newest eligible tag", id="nothing-runs-glob-lexicographic",
    ),
    # follow_tag_only
    pytest.param(
        Rules(follow_tag_only=True), _runs("1.0.0"), FULL, "1.0.0",
        "1.0.0 is the newest eligible tag", id="follow-tag-only",
    ),
    pytest.param(
        Rules(follow_tag_only=True), _runs("main"), FULL, None,
        "no tag is eligible under the policy and filters", id="follow-tag-only-tag-gone",
    ),
    pytest.param(
        Rules(follow_tag_only=True), None, FULL, None,
        "no tag is eligible under the policy and filters", id="follow-tag-only-nothing-runs",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rules", "running", "catalog", "tag", "reason"), DESIRED)
def test_desired_image(
    rules: Rules,
    running: ImageRef | None,
    catalog: Mapping[str, str],
    tag: str | None,
    reason: str,
) -> None:
    image, why = desired_image(rules, name=NAME, running=running, catalog=catalog)
    expected = None if tag is None else ImageRef(name=NAME, tag=tag, digest=catalog[tag])
    assert (image, why) == (expected, reason)


# --- newest_tag --------------------------------------------------------------------------------

# (rules, running tag, tags, expected)
NEWEST = [
    pytest.param(Rules(), "1.0.0", SEQUENCE, "1.1.0", id="minor-sequence"),
    pytest.param(Rules(), "1.0.0", _catalog(*SEQUENCE), "1.1.0", id="minor-sequence-mapping"),
    pytest.param(Rules(), "1.0.0", SEQUENCE[::-1], "1.1.0", id="minor-sequence-reversed"),
    pytest.param(Rules(policy="patch"), "1.0.0", SEQUENCE, "1.0.1", id="patch-sequence"),
    pytest.param(Rules(policy="major"), "1.0.0", SEQUENCE, "2.0.0", id="major-sequence"),
    pytest.param(Rules(policy="all"), "1.0.0", SEQUENCE, "2.0.0", id="all-sequence"),
    pytest.param(Rules(policy="force"), "1.0.0", SEQUENCE, "1.0.0", id="force-sequence"),
    pytest.param(Rules(), "1.1.0", SEQUENCE, "1.1.0", id="minor-at-newest"),
    pytest.param(Rules(), "2.0.0", SEQUENCE, "2.0.0", id="minor-from-2"),
    pytest.param(Rules(), "1.0.1", SEQUENCE, "1.1.0", id="minor-from-patch"),
    pytest.param(Rules(), None, SEQUENCE, "2.0.0", id="nothing-runs"),
    pytest.param(Rules(policy="patch"), None, SEQUENCE, "2.0.0", id="nothing-runs-patch"),
    pytest.param(Rules(), "1.0.0", [], None, id="no-tags"),
    pytest.param(Rules(), None, [], None, id="no-tags-nothing-runs"),
    pytest.param(Rules(), "3.0.0", SEQUENCE, None, id="running-above-all"),
    pytest.param(Rules(), "1.4", ["1.4.0", "1.4", "1.3.0"], "1.4", id="equal-keeps-running"),
    pytest.param(Rules(), "1.3.0", ["1.4.0", "1.4", "v1.4.0"], "1.4", id="equal-versions-smallest"),
    pytest.param(
        Rules(filters=_filters({"semver": "<1.1"})), "1.0.0", SEQUENCE, "1.0.1", id="filter-semver"
    ),
    pytest.param(
        Rules(filters=_filters({"regex": "!^1\\.0\\.1$"})), "1.0.0", SEQUENCE, "1.1.0",
        id="filter-excludes-a-lower-candidate",
    ),
    pytest.param(
        Rules(filters=_filters({"semver": ">=5"})), "1.0.0", SEQUENCE, "1.0.0",
        id="filter-rejects-all-but-running",
    ),
    pytest.param(
        Rules(filters=_filters({"semver": ">=5"})), None, SEQUENCE, None,
        id="filter-rejects-all-nothing-runs",
    ),
    pytest.param(
        Rules(filters=_filters({"semver": ">=5"})), "0.1.0", SEQUENCE, None,
        id="filter-rejects-all-running-absent",
    ),
    pytest.param(Rules(follow_tag_only=True), "1.0.0", SEQUENCE, "1.0.0", id="follow-tag-only"),
    pytest.param(
        Rules(follow_tag_only=True, policy="all"), "1.0.0", SEQUENCE, "1.0.0",
        id="follow-tag-only-beats-policy",
    ),
    pytest.param(Rules(follow_tag_only=True), "main", SEQUENCE, None, id="follow-tag-absent"),
    pytest.param(Rules(follow_tag_only=True), None, SEQUENCE, None, id="follow-nothing-runs"),
    pytest.param(
        Rules(follow_tag_only=True, filters=_filters({"regex": "^2"})), "1.0.0", SEQUENCE,
        "1.0.0", id="follow-tag-only-despite-filters",
    ),
    pytest.param(Rules(), "main", ["main", "dev", "1.0.0"], "main", id="running-not-a-version"),
    pytest.param(Rules(), "main", ["dev", "1.0.0"], None, id="running-not-a-version-absent"),
    pytest.param(
        Rules(policy="glob:*"), "main", ["main", "dev", "1.0.0"], "main",
        id="glob-stays-on-what-nothing-newer-can-be-ordered-against",
    ),
    pytest.param(
        Rules(policy="glob:*"), "1.1.0", SEQUENCE, "2.0.0", id="glob-drops-lower-versions",
    ),
    pytest.param(
        Rules(policy="glob:1.0.*"), "1.1.0", SEQUENCE, "1.1.0", id="glob-lower-only-stays-put",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rules", "running_tag", "tags", "expected"), NEWEST)
def test_newest_tag(
    rules: Rules,
    running_tag: str | None,
    tags: Sequence[str] | Mapping[str, str],
    expected: str | None,
) -> None:
    assert newest_tag(rules, running_tag=running_tag, tags=tags) == expected


# --- Rules.build -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "kinds"),
    [
        pytest.param([], (), id="no-filters"),
        pytest.param([{"semver": ">=1.2 <2"}], ("semver",), id="semver"),
        pytest.param([{"regex": "!-debug$"}], ("regex",), id="regex-inverted"),
        pytest.param(
            [{"regex": "-alpine$"}, {"semver": "1.2"}, {"regex": "x"}],
            ("regex", "semver", "regex"),
            id="several-in-order",
        ),
    ],
)
def test_rules_build(specs: list[dict[str, str]], kinds: tuple[str, ...]) -> None:
    rules = Rules.build(
        pinned_tag="1.2.0",
        auto_deploy=False,
        policy="patch",
        match_prerelease=False,
        filters=specs,
    )
    assert rules == Rules(
        pinned_tag="1.2.0",
        auto_deploy=False,
        policy="patch",
        match_prerelease=False,
        filters=tuple(parse_filter(spec) for spec in specs),
        follow_tag_only=False,
    )
    assert tuple(str(f.kind) for f in rules.filters) == kinds


def test_rules_build_filters_apply() -> None:
    rules = Rules.build(
        pinned_tag="",
        auto_deploy=True,
        policy="minor",
        match_prerelease=True,
        filters=[{"semver": ">=1.2 <2"}, {"regex": "!-debug$"}],
    )
    assert [f.spec for f in rules.filters] == [">=1.2 <2", "!-debug$"]
    assert [f.inverted for f in rules.filters] == [False, True]
    assert newest_tag(rules, running_tag=None, tags=["1.1.0", "1.5.0", "1.6.0-debug"]) == "1.5.0"


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        pytest.param([{"semver": ""}], "needs a non-empty string", id="empty-semver"),
        pytest.param([{"semver": "~1.2"}], "not a version comparator", id="bad-comparator"),
        pytest.param([{"regex": "("}], "invalid regex filter", id="bad-regex"),
        pytest.param([{"regex": "!"}], "empty pattern", id="empty-inverted-regex"),
        pytest.param([{"glob": "*"}], "unknown tag filter", id="unknown-kind"),
        pytest.param([{"semver": "1", "regex": "x"}], "exactly one", id="two-keys"),
        pytest.param([{}], "exactly one", id="no-key"),
        pytest.param([{"regex": "x"}, {"semver": "x"}], "not a version", id="second-invalid"),
    ],
)
def test_rules_build_rejects_filters(specs: list[dict[str, str]], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Rules.build(
            pinned_tag="", auto_deploy=True, policy="minor", match_prerelease=True, filters=specs
        )


def test_rules_defaults() -> None:
    rules = Rules()
    assert (rules.pinned_tag, rules.auto_deploy, rules.policy) == ("", True, "minor")
    assert (rules.match_prerelease, rules.filters, rules.follow_tag_only) == (True, (), False)


# --- properties --------------------------------------------------------------------------------

_VERSION_TAGS = st.builds(
    lambda prefix, major, minor, patch, pre: (
        f"{prefix}{major}.{minor}" + (f".{patch}" if patch is not None else "") + pre
    ),
    st.sampled_from(["", "v"]),
    st.integers(0, 3),
    st.integers(0, 3),
    st.none() | st.integers(0, 3),
    st.sampled_from(["", "", "-rc.1", "-rc.2", "-rc1", "-beta.1", "-alpha", "-1", "+build.7"]),
)
_TAGS = _VERSION_TAGS | st.sampled_from(["latest", "stable", "main"])
_RANGED_POLICIES = st.sampled_from(["all", "major", "minor", "patch"])
_FILTER_SETS = st.sampled_from(
    [(), BELOW_1_5, _filters({"regex": "!-rc"}), _filters({"semver": ">=1"}, {"regex": "^v"})]
)


@given(
    policy=_RANGED_POLICIES,
    match_prerelease=st.booleans(),
    auto_deploy=st.booleans(),
    manual=st.booleans(),
    filters=_FILTER_SETS,
    running=_VERSION_TAGS,
    pushed=_TAGS,
)
def test_decide_push_never_deploys_a_lower_version(
    policy: str,
    match_prerelease: bool,
    auto_deploy: bool,
    manual: bool,
    filters: tuple[TagFilter, ...],
    running: str,
    pushed: str,
) -> None:
    rules = Rules(
        policy=policy, match_prerelease=match_prerelease, auto_deploy=auto_deploy, filters=filters
    )
    decision = decide_push(rules, running=_runs(running), tag=pushed, digest=NEW, manual=manual)
    old, new = parse_version(running), parse_version(pushed)
    assert old is not None
    if decision.deploy:
        assert new is not None
        assert new >= old
    if new is not None and new < old:
        assert not decision.deploy


@given(
    policy=_RANGED_POLICIES,
    match_prerelease=st.booleans(),
    filters=_FILTER_SETS,
    running=_VERSION_TAGS,
    tags=st.lists(_TAGS, max_size=8, unique=True),
)
def test_desired_image_never_picks_a_lower_version(
    policy: str,
    match_prerelease: bool,
    filters: tuple[TagFilter, ...],
    running: str,
    tags: list[str],
) -> None:
    rules = Rules(policy=policy, match_prerelease=match_prerelease, filters=filters)
    catalog = _catalog(*tags)
    image, _ = desired_image(rules, name=NAME, running=_runs(running), catalog=catalog)
    old = parse_version(running)
    assert old is not None
    if image is not None:
        assert image.tag in catalog
        assert image.digest == catalog[image.tag]
        if image.tag != running:
            new = parse_version(image.tag)
            assert new is not None
            assert new > old
            verdict = decide_push(rules, running=_runs(running), tag=image.tag, digest=NEW)
            assert verdict.deploy, verdict.reason
    elif running in catalog:
        pytest.fail(f"{running} is in the catalog, so staying put is eligible")


@given(
    policy=_RANGED_POLICIES | st.sampled_from(["glob:*", "glob:1.*", "regexp:^v"]),
    running=st.none() | _TAGS,
    tags=st.lists(_TAGS, max_size=8, unique=True),
    data=st.data(),
)
def test_newest_tag_ignores_tag_order(
    policy: str, running: str | None, tags: list[str], data: st.DataObject
) -> None:
    rules = Rules(policy=policy)
    shuffled = data.draw(st.permutations(tags))
    assert newest_tag(rules, running_tag=running, tags=tags) == newest_tag(
        rules, running_tag=running, tags=shuffled
    )


# --- cosign's own tags ---------------------------------------------------------------------------

SIG_TAG = "sha256-" + "b" * 64 + ".sig"
ARTIFACT_TAGS = [
    (SIG_TAG, "signatures"),
    ("sha256-" + "b" * 64 + ".att", "attestations"),
    ("sha256-" + "b" * 64 + ".sbom", "SBOM"),
    ("sha256-" + "b" * 64, "referrers"),
]


@pytest.mark.parametrize(("tag", "what"), ARTIFACT_TAGS)
def test_cosigns_tags_are_never_an_image_to_deploy(tag: str, what: str) -> None:
    assert artifact_of(tag) == NEW
    decided = decide_push(Rules(policy="glob:*"), running=_runs("1.0.0"), tag=tag, digest=OLD)
    assert decided == Decision(
        deploy=False, reason=f"{tag} holds the {what} of sha256:{'b' * 12}, not an image"
    )
    catalog = {**_catalog("1.0.0"), tag: OLD}
    assert newest_tag(Rules(policy="glob:*"), running_tag="1.0.0", tags=catalog) == "1.0.0"
    pinned, reason = desired_image(Rules(pinned_tag=tag), name=NAME, running=None, catalog=catalog)
    assert pinned is None and reason.startswith(f"pinned tag {tag} holds the {what}")


@pytest.mark.parametrize("tag", ["sha256-abc.sig", "sha256-" + "b" * 64 + ".sig2", "1.0.0.sig"])
def test_other_tags_are_not_cosigns(tag: str) -> None:
    assert artifact_of(tag) is None
