"""What runs where, and what governs each workload: the inventory's entries with the rules the
planner applies to each of them, where those rules come from, and its last deployment.

The rules are the planner's own (``Planner.affected``), so the console shows what a decision
would use; nothing here decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from handlers.references import Aliases, ImageName
from receiver.background.inventory import Entry
from receiver.decide.affected import Affected
from receiver.decide.planner import Planner
from receiver.errors import DeployerUnavailable
from receiver.store.records import Deployment, RepositoryState


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadLine:
    """One workload: what runs, the repository and policy that govern it (None when that is
    not known now: a deployer did not answer), where the policy comes from, its last deploy."""

    entry: Entry
    repository_name: str | None
    policy: str | None
    governed_by: str
    last: Deployment | None


async def workload_lines(
    entries: Sequence[Entry],
    *,
    planner: Planner,
    repositories: Sequence[RepositoryState],
    aliases: Aliases,
    last: Mapping[str, Deployment],
) -> list[WorkloadLine]:
    """``entries`` (the inventory's), each with what governs it and its last deployment."""
    governing: dict[str, Affected] = {}
    names: list[tuple[ImageName, RepositoryState | None]] = [
        (state.rules.image, state) for state in repositories
    ]
    names += [(aliases.name(e.running.image.name), None) for e in entries if e.running]
    for name, state in names:
        try:
            for affected in await planner.affected(name, only=state):
                governing.setdefault(affected.target.key, affected)
        except DeployerUnavailable:
            continue  # its workloads show as not known now
    configured = {t.key: s.rules.name for s in repositories for t in s.rules.targets}
    return [
        _line(e, governing.get(e.target.key), configured.get(e.target.key), last) for e in entries
    ]


def _line(
    entry: Entry,
    affected: Affected | None,
    configured_in: str | None,
    last: Mapping[str, Deployment],
) -> WorkloadLine:
    found = last.get(entry.target.key)
    if affected is not None and affected.problem is not None:
        return WorkloadLine(
            entry=entry,
            repository_name=affected.repository_name,
            policy=None,
            governed_by=f"nothing: {affected.problem}",
            last=found,
        )
    if affected is None:
        return WorkloadLine(
            entry=entry,
            repository_name=configured_in,
            policy=None,
            governed_by="not known now: a deployer did not answer",
            last=found,
        )
    return WorkloadLine(
        entry=entry,
        repository_name=affected.repository_name,
        policy="its own tag" if affected.rules.follow_tag_only else affected.rules.policy,
        governed_by=_governed_by(affected, configured_in),
        last=found,
    )


def _governed_by(affected: Affected, configured_in: str | None) -> str:
    if configured_in is not None:
        return f"listed in the targets of {configured_in}"
    watched = affected.repository_name
    if affected.target.policy:
        where = f"in {watched}" if watched else "no repository watches its image"
        return f"its own regdeploy.policy label or job meta ({where})"
    if watched:
        return f"{watched}, which it opted in to by label or job meta"
    return "its own tag only: no repository watches its image"
