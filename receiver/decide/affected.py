"""A target a push may move, and the rules that govern it: its watched repository's, or, for a
workload that opted in by label or job meta, its own (pure: the planner hands in what it read
and finds the targets, ``Planner.affected``)."""

from __future__ import annotations

from dataclasses import dataclass

from deployers.base import Target
from receiver.decide.rules.decision import Rules
from receiver.decide.rules.policy import parse_policy
from receiver.errors import PolicyError
from receiver.store.records import RepositoryState


@dataclass(frozen=True, slots=True, kw_only=True)
class Affected:
    """A target and the rules that govern it; ``problem``: why its own rules cannot be read
    (a policy label that is no policy), which makes every decision for it a skip."""

    target: Target
    rules: Rules
    repository_name: str | None
    notify: tuple[str, ...] = ()
    problem: str | None = None


def rules_of(state: RepositoryState) -> Rules:
    repo = state.rules
    return Rules.build(
        pinned_tag=repo.pinned_tag,
        auto_deploy=repo.auto_deploy,
        policy=repo.policy,
        match_prerelease=repo.match_prerelease,
        filters=repo.filters,
    )


def discovered(target: Target, watched: RepositoryState | None) -> Affected:
    """A workload that opted in by label: its repository's rules (its own policy label wins),
    or, for a repository nobody watches, its own tag only (unless it names a policy). A policy
    label that is no policy makes it a target whose every decision is a skip, saying why."""
    if target.policy:
        try:
            parse_policy(target.policy)
        except PolicyError as exc:
            return Affected(
                target=target,
                rules=Rules(),
                repository_name=watched.rules.name if watched is not None else None,
                notify=target.notify,
                problem=f"its regdeploy.policy label or job meta: {exc}",
            )
    if watched is not None:
        rules = rules_of(watched)
        if target.policy:
            rules = Rules(
                pinned_tag=rules.pinned_tag,
                auto_deploy=rules.auto_deploy,
                policy=target.policy,
                match_prerelease=rules.match_prerelease,
                filters=rules.filters,
            )
        return Affected(
            target=target,
            rules=rules,
            repository_name=watched.rules.name,
            notify=union(watched.rules.notify, target.notify),
        )
    rules = Rules(policy=target.policy or "force", follow_tag_only=target.policy is None)
    return Affected(target=target, rules=rules, repository_name=None, notify=target.notify)


def union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """Names in order of first appearance, each once."""
    return tuple(dict.fromkeys(name for group in groups for name in group))
