"""The service's own answers as JSON: its status, what runs where, its sources and notifiers
(the shapes of ``receiver.views.answers``)."""

from __future__ import annotations

from collections.abc import Sequence

from receiver import version
from receiver.background.inventory import Entry, ListingState
from receiver.config.loading import Config
from receiver.config.notifiers import NotifierConfig
from receiver.config.server import Source
from receiver.store.records import Backlog, LeaseState
from receiver.views.answers import (
    DeployerHealthJson,
    ListingJson,
    NotifierJson,
    QueueJson,
    ReconcilerJson,
    SourceJson,
    StatusJson,
    SwitchJson,
    WorkloadJson,
)
from receiver.views.reads import DeploymentView, Status, reconciler_rounds
from receiver.views.shapes import deployment_json, freeze_json, optional_iso, target_json


def source_json(source: Source, config: Config) -> SourceJson:
    registry = config.aliases.canonical(source.registry) if source.registry else None
    return {
        "name": source.name,
        "format": source.format,
        "registry": registry,
        "confirm_digests": source.confirm_digests,
        "url": f"/webhooks/{source.name}",
    }


def notifier_json(notifier: NotifierConfig) -> NotifierJson:
    """A notifier as the API may show it: no URL, token or password, only masked hints."""
    shown: NotifierJson = {
        "name": notifier.name,
        "type": notifier.type,
        "level": notifier.level.value,
        "started": notifier.started,
    }
    if notifier.url is not None:
        shown["url"] = notifier.url.masked()
    if notifier.smtp is not None:
        smtp = notifier.smtp
        shown["host"], shown["port"], shown["security"] = smtp.host, smtp.port, smtp.security
        shown["from"], shown["to"] = smtp.sender, list(smtp.recipients)
    return shown


def status_json(found: Status, *, config: Config, running: Sequence[DeploymentView]) -> StatusJson:
    """What a running regdeploy is doing (``running``: its running deploys, as views)."""
    return {
        "status": "ok" if found.ok else "degraded",
        "version": version(),
        "database": {
            "embedded": config.database.url is None,
            "reachable": found.database_error is None,
            "message": found.database_error,
        },
        "deployers": [deployer_health_json(s) for s in found.listings],
        "deployer_switches": switches_json(config),
        "dry_run": config.dry_run,
        "worker": {"enabled": config.worker.enabled},
        "queue": queue_json(found.backlog, running) if found.backlog else None,
        "freezes": [freeze_json(f) for f in found.freezes],
        "reconciler": reconciler_json(found.lease, interval=config.reconcile_interval_seconds),
    }


def queue_json(queue: Backlog, running: Sequence[DeploymentView]) -> QueueJson:
    oldest = queue.oldest_pending_at
    return {
        "pending_events": queue.pending_events,
        "oldest_pending_at": optional_iso(oldest),
        "oldest_pending_age_seconds": round(queue.oldest_pending_seconds, 1) if oldest else None,
        "planned_deploys": queue.planned_deploys,
        "running_deploys": queue.running_deploys,
        "waiting_deploys": queue.waiting_deploys,
        "running": [deployment_json(view) for view in running],
    }


def reconciler_json(lease: LeaseState | None, *, interval: float) -> ReconcilerJson:
    """The reconciler: how often it runs, who ran the last round and when."""
    last, following = reconciler_rounds(lease, interval=interval)
    return {
        "enabled": interval > 0,
        "interval_seconds": interval,
        "holder": lease.holder if lease else None,
        "last_round_at": optional_iso(last),
        "next_round_at": optional_iso(following),
    }


def deployer_health_json(listing: ListingState) -> DeployerHealthJson:
    """Whether a deployer's orchestrator answered the inventory's last listing."""
    reachable = listing.error is None and listing.listed_at is not None
    return {"kind": listing.kind, "reachable": reachable, "message": listing.error}


def switches_json(config: Config) -> list[SwitchJson]:
    """Each deployer family, whether it is on and why."""
    return [
        {"name": name, "on": switch.on, "why": switch.why}
        for name, switch in config.switches().items()
    ]


def workload_json(entry: Entry) -> WorkloadJson:
    running = entry.running
    return {
        "target": target_json(entry.target),
        "target_key": entry.target.key,
        "configured": entry.configured,
        "image": str(running.image) if running else None,
        "tag": running.image.tag if running else None,
        "digest": running.image.digest if running else None,
        "since": optional_iso(running.since) if running else None,
    }


def listing_json(state: ListingState) -> ListingJson:
    return {"kind": state.kind, "listed_at": optional_iso(state.listed_at), "error": state.error}
