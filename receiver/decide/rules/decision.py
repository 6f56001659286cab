"""Whether one target should move to one image, and why. Pure: the caller reads the state.

Two questions are answered here:

- ``decide_push``: a tag was pushed with a digest; should this target move to it?
- ``desired_image``: given the catalog of a repository, which tag should this target run now?
  (setting a pin, switching ``auto_deploy`` back on, a reset, a plan).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers.references import ImageName, ImageRef, short_digest
from receiver.decide.rules.policy import (
    PolicyKind,
    TagFilter,
    judge_tag,
    newest_eligible,
    parse_filter,
    parse_policy,
)

# Policies whose eligible tags do not depend on the running version.
_UNRANGED = frozenset({PolicyKind.ALL, PolicyKind.FORCE})
# Policies whose candidates are the tags a pattern matches.
_PATTERNS = frozenset({PolicyKind.GLOB, PolicyKind.REGEXP})
# The version below every release, to start from when nothing runs.
_FLOOR = "0.0.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """What governs a target: its watched repository's settings, or a discovered workload's.

    ``follow_tag_only`` is for a discovered workload of a repository nobody watches: it moves
    only when the tag it runs gets a new digest.
    """

    pinned_tag: str = ""
    auto_deploy: bool = True
    policy: str = "minor"
    match_prerelease: bool = True
    filters: tuple[TagFilter, ...] = ()
    follow_tag_only: bool = False

    @classmethod
    def build(
        cls,
        *,
        pinned_tag: str,
        auto_deploy: bool,
        policy: str,
        match_prerelease: bool,
        filters: Sequence[Mapping[str, str]],
    ) -> Rules:
        return cls(
            pinned_tag=pinned_tag,
            auto_deploy=auto_deploy,
            policy=policy,
            match_prerelease=match_prerelease,
            filters=tuple(parse_filter(f) for f in filters),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Whether to deploy, and why. ``adopt``: the target runs the pushed tag by name only and
    nothing shows the push is newer than what runs: it is taken as running it, not restarted."""

    deploy: bool
    reason: str
    adopt: bool = False


# The tags cosign writes beside an image (its signatures, attestations, SBOM, and the OCI
# referrers tag): artifacts of the digest they name, never an image to deploy.
_ARTIFACT_TAG = re.compile(r"^sha256-([0-9a-f]{64})(?:\.(sig|att|sbom))?$")
_ARTIFACT_WORDS = {"sig": "signatures", "att": "attestations", "sbom": "SBOM", None: "referrers"}


def artifact_of(tag: str) -> str | None:
    """The digest ``tag`` holds cosign's artifacts of (``sha256-<hex>.sig`` → ``sha256:<hex>``),
    or None for any other tag."""
    found = _ARTIFACT_TAG.match(tag)
    return f"sha256:{found[1]}" if found else None


def decide_push(
    rules: Rules,
    *,
    running: ImageRef | None,
    tag: str,
    digest: str,
    manual: bool = False,
    pushed_at: datetime | None = None,
    running_since: datetime | None = None,
) -> Decision:
    """Should a target that runs ``running`` (since ``running_since``) move to ``tag@digest``,
    which was just pushed (at ``pushed_at``, None when nobody knows)?"""
    if (found := _ARTIFACT_TAG.match(tag)) is not None:
        what = _ARTIFACT_WORDS[found[2]]
        return Decision(deploy=False, reason=f"{tag} holds the {what} of sha256:{found[1][:12]}, "
                        "not an image")  # fmt: skip
    if running is not None and running.digest == digest:
        return Decision(deploy=False, reason=f"already runs {tag}@{short_digest(digest)}")
    if not rules.auto_deploy and not manual:
        return Decision(deploy=False, reason="auto_deploy is off")
    if rules.pinned_tag:
        if tag == rules.pinned_tag:
            return _new_digest(f"pinned tag {tag}", running, pushed_at, running_since)
        return Decision(deploy=False, reason=f"pinned to {rules.pinned_tag}")
    if running is None or running.tag is None:
        what = "runs no image regdeploy knows" if running is None else "runs an untagged image"
        return Decision(deploy=False, reason=f"the target {what}; pin a tag to deploy it")
    if tag == running.tag:
        return _new_digest(f"tag {tag}", running, pushed_at, running_since)
    if rules.follow_tag_only:
        return Decision(deploy=False, reason=f"the target follows tag {running.tag} only")
    for tag_filter in rules.filters:
        if not tag_filter.allows(tag):
            return Decision(deploy=False, reason=tag_filter.describe(tag))
    verdict = judge_tag(rules.policy, running.tag, tag, match_prerelease=rules.match_prerelease)
    return Decision(deploy=verdict.update, reason=verdict.reason)


def _new_digest(
    what: str, running: ImageRef | None, pushed_at: datetime | None, since: datetime | None
) -> Decision:
    """A push of the tag the target runs. When the target names its image by tag alone, its
    digest is unknown: it moves only if the push came after the target was last changed;
    otherwise what runs is adopted as it is (no restart on first sight)."""
    if running is None or running.digest is not None or running.tag is None:
        return Decision(deploy=True, reason=f"{what} points at a new digest")
    if pushed_at is not None and since is not None and pushed_at > since:
        return Decision(
            deploy=True,
            reason=f"{what} was pushed at {_at(pushed_at)}, after the target last changed "
            f"({_at(since)})",
        )
    why = (
        "nothing shows when it was pushed"
        if pushed_at is None
        else "the orchestrator does not say when the target last changed"
        if since is None
        else f"it was pushed at {_at(pushed_at)}, before the target last changed ({_at(since)})"
    )
    return Decision(
        deploy=False,
        adopt=True,
        reason=f"adopted: the target runs {running.tag} by tag, taken as this push since {why}",
    )


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def desired_image(
    rules: Rules, *, name: ImageName, running: ImageRef | None, catalog: Mapping[str, str]
) -> tuple[ImageRef | None, str]:
    """The image the target should run given every tag the repository has now, and why.

    Returns ``(None, reason)`` when there is nothing to run: the pinned tag is unknown, or no
    tag is eligible.
    """
    if rules.pinned_tag:
        digest = catalog.get(rules.pinned_tag)
        if digest is None:
            return None, f"pinned tag {rules.pinned_tag} is not in the registry"
        if (found := _ARTIFACT_TAG.match(rules.pinned_tag)) is not None:
            what = _ARTIFACT_WORDS[found[2]]
            return None, f"pinned tag {rules.pinned_tag} holds the {what} of an image, not one"
        image = ImageRef(name=name, tag=rules.pinned_tag, digest=digest)
        return image, f"pinned to {rules.pinned_tag}"
    tag = newest_tag(rules, running_tag=running.tag if running else None, tags=catalog)
    if tag is None:
        return None, "no tag is eligible under the policy and filters"
    return ImageRef(name=name, tag=tag, digest=catalog[tag]), f"{tag} is the newest eligible tag"


def newest_tag(
    rules: Rules, *, running_tag: str | None, tags: Sequence[str] | Mapping[str, str]
) -> str | None:
    """The newest tag the rules allow, relative to what runs (or, when nothing runs, the
    newest release the policy's kind of tags allows, whatever its version range)."""
    # Filters do not apply to staying on the running tag (as in ``decide_push``).
    allowed = [
        t
        for t in tags
        if not _ARTIFACT_TAG.match(t)
        and (t == running_tag or all(f.allows(t) for f in rules.filters))
    ]
    if not allowed:
        return None
    if rules.follow_tag_only:
        return running_tag if running_tag in allowed else None
    if running_tag is not None:
        return newest_eligible(
            rules.policy, running_tag, allowed, match_prerelease=rules.match_prerelease
        )
    kind = parse_policy(rules.policy).kind
    if kind in _PATTERNS:
        return newest_eligible(rules.policy, None, allowed, match_prerelease=rules.match_prerelease)
    unranged = rules.policy if kind in _UNRANGED else PolicyKind.MAJOR.value
    return newest_eligible(unranged, _FLOOR, allowed, match_prerelease=rules.match_prerelease)
