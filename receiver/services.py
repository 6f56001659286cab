"""Everything a running regdeploy holds, started and stopped in one place.

The web app (``regdeploy serve``) and a stand-alone worker (``regdeploy worker``) share this:
the store, the shared outbound HTTP session, the planner, and the background worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import structlog

from deployers.base import Deployer, Deployers
from deployers.containers import ContainerDeployer
from deployers.docker_engine import Engine
from deployers.nomad import NomadDeployer
from deployers.swarm import SwarmDeployer
from handlers.errors import DatabaseUnavailable
from notifiers.base import Notifier
from receiver.announcer import Announcer
from receiver.config import Config
from receiver.database import resolve_dsn
from receiver.digests import RegistryDigests, registry_auth
from receiver.dispatcher import Dispatcher
from receiver.notifier_setup import build_notifiers
from receiver.outbox import Outbox
from receiver.planner import Planner
from receiver.reconciler import Reconciler
from receiver.registry_client import RegistryClient
from receiver.store import Store
from receiver.watchlist import WatchedRepository
from receiver.worker import Worker, worker_id

log = structlog.get_logger("regdeploy.services")

# How long a stop waits for the worker and the reconciler to finish what they are doing.
STOP_SECONDS = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    store: Store
    planner: Planner
    registries: RegistryClient
    deployers: Deployers
    notifiers: Mapping[str, Notifier]


def build_deployers(config: Config) -> Deployers:
    """The deployers the configuration sets up."""
    deployers: list[Deployer] = []
    if config.nomad is not None:
        deployers.append(NomadDeployer(settings=config.nomad, aliases=config.aliases))
    if config.docker is not None:
        # Swarm services and containers share one engine connection.
        engine = Engine(config.docker)
        if config.docker.swarm.enabled:
            deployers.append(SwarmDeployer(engine=engine, aliases=config.aliases))
        if config.docker.containers.enabled:
            deployers.append(ContainerDeployer(engine=engine, aliases=config.aliases))
    return Deployers(deployers)


@contextlib.asynccontextmanager
async def running_services(
    config: Config, *, deployers: Deployers, with_worker: bool
) -> AsyncIterator[Services]:
    dsn = await asyncio.to_thread(resolve_dsn, config.database)
    store = await _connect(dsn, config)
    try:
        version = await store.migrate()
        aliases = config.aliases
        await store.seed_repositories([_canonical(repo, config) for repo in config.repositories])
        log.info("database_ready", embedded=config.database.url is None, schema_version=version)
        async with aiohttp.ClientSession(trust_env=False) as session:
            registries = RegistryClient(session, auth=registry_auth(config))
            planner = Planner(store=store, deployers=deployers, aliases=aliases)
            services = Services(
                store=store,
                planner=planner,
                registries=registries,
                deployers=deployers,
                notifiers=build_notifiers(config, session),
            )
            async with _background(services, config, enabled=with_worker):
                yield services
    finally:
        deployers.close()
        await store.close()


@contextlib.asynccontextmanager
async def _background(services: Services, config: Config, *, enabled: bool) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    dispatcher = Dispatcher(
        store=services.store,
        deployers=services.deployers,
        config=config.worker,
        digests=RegistryDigests(services.registries, config),
        worker_id=worker_id(),
        dry_run=config.dry_run,
        announcer=Announcer(config.notifiers),
    )
    worker = Worker(
        store=services.store,
        planner=services.planner,
        dispatcher=dispatcher,
        poll_seconds=config.worker.poll_interval_seconds,
        stall_seconds=config.worker.stall_timeout_seconds,
    )
    outbox = Outbox(store=services.store, notifiers=services.notifiers, config=config.outbox)
    loops: list[Worker | Reconciler | Outbox] = [worker, outbox]
    if config.reconcile_interval_seconds > 0:
        loops.append(
            Reconciler(
                store=services.store,
                registries=services.registries,
                interval_seconds=config.reconcile_interval_seconds,
                holder=dispatcher.worker_id,
            )
        )
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        # Each loop ends its round; whatever outlives the grace period is cancelled.
        _, late = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _canonical(repo: WatchedRepository, config: Config) -> WatchedRepository:
    """The repository under its registry's canonical name, as events are recorded."""
    return dataclasses.replace(repo, image=config.aliases.name(repo.image))


async def _connect(dsn: str, config: Config) -> Store:
    """Open the store, waiting up to ``startup_wait_seconds`` for the database to come up."""
    db = config.database
    deadline = time.monotonic() + db.startup_wait_seconds
    delay = 0.5
    while True:
        try:
            return await Store.open(dsn, pool_size=db.pool_size, query_timeout=db.timeout_seconds)
        except DatabaseUnavailable as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database_waiting", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
