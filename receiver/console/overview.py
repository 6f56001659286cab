"""The overview (``/``): is everything reachable, what waits, what failed lately, and links to
whatever needs attention. Its status is the one ``/api/v1/status`` answers with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from receiver.console.render import render_fragment, render_page
from receiver.console.sessions import page
from receiver.errors import StoreError
from receiver.reloading import RUNNING, services_of
from receiver.store.records import Deployment, EventStatus, ProcessState, StoredNotice
from receiver.views.reads import Status, reconciler_rounds

#: How far back failed deploys and notices are shown.
RECENT = timedelta(hours=24)
RECENT_LISTED = 20
#: How long the overview waits for a registry to answer.
REGISTRY_SECONDS = 3.0
#: How long the registries' answers are shown before they are asked again.
REGISTRY_CHECK_SECONDS = 30.0
#: A pending event older than this needs attention.
PENDING_SECONDS = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Attention:
    """Something that needs someone: what, and where to look."""

    text: str
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    host: str
    error: str | None


@page()
async def overview(request: web.Request) -> web.Response:
    context = await live_context(request)
    return render_page(request, "overview.html", {"title": "Overview", **context})


async def live_part(request: web.Request) -> str:
    return render_fragment(request, "_overview.html", await live_context(request))


async def live_context(request: web.Request) -> dict[str, Any]:
    """Everything of the overview but the registries, which are asked once per page."""
    running = request.app[RUNNING]
    services = running.services
    config = services.config
    status = await services.views.status()
    failed: list[Deployment] = []
    notices: list[StoredNotice] = []
    failed_events = 0
    if status.database_error is None:
        store, since = services.store, services.clock.now() - RECENT
        try:
            failed = await store.deployments.failed_since(since, limit=RECENT_LISTED)
            notices = await store.notices.failed_since(since, limit=RECENT_LISTED)
            events = await store.events.list_events(limit=100, status=EventStatus.FAILED.value)
            failed_events = len(events)
        except StoreError:
            pass  # the database went away meanwhile: the status says so the next time
    registries = await request.app[REGISTRY_CHECKS].registries(request.app)
    last_round, next_round = reconciler_rounds(
        status.lease, interval=config.reconcile_interval_seconds
    )
    return {
        "status": status,
        "switches": config.switches(),
        "embedded": config.database.url is None,
        "worker_on": config.worker.enabled,
        "reconcile_interval": config.reconcile_interval_seconds,
        "last_round": last_round,
        "next_round": next_round,
        "failed": failed,
        "failed_notices": notices,
        "failed_events": failed_events,
        "registries": registries,
        "attention": _attention(
            status,
            failed,
            notices,
            failed_events,
            registries,
            deployers=services.deployers.kinds(),
            process=running.process,
        ),
    }


def _attention(
    status: Status,
    failed: list[Deployment],
    notices: list[StoredNotice],
    failed_events: int,
    registries: list[Registry],
    *,
    deployers: list[str],
    process: ProcessState,
) -> list[Attention]:
    found: list[Attention] = []

    def add(text: str, href: str) -> None:
        found.append(Attention(text=text, href=href))

    if status.database_error is not None:
        add(f"the database does not answer: {status.database_error}", "/")
    refused = {p.id: p for p in status.processes if p.refusal is not None}
    if process.refusal is not None:
        refused[process.id] = process
    for each in refused.values():
        add(refused_words(each), "/")
    if len({p.fingerprint for p in status.processes}) > 1:
        add(disagreeing_words(status.processes), "/")
    if not deployers:
        add(
            "nothing can deploy: no deployer is on (set DOCKER_HOST or NOMAD_ADDR, or configure "
            "deployers.docker or nomad)",
            "/workloads",
        )
    for listing in status.listings:
        if listing.error:
            add(listing.error, "/workloads")
    for registry in registries:
        if registry.error:
            # The client's error names the registry already ("registry H unreachable: ...").
            said = (
                registry.error
                if registry.host in registry.error
                else (f"registry {registry.host} does not answer: {registry.error}")
            )
            add(said, "/repositories")
    backlog = status.backlog
    if backlog is not None and backlog.oldest_pending_seconds > PENDING_SECONDS:
        age = int(backlog.oldest_pending_seconds)
        add(
            f"{backlog.pending_events} events wait for a decision, the oldest for {age} s",
            "/events?status=pending",
        )
    if backlog is not None and (approvals := backlog.waiting_reasons.get("approval", 0)):
        add(f"{approvals} deploys wait for approval", "/deployments?outcome=waiting")
    if failed_events:
        add(f"{failed_events} events could not be decided", "/events?status=failed")
    for d in failed:
        add(
            f"deployment {d.id}: {d.target.key} to {d.image.tag} {d.status.value}",
            f"/deployments/{d.id}",
        )
    if notices:
        add(f"{len(notices)} notices could not be sent in the last 24 h", "/notices?status=failed")
    return found


def refused_words(process: ProcessState) -> str:
    """What the last refused reload of ``process`` says to a person."""
    problems = process.refusal or ()
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    first = f": {problems[0]}{more}" if problems else ""
    return (
        f"{process.role} {process.id}: {process.config_path} was not reloaded{first}; "
        f"configuration {process.fingerprint} still runs: mend the file and reload again "
        "(regdeploy check-config names every problem)"
    )


def disagreeing_words(processes: Sequence[ProcessState]) -> str:
    """That the processes seen lately run different configurations, and which."""
    each = ", ".join(
        f"{p.role} {p.id} runs {p.fingerprint} ({p.config_path or 'no file'})" for p in processes
    )
    return f"regdeploy's processes run different configurations: {each}"


class RegistryChecks:
    """Whether each registry answers, asked at most every ``REGISTRY_CHECK_SECONDS`` for all the
    overviews open (their live parts ask again and again)."""

    def __init__(self) -> None:
        self._found: list[Registry] = []
        self._checked = -REGISTRY_CHECK_SECONDS
        self._lock = asyncio.Lock()

    async def registries(self, app: web.Application) -> list[Registry]:
        async with self._lock:
            if time.monotonic() - self._checked >= REGISTRY_CHECK_SECONDS:
                self._found = await _registries(app)
                self._checked = time.monotonic()
            return self._found


REGISTRY_CHECKS = web.AppKey("console_registry_checks", RegistryChecks)


async def _registries(app: web.Application) -> list[Registry]:
    """Every registry of a watched repository or of the configuration, and whether its API
    answers now."""
    services = services_of(app)
    hosts = sorted({r.host for r in services.config.registries})
    try:
        states = await services.store.repositories.list_repositories()
        hosts = sorted({*hosts, *(s.rules.image.registry for s in states)})
    except StoreError:
        pass
    client = services.registries

    async def ask(host: str) -> Registry:
        try:
            error = await asyncio.wait_for(client.unreachable(host), REGISTRY_SECONDS)
        except TimeoutError:
            error = f"no answer within {REGISTRY_SECONDS:.0f} s"
        return Registry(host=host, error=error)

    return list(await asyncio.gather(*(ask(h) for h in hosts)))
