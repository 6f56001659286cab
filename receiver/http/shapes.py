"""How records look in JSON answers: one function per record, shared by every route."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from itertools import groupby
from typing import Any

from receiver.background.inventory import Entry, ListingState
from receiver.config.loading import Config
from receiver.config.server import Source
from receiver.decide.actions import ActionResult
from receiver.decide.planner import Outlook
from receiver.store.records import (
    Attempt,
    AuditEntry,
    CatalogTag,
    Deployment,
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


def deployment_json(d: Deployment) -> dict[str, Any]:
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


def result_json(result: ActionResult) -> dict[str, Any]:
    """What an action on a repository changed and started."""
    return {
        "repository": repository_json(result.state),
        "changed": changes_json(result.changed),
        "deployments": list(result.deployments),
        "targets": [outlook_json(o) for o in result.outlooks],
    }


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
