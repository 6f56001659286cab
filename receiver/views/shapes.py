"""How records look in JSON answers: one function per record, shared by every route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from receiver.background.inventory import Entry, ListingState
from receiver.background.reconciler import LEASE_ROUNDS
from receiver.config.loading import Config
from receiver.config.server import Source
from receiver.decide.actions import ActionResult, describe, no_targets, sorted_tags
from receiver.decide.planner import Explanation, Outlook, TagDecision
from receiver.decide.release import FreezeResult, RepositoryRelease, TargetRelease, VoteResult
from receiver.decide.rules.release import Freeze, ReleaseVerdict, Vote, Wait
from receiver.store.records import (
    Attempt,
    AuditEntry,
    Backlog,
    CatalogTag,
    Deployment,
    LeaseState,
    RepositoryState,
    StoredEvent,
    StoredNotice,
    StoredRejection,
)


def event_json(stored: StoredEvent) -> dict[str, Any]:
    return {
        "id": stored.id,
        **stored.event.fields(),
        "occurred_at": iso(stored.event.occurred_at),
        "received_at": iso(stored.received_at),
        "status": stored.status.value,
        "attempts": stored.attempts,
        "reason": stored.reason,
    }


def catalog_json(tags: list[CatalogTag]) -> list[dict[str, Any]]:
    """Tags grouped by repository; ``tags`` must be sorted by (registry, repository)."""
    return [
        {
            "registry": registry,
            "repository": repository,
            "tags": [
                {
                    "tag": t.tag,
                    "digest": t.digest,
                    "media_type": t.media_type,
                    "pushed_at": iso(t.pushed_at),
                }
                for t in group
            ],
        }
        for (registry, repository), group in groupby(tags, key=lambda t: (t.registry, t.repository))
    ]


def rejection_json(rejection: StoredRejection) -> dict[str, Any]:
    return {
        "id": rejection.id,
        "source": rejection.source,
        "reason": rejection.reason,
        "content_type": rejection.content_type,
        "size": rejection.size,
        "received_at": iso(rejection.received_at),
    }


def source_json(source: Source, config: Config) -> dict[str, Any]:
    registry = config.aliases.canonical(source.registry) if source.registry else None
    return {
        "name": source.name,
        "format": source.format,
        "registry": registry,
        "confirm_digests": source.confirm_digests,
        "url": f"/webhooks/{source.name}",
    }


def notice_json(n: StoredNotice) -> dict[str, Any]:
    return {
        "id": n.id,
        "notifier": n.notifier,
        "deployment_id": n.deployment_id,
        "kind": n.kind,
        "status": n.status,
        "attempts": n.attempts,
        "last_error": n.last_error,
        "created_at": iso(n.created_at),
        "sent_at": iso(n.sent_at),
    }


def repository_json(state: RepositoryState) -> dict[str, Any]:
    repo = state.rules
    return {
        "name": repo.name,
        "image": str(repo.image),
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "match_prerelease": repo.match_prerelease,
        "filters": [dict(f) for f in repo.filters],
        "targets": [t.as_json() for t in repo.targets],
        "changed_through_api": list(state.overrides),
        "updated_at": iso(state.updated_at),
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "actor": entry.actor,
        "field": entry.field,
        "old": entry.old_value,
        "new": entry.new_value,
        "changed_at": iso(entry.changed_at),
    }


def deployment_json(
    d: Deployment, *, verdict: ReleaseVerdict | None = None, votes: Sequence[Vote] = ()
) -> dict[str, Any]:
    """A deployment; ``verdict``: what it waits for now (when it waits), ``votes``: the votes
    cast on it (when it needs approvals)."""
    return {
        "id": d.id,
        "target": d.target.as_json(),
        "target_key": d.target.key,
        "repository": d.repository_name,
        "image": str(d.image),
        "tag": d.image.tag,
        "digest": d.image.digest,
        "previous_image": d.previous_image,
        "status": d.status.value,
        "reason": d.reason,
        "trigger": d.trigger,
        "message": d.message,
        "attempts": d.attempts,
        "event_id": d.event_id,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "finished_at": iso(d.finished_at),
        **release_json(d, verdict, votes),
    }


def release_json(
    d: Deployment, verdict: ReleaseVerdict | None, votes: Sequence[Vote]
) -> dict[str, Any]:
    """A deployment's release control: what it waits for (in words), its rules, its votes."""
    approvals = (
        {"required": d.release.approvals, "votes": [vote_json(v) for v in votes]}
        if d.release.approvals
        else None
    )
    return {
        "wait": verdict.words if verdict and verdict.waits else None,
        "waits": [wait_json(w) for w in verdict.waits] if verdict else [],
        "release_rules": d.release.describe(),
        "approvals": approvals,
        "forced_by": d.forced_by,
    }


def wait_json(wait: Wait) -> dict[str, Any]:
    return {"kind": wait.kind.value, "words": wait.words, "until": iso(wait.until)}


def vote_json(vote: Vote) -> dict[str, Any]:
    return {
        "actor": vote.actor,
        "vote": "approve" if vote.approve else "reject",
        "comment": vote.comment,
        "at": iso(vote.at),
    }


def freeze_json(freeze: Freeze) -> dict[str, Any]:
    return {
        "repository": freeze.repository,
        "reason": freeze.reason,
        "actor": freeze.actor,
        "since": iso(freeze.since),
        "words": freeze.describe(),
    }


def freezes_json(result: FreezeResult) -> dict[str, Any]:
    return {
        "freezes": [freeze_json(f) for f in result.freezes],
        "released": list(result.released),
        "message": result.message,
    }


def vote_result_json(result: VoteResult) -> dict[str, Any]:
    verdict = result.verdict
    return {
        "deployment": result.deployment.id,
        "status": result.status.value,
        "counted": result.counted,
        "outcome": verdict.outcome.value,
        "waits": [wait_json(w) for w in verdict.waits],
        "message": result.message,
    }


def attempt_json(a: Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "worker": a.worker,
        "outcome": a.outcome,
        "message": a.message,
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
    }


def outlook_json(o: Outlook) -> dict[str, Any]:
    return {
        "target": o.target.as_json(),
        "running": str(o.running) if o.running else None,
        "image": str(o.image) if o.image else None,
        "deploy": o.deploy,
        "reason": o.reason,
    }


def result_json(result: ActionResult, *, deployers: Sequence[str]) -> dict[str, Any]:
    """What an action on a repository changed and started, and, in ``message``, why it
    deployed nothing to a target (``deployers``: the kinds on, named when it found none)."""
    return {
        "repository": repository_json(result.state),
        "changed": changes_json(result.changed),
        "deployments": list(result.deployments),
        "targets": [outlook_json(o) for o in result.outlooks],
        "message": describe(result, deployers=deployers),
    }


def explanation_json(
    state: RepositoryState,
    catalog: Sequence[CatalogTag],
    explanations: Sequence[Explanation],
    *,
    deployers: Sequence[str],
    release: RepositoryRelease,
) -> dict[str, Any]:
    """``/explain``: the repository's rules and tags (newest first), the freezes that hold it,
    and for each target what it would get now, what a push of each tag would do, and why, its
    release rules and the deploy that waits for it (with what it waits for)."""
    order = {tag: i for i, tag in enumerate(sorted_tags([t.tag for t in catalog]))}
    tags = sorted(catalog, key=lambda t: order[t.tag])
    repo = state.rules
    return {
        "repository": repo.name,
        "image": str(repo.image),
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "tags": [{"tag": t.tag, "digest": t.digest, "pushed_at": iso(t.pushed_at)} for t in tags],
        "freezes": [freeze_json(f) for f in release.freezes],
        "targets": [
            {
                **outlook_json(e.outlook),
                "target_key": e.outlook.target.key,
                "configured": e.configured,
                "pushes": [
                    push_decision_json(p) for p in sorted(e.pushes, key=lambda p: order[p.tag.tag])
                ],
                **target_release_json(release.targets.get(e.outlook.target.key)),
            }
            for e in explanations
        ],
        "message": None if explanations else no_targets(state, deployers),
    }


def target_release_json(found: TargetRelease | None) -> dict[str, Any]:
    if found is None:
        return {"release_rules": [], "waiting": None}
    waiting = found.waiting
    return {
        "release_rules": list(found.rules),
        "waiting": deployment_json(waiting, verdict=found.verdict, votes=found.votes)
        if waiting
        else None,
    }


def push_decision_json(pushed: TagDecision) -> dict[str, Any]:
    return {
        "tag": pushed.tag.tag,
        "digest": pushed.tag.digest,
        "deploy": pushed.decision.deploy,
        "adopt": pushed.decision.adopt,
        "reason": pushed.decision.reason,
    }


def queue_json(queue: Backlog, running: Sequence[Deployment]) -> dict[str, Any]:
    oldest = queue.oldest_pending_at
    return {
        "pending_events": queue.pending_events,
        "oldest_pending_at": iso(oldest),
        "oldest_pending_age_seconds": round(queue.oldest_pending_seconds, 1) if oldest else None,
        "planned_deploys": queue.planned_deploys,
        "running_deploys": queue.running_deploys,
        "waiting_deploys": queue.waiting_deploys,
        "running": [deployment_json(d) for d in running],
    }


def reconciler_json(lease: LeaseState | None, *, interval: float) -> dict[str, Any]:
    """The reconciler: how often it runs, who ran the last round and when."""
    last, following = reconciler_rounds(lease, interval=interval)
    return {
        "enabled": interval > 0,
        "interval_seconds": interval,
        "holder": lease.holder if lease else None,
        "last_round_at": iso(last),
        "next_round_at": iso(following),
    }


def reconciler_rounds(
    lease: LeaseState | None, *, interval: float
) -> tuple[datetime | None, datetime | None]:
    """When the reconciler's last round started and when the next one is due, from its lease
    (taken for ``LEASE_ROUNDS`` intervals at the start of each round); None, None before any."""
    if lease is None:
        return None, None
    last = lease.expires_at - timedelta(seconds=interval * LEASE_ROUNDS)
    return last, last + timedelta(seconds=interval)


def deployer_health_json(listing: ListingState) -> dict[str, Any]:
    """Whether a deployer's orchestrator answered the inventory's last listing."""
    reachable = listing.error is None and listing.listed_at is not None
    return {"kind": listing.kind, "reachable": reachable, "message": listing.error}


def switches_json(config: Config) -> list[dict[str, Any]]:
    """Each deployer family, whether it is on and why."""
    return [
        {"name": name, "on": switch.on, "why": switch.why}
        for name, switch in config.switches().items()
    ]


def changes_json(changed: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    return {k: {"old": old, "new": new} for k, (old, new) in changed.items()}


def entry_json(entry: Entry) -> dict[str, Any]:
    running = entry.running
    return {
        "target": entry.target.as_json(),
        "target_key": entry.target.key,
        "configured": entry.configured,
        "image": str(running.image) if running else None,
        "tag": running.image.tag if running else None,
        "digest": running.image.digest if running else None,
        "since": iso(running.since) if running else None,
    }


def listing_json(state: ListingState) -> dict[str, Any]:
    return {"kind": state.kind, "listed_at": iso(state.listed_at), "error": state.error}


def iso(moment: datetime | None) -> str | None:
    """An ISO 8601 time, or None."""
    return moment.isoformat() if moment is not None else None
