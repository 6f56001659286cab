"""The service's own answers as JSON: its status, what runs where, its sources and notifiers
(the shapes of ``receiver.views.answers``)."""

from __future__ import annotations

from collections.abc import Sequence

from receiver import version
from receiver.background.inventory import Entry, ListingState
from receiver.config.loading import Config
from receiver.config.notifiers import NotifierConfig
from receiver.config.server import Source
from receiver.store.records import Backlog, LeaseState, ProcessState
from receiver.views.answers import (
    ConfigurationJson,
    DeployerHealthJson,
    ListingJson,
    NotifierJson,
    ProcessJson,
    QueueJson,
    ReconcilerJson,
    SourceJson,
    StatusJson,
    SwitchJson,
    WorkloadJson,
)
from receiver.views.reads import DeploymentView, Status, reconciler_rounds
from receiver.views.shapes import deployment_json, freeze_json, iso, optional_iso, target_json


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


def status_json(
    found: Status,
    *,
    config: Config,
    running: Sequence[DeploymentView],
    process: ProcessState,
) -> StatusJson:
    """What a running regdeploy is doing (``running``: its running deploys, as views;
    ``process``: this process, and the configuration it runs)."""
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
        "configuration": configuration_json(process, found.processes),
        "processes": [process_json(p) for p in found.processes],
    }


def configuration_json(
    process: ProcessState, processes: Sequence[ProcessState]
) -> ConfigurationJson:
    """The configuration this process runs, the reload it refused last (if that came after),
    and whether every process seen lately runs the same."""
    return {
        "process": process.id,
        "path": process.config_path,
        "fingerprint": process.fingerprint,
        "loaded_at": iso(process.loaded_at),
        "restart_needed": list(process.restart_needed),
        "refused_at": optional_iso(process.refused_at),
        "refusal": list(process.refusal) if process.refusal is not None else None,
        "processes_agree": all(p.fingerprint == process.fingerprint for p in processes),
    }


def process_json(process: ProcessState) -> ProcessJson:
    return {
        "id": process.id,
        "role": process.role,
        "config_path": process.config_path,
        "fingerprint": process.fingerprint,
        "started_at": optional_iso(process.started_at),
        "loaded_at": iso(process.loaded_at),
        "restart_needed": list(process.restart_needed),
        "refused_at": optional_iso(process.refused_at),
        "refusal": list(process.refusal) if process.refusal is not None else None,
        "seen_at": optional_iso(process.seen_at),
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
