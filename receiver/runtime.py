"""The composition root: everything a running regdeploy holds, built, started and stopped in
one place.

The web app (``regdeploy serve``) and a stand-alone worker (``regdeploy worker``) share this:
the store, the shared outbound HTTP session, the deployers and notifiers the configuration sets
up, the planner, and the background loops (worker, outbox, reconciler). ``receiver.reloading``
runs them, and builds them anew when the configuration is reloaded.
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
from notifiers.base import Notifier
from notifiers.email import EmailNotifier
from notifiers.slack import SlackNotifier
from notifiers.teams import TeamsNotifier
from notifiers.webhook import WebhookNotifier
from receiver.background.decider import Decider, worker_id
from receiver.background.dispatcher import Dispatcher
from receiver.background.inventory import Inventory
from receiver.background.launcher import Launcher
from receiver.background.loop import PolledLoop, end_within
from receiver.background.outbox import Outbox
from receiver.background.pruner import Pruner
from receiver.background.reconciler import Reconciler
from receiver.background.rollouts import RolloutLoop
from receiver.clock import Clock
from receiver.config.loading import Config
from receiver.config.notifiers import NotifierConfig
from receiver.decide.actions import RepositoryActions
from receiver.decide.advance import RolloutAdvancer
from receiver.decide.announcer import Announcer
from receiver.decide.desk import ReleaseDesk
from receiver.decide.gate import ReleaseGate
from receiver.decide.planner import Planner
from receiver.decide.promotion import Promoter
from receiver.decide.rollout_desk import RolloutDesk
from receiver.decide.rollouts import RolloutShaper
from receiver.decide.trust.checks import TrustChecks
from receiver.errors import DatabaseUnavailable
from receiver.metrics import Metrics
from receiver.rates import Throttle
from receiver.registry.client import RegistryClient
from receiver.registry.confirm import DigestConfirmation
from receiver.registry.credentials import registry_auth
from receiver.registry.harbor import HarborClient
from receiver.store import Store
from receiver.store.embedded import resolve_dsn
from receiver.views.reads import ReadModel

log = structlog.get_logger("regdeploy.runtime")

# How long a stop waits for the worker and the reconciler to finish what they are doing.
STOP_SECONDS = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Everything a running regdeploy holds, for one configuration: a request reads them once
    (``receiver.reloading.services_of``) and finishes with them, whatever a reload does
    meanwhile."""

    config: Config
    store: Store
    inventory: Inventory
    planner: Planner
    actions: RepositoryActions
    registries: RegistryClient
    deployers: Deployers
    notifiers: Mapping[str, Notifier]
    metrics: Metrics
    # Names this process in claims, attempts and leases.
    worker_id: str
    # Release control: the gate deciding and launching apply, the desk people act at.
    gate: ReleaseGate
    desk: ReleaseDesk
    # What the API, the console and the CLI show.
    views: ReadModel
    # How fast sources may post and addresses may fail to authenticate, in this process.
    throttle: Throttle
    # The time every loop, retry, due time and release rule reads.
    clock: Clock
    # The checks a digest passes before it is deployed (signatures, platforms, scan).
    trust: TrustChecks
    # Rollouts: waves and stages at decision time, each look at a rollout, promotions.
    shaper: RolloutShaper
    advancer: RolloutAdvancer
    promoter: Promoter
    rollout_desk: RolloutDesk


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
            rewrite = frozenset(
                config.aliases.name(r.image) for r in config.repositories if r.compose_rewrite
            )
            deployers.append(
                ContainerDeployer(engine=engine, aliases=config.aliases, compose_rewrite=rewrite)
            )
    return Deployers(deployers)


def deployers_log_fields(config: Config, deployers: Deployers) -> dict[str, object]:
    """What the start-up line ``deployers_enabled`` says: the kinds on, and for each family
    whether it is on and why."""
    fields: dict[str, object] = {"deployers": deployers.kinds()}
    for family, switch in config.switches().items():
        fields[family] = f"{'on' if switch.on else 'off'}: {switch.why}"
    if config.dry_run:
        fields["dry_run"] = True
    return fields


def build_notifiers(config: Config, session: aiohttp.ClientSession) -> dict[str, Notifier]:
    """The notifiers of the ``notifiers:`` section, sharing one outbound HTTP session."""
    return {n.name: build_notifier(n, session) for n in config.notifiers}


def build_notifier(config: NotifierConfig, session: aiohttp.ClientSession) -> Notifier:
    if config.type == "email":
        assert config.smtp is not None  # the configuration sets it for e-mail
        smtp = config.smtp
        return EmailNotifier(
            config.name,
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=smtp.password,
            sender=smtp.sender,
            recipients=smtp.recipients,
            ca_file=smtp.ca_file,
        )
    assert config.url is not None  # required for every HTTP notifier
    if config.type == "webhook":
        assert config.secret is not None
        return WebhookNotifier(config.name, url=config.url, secret=config.secret, session=session)
    if config.type == "teams":
        return TeamsNotifier(config.name, url=config.url, session=session)
    return SlackNotifier(config.name, url=config.url, session=session)


def build_services(
    config: Config,
    store: Store,
    session: aiohttp.ClientSession,
    *,
    deployers: Deployers,
    metrics: Metrics,
    clock: Clock,
    throttle: Throttle | None = None,
    worker: str | None = None,
) -> Services:
    """The services of ``config`` on ``store`` (``throttle``: the one to keep counting in, when
    the rates stay the same; ``worker``: the name the process's claims and leases go by, kept
    through reloads so that a lease it holds stays its own)."""
    inventory = Inventory(
        deployers=deployers,
        repositories=store.repositories,
        aliases=config.aliases,
        refresh_seconds=config.worker.inventory_refresh_seconds,
        clock=clock,
    )
    planner = Planner(repositories=store.repositories, events=store.events,
                      deployers=deployers, inventory=inventory, aliases=config.aliases)  # fmt: skip
    shaper = RolloutShaper(
        plans={r.name: r.rollout for r in config.repositories if r.rollout is not None},
        labels=inventory,
    )
    gate = build_gate(store, config, inventory, clock, metrics, shaper=shaper)
    advancer = RolloutAdvancer(
        deployers=deployers, shaper=shaper, announcer=announcer(config), metrics=metrics,
        clock=clock,
    )  # fmt: skip
    registries = RegistryClient(session, auth=registry_auth(config))
    trust = build_trust(config, session, registries=registries, deployers=deployers, clock=clock)
    return Services(
        config=config,
        store=store,
        inventory=inventory,
        planner=planner,
        actions=RepositoryActions(
            repositories=store.repositories,
            events=store.events,
            deployments=store.deployments,
            decisions=store.decisions,
            planner=planner,
            gate=gate,
        ),
        registries=registries,
        deployers=deployers,
        notifiers=build_notifiers(config, session),
        metrics=metrics,
        worker_id=worker or worker_id(),
        gate=gate,
        desk=ReleaseDesk(
            releases=store.releases, repositories=store.repositories, gate=gate, metrics=metrics
        ),
        views=ReadModel(
            store=store,
            gate=gate,
            inventory=inventory,
            planner=planner,
            aliases=config.aliases,
            trust=trust,
        ),
        throttle=throttle or Throttle(config.rates),
        clock=clock,
        trust=trust,
        shaper=shaper,
        advancer=advancer,
        rollout_desk=RolloutDesk(metrics=metrics, clock=clock),
        promoter=Promoter(
            rollouts=store.rollouts,
            repositories=store.repositories,
            events=store.events,
            planner=planner,
            decisions=store.decisions,
            gate=gate,
            shaper=shaper,
            advancer=advancer,
            clock=clock,
        ),
    )


def build_trust(
    config: Config,
    session: aiohttp.ClientSession,
    *,
    registries: RegistryClient,
    deployers: Deployers,
    clock: Clock,
) -> TrustChecks:
    """The trust checks of every watched repository, reading the registries and the Harbor
    APIs the configuration names."""
    harbors = {
        registry.host: HarborClient(
            session,
            url=registry.harbor.url,
            username=registry.harbor.username,
            password=registry.harbor.password,
            ca_file=registry.harbor.ca_file,
        )
        for registry in config.registries
        if registry.harbor is not None
    }
    return TrustChecks(
        policies={r.name: r.trust for r in config.repositories},
        fallback=config.default_trust,
        oci=registries,
        harbors=harbors,
        deployers=deployers,
        reads_registry=config.confirms_digests,
        canonical=config.aliases.canonical,
        clock=clock,
    )


def build_gate(
    store: Store,
    config: Config,
    inventory: Inventory,
    clock: Clock,
    metrics: Metrics,
    *,
    shaper: RolloutShaper | None = None,
) -> ReleaseGate:
    """Release control's gate: the configured repositories' rules, judged by ``clock``;
    ``shaper`` makes rollouts of the intents of repositories with rollout rules."""
    return ReleaseGate(
        releases=store.releases,
        events=store.events,
        rules={repo.name: repo.release for repo in config.repositories},
        labels=inventory,
        clock=clock,
        announcer=announcer(config),
        metrics=metrics,
        shaper=shaper,
    )


def announcer(config: Config) -> Announcer:
    """Who hears of what, with links to this regdeploy's console."""
    return Announcer(config.notifiers, base_url=config.server.base_url)


@contextlib.asynccontextmanager
async def background(
    services: Services, *, enabled: bool, patient: bool = False
) -> AsyncIterator[None]:
    """The background loops of ``services`` (when ``enabled``), running until the block ends;
    then each ends its round (a deploy its launcher runs, to its end), and what outlives
    ``STOP_SECONDS`` is cancelled, unless ``patient``: then only when the end itself is
    cancelled."""
    if not enabled:
        yield
        return
    loops = _loops(services)
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    tasks.append(asyncio.create_task(services.inventory.run(stopping)))
    try:
        yield
    finally:
        stopping.set()
        for loop in loops:
            loop.stop(patient=patient)
        # Each loop ends its round; whatever outlives the grace period is cancelled.
        await end_within(tasks, None if patient else STOP_SECONDS)


def _loops(services: Services) -> list[PolledLoop]:
    """The decider, the launcher, the rollouts, the outbox, the pruner and (unless turned off)
    the reconciler."""
    loops: list[PolledLoop] = [
        build_decider(services),
        build_launcher(services),
        build_rollouts(services),
        build_outbox(services),
        build_pruner(services),
    ]
    if services.config.reconcile_interval_seconds > 0:
        loops.append(build_reconciler(services))
    return loops


def build_decider(services: Services) -> Decider:
    """The loop that decides stored events (tests drive its rounds)."""
    store = services.store
    return Decider(
        decisions=store.decisions,
        planner=services.planner,
        inventory=services.inventory,
        config=services.config.worker,
        listen=lambda: store.listener("events"),
        metrics=services.metrics,
        gate=services.gate,
        clock=services.clock,
        reason_bytes=services.config.limits.reason_bytes,
    )


def build_launcher(services: Services) -> Launcher:
    """The loop that starts due deploys (tests drive its rounds)."""
    store, config = services.store, services.config
    dispatcher = Dispatcher(
        deployments=store.deployments,
        notices=store.notices,
        deployers=services.deployers,
        inventory=services.inventory,
        config=config.worker,
        confirmation=DigestConfirmation(services.registries, config),
        trust=services.trust,
        worker_id=services.worker_id,
        dry_run=config.dry_run,
        announcer=announcer(config),
        metrics=services.metrics,
        clock=services.clock,
        reason_bytes=config.limits.reason_bytes,
    )
    return Launcher(
        deployments=store.deployments,
        dispatcher=dispatcher,
        config=config.worker,
        listen=lambda: store.listener("deployments"),
        gate=services.gate,
        clock=services.clock,
    )


def build_rollouts(services: Services) -> RolloutLoop:
    """The loop that advances rollouts (tests drive its rounds)."""
    store = services.store
    return RolloutLoop(
        rollouts=store.rollouts,
        advancer=services.advancer,
        promoter=services.promoter,
        worker_id=services.worker_id,
        poll_seconds=services.config.worker.poll_interval_seconds,
        listen=lambda: store.listener("deployments"),
        clock=services.clock,
    )


def build_outbox(services: Services) -> Outbox:
    return Outbox(
        notices=services.store.notices,
        notifiers=services.notifiers,
        config=services.config.outbox,
        listen=lambda: services.store.listener("notices"),
        clock=services.clock,
        reason_bytes=services.config.limits.reason_bytes,
    )


def build_pruner(services: Services) -> Pruner:
    return Pruner(
        events=services.store.events,
        leases=services.store.leases,
        kept=services.config.retention.rejected_payloads,
        holder=services.worker_id,
        clock=services.clock,
    )


def build_reconciler(services: Services) -> Reconciler:
    store = services.store
    return Reconciler(
        repositories=store.repositories,
        events=store.events,
        leases=store.leases,
        registries=services.registries,
        interval_seconds=services.config.reconcile_interval_seconds,
        holder=services.worker_id,
        metrics=services.metrics,
        clock=services.clock,
    )


async def seed(store: Store, config: Config) -> None:
    """Write the repositories ``config`` lists, under their registries' canonical names (as
    events are recorded); retire those it no longer lists."""
    await store.repositories.seed_repositories(
        [
            dataclasses.replace(repo, image=config.aliases.name(repo.image))
            for repo in config.repositories
        ]
    )


async def open_store(config: Config) -> Store:
    """Open the store of ``config.database`` (the embedded server, unless ``url`` names one),
    waiting up to ``startup_wait_seconds`` for the database to come up."""
    dsn = await asyncio.to_thread(resolve_dsn, config.database)
    db = config.database
    deadline = time.monotonic() + db.startup_wait_seconds
    delay = 0.5
    while True:
        try:
            return await Store.open(
                dsn,
                pool_size=db.pool_size,
                query_timeout=db.timeout_seconds,
                rejections_kept=config.retention.rejected_payloads.keep,
            )
        except DatabaseUnavailable as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database_waiting", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
