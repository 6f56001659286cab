"""A running regdeploy, and the reload of its configuration without a restart.

``running_services`` opens the store and starts a ``Running``: the services of the configuration
(``receiver.runtime.Services``) and their background loops. The web app keeps it under
``RUNNING``; a request reads ``services_of(app)`` once and finishes with what it read, so that a
request, a decision round or a deploy in flight ends with the services it began with.

A reload (``SIGHUP``, ``POST /api/v1/reload``, ``regdeploy reload``) reads the file again, as
the process read it at its start, and then:

1. a file with any problem is refused as a whole, in ``check-config``'s words: the running
   configuration stays; the refusal is logged (``config_reload_refused``), counted
   (``regdeploy_config_reloads_total{outcome="refused"}``) and shown by ``regdeploy status``;
2. a file that holds what runs (the same fingerprint) changes nothing (``unchanged``);
3. otherwise it writes the repositories the file lists (retiring those it no longer lists, as a
   start does), builds the services of the new configuration on the same store, HTTP session,
   metrics and clock (keeping the deployers while their settings stay the same), starts their
   loops, and only then hands them to what comes next; the old loops end their round (a deploy
   in flight runs to its end), and what only they used is closed after them.

What is read only at the start stays as it was until the next one: where the server listens and
the largest body it reads (``server.host``, ``server.port``, ``server.max_body_bytes``) and the
database (``database.*``); a reload that changes them says so (``restart_needed``).

Each process says every ``SEEN_SECONDS`` which configuration it runs (``processes``), so that
``regdeploy status`` lists every process's fingerprint and a mismatch shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import structlog
from aiohttp import web

from deployers.base import Deployers
from receiver import runtime
from receiver.background.decider import worker_id
from receiver.background.loop import end_within
from receiver.clock import Clock, SystemClock
from receiver.config.loading import Config
from receiver.errors import ConfigError, RegdeployError, StoreError
from receiver.metrics import Metrics
from receiver.rates import Throttle
from receiver.runtime import (
    Services,
    background,
    build_deployers,
    build_services,
    deployers_log_fields,
    open_store,
    seed,
)
from receiver.store import Store
from receiver.store.processes import SEEN_SECONDS
from receiver.store.records import ProcessState

log = structlog.get_logger("regdeploy.reload")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigSource:
    """Where a reload reads the configuration: ``load`` reads the file ``path`` and checks it as
    the process's start did, raising ``ConfigError`` with ``check-config``'s messages."""

    path: str
    load: Callable[[], Config]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reloaded:
    """What a reload did: ``reloaded``, ``unchanged`` or ``refused`` (with the file's
    ``problems``); the fingerprint that runs now and the one before; the keys whose change waits
    for a restart."""

    outcome: str
    path: str
    fingerprint: str
    previous: str
    problems: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        if self.outcome == "refused":
            return (
                f"{self.path}: refused, {len(self.problems)} problem"
                f"{'s' if len(self.problems) != 1 else ''}; configuration {self.fingerprint} "
                "still runs"
            )
        if self.outcome == "unchanged":
            return f"{self.path}: unchanged, configuration {self.fingerprint} runs"
        said = f"{self.path}: reloaded, configuration {self.previous} → {self.fingerprint}"
        if self.restart_needed:
            keys = ", ".join(self.restart_needed)
            verb = "takes" if len(self.restart_needed) == 1 else "take"
            said += f"; {keys} {verb} effect at the next restart"
        return said


#: Keys read only as a process starts.
RESTART_KEYS = ("server.host", "server.port", "server.max_body_bytes", "database")


def restart_needed(running: Config, loaded: Config) -> tuple[str, ...]:
    """The keys read only at the start that ``loaded`` changes."""
    changed = [
        key
        for key in RESTART_KEYS[:3]
        if getattr(running.server, key.split(".")[1]) != getattr(loaded.server, key.split(".")[1])
    ]
    if running.database != loaded.database:
        changed.append("database.*")
    return tuple(changed)


def as_running(running: Config, loaded: Config) -> Config:
    """``loaded`` with the keys read only at the start as they run."""
    server = dataclasses.replace(
        loaded.server,
        host=running.server.host,
        port=running.server.port,
        max_body_bytes=running.server.max_body_bytes,
    )
    return dataclasses.replace(loaded, server=server, database=running.database)


def _deployer_settings(config: Config) -> tuple[object, ...]:
    """What the deployers are built from: the same settings, the same deployers."""
    rewrite = frozenset(r.name for r in config.repositories if r.compose_rewrite)
    return (config.nomad, config.docker, config.switches(), config.aliases, rewrite)


@dataclass(slots=True, kw_only=True)
class _Generation:
    """The services of one configuration, and their background loops."""

    services: Services
    loops: contextlib.AsyncExitStack


class Running:
    """The services a regdeploy process runs now, replaced as a whole by ``reload``."""

    def __init__(
        self,
        *,
        store: Store,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        clock: Clock,
        source: ConfigSource | None,
        role: str,
        worker: bool | None,
        keep_deployers: bool,
    ) -> None:
        """``worker``: whether the background loops run (None: as ``worker.enabled`` says);
        ``keep_deployers``: keep the deployers whatever a reload says (they were given)."""
        self.store = store
        self._session = session
        self._metrics = metrics
        self._clock = clock
        self._source = source
        self._worker = worker
        self._keep_deployers = keep_deployers
        self._lock = asyncio.Lock()
        self._current: _Generation | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self.process = ProcessState(
            id=worker_id(),  # each configuration's services are named anew
            role=role,
            config_path=source.path if source else "",
            fingerprint="",
            loaded_at=clock.now(),
        )

    @property
    def services(self) -> Services:
        assert self._current is not None, "used before it started"
        return self._current.services

    @property
    def reloadable(self) -> bool:
        return self._source is not None

    async def start(self, config: Config, deployers: Deployers) -> None:
        self._current = await self._generation(config, deployers)
        await self._loaded(config)

    async def reload(self, *, by: str) -> Reloaded:
        """Read the file again and run what it says, or refuse it whole (see the module);
        ``by``: who asked (``SIGHUP``, a token's name), for the log."""
        if self._source is None:
            raise ConfigError(["this regdeploy was started without a configuration file"])
        try:
            async with self._lock:
                reloaded = await self._reload(self._source)
        except RegdeployError as exc:  # the database away: nothing changed
            self._metrics.reloaded("failed")
            log.error("config_reload_failed", path=self._source.path, error=str(exc), by=by)
            raise
        self._metrics.reloaded(reloaded.outcome)
        fields = {
            "path": reloaded.path,
            "fingerprint": reloaded.fingerprint,
            "previous": reloaded.previous,
            "by": by,
        }
        if reloaded.outcome == "refused":
            log.warning("config_reload_refused", problems=list(reloaded.problems), **fields)
        elif reloaded.outcome == "unchanged":
            log.info("config_reload_unchanged", **fields)
        else:
            log.info("config_reloaded", restart_needed=list(reloaded.restart_needed), **fields)
        return reloaded

    async def _reload(self, source: ConfigSource) -> Reloaded:
        running = self.services.config
        path, previous = source.path, running.fingerprint
        try:
            loaded = await asyncio.to_thread(source.load)
        except ConfigError as exc:
            problems = tuple(exc.problems)
            self.process = dataclasses.replace(
                self.process, refused_at=self._clock.now(), refusal=problems
            )
            await self._say()
            return Reloaded(
                outcome="refused",
                path=path,
                fingerprint=previous,
                previous=previous,
                problems=problems,
            )
        if loaded.fingerprint == running.fingerprint:
            await self._loaded(running, restart_needed=self.process.restart_needed)
            return Reloaded(outcome="unchanged", path=path, fingerprint=previous, previous=previous)
        later = restart_needed(running, loaded)
        await self._replace(as_running(running, loaded), restart_needed=later)
        return Reloaded(
            outcome="reloaded",
            path=path,
            fingerprint=loaded.fingerprint,
            previous=previous,
            restart_needed=later,
        )

    async def _replace(self, config: Config, *, restart_needed: tuple[str, ...]) -> None:
        """Run ``config``: the new services start before the old ones stop."""
        old = self._current
        assert old is not None
        await seed(self.store, config)
        self.store.events.keep_rejections(config.retention.rejected_payloads.keep)
        same = _deployer_settings(config) == _deployer_settings(old.services.config)
        deployers = (
            old.services.deployers if self._keep_deployers or same else build_deployers(config)
        )
        if deployers is not old.services.deployers:
            log.info("deployers_enabled", **deployers_log_fields(config, deployers))
        throttle = old.services.throttle if config.rates == old.services.config.rates else None
        try:
            self._current = await self._generation(config, deployers, throttle=throttle)
        except BaseException:
            if deployers is not old.services.deployers:
                deployers.close()
            raise
        await self._loaded(config, restart_needed=restart_needed)
        task = asyncio.create_task(self._retire(old, close=deployers is not old.services.deployers))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _generation(
        self, config: Config, deployers: Deployers, *, throttle: Throttle | None = None
    ) -> _Generation:
        services = build_services(
            config,
            self.store,
            self._session,
            deployers=deployers,
            metrics=self._metrics,
            clock=self._clock,
            throttle=throttle,
            worker=self.process.id,
        )
        loops = contextlib.AsyncExitStack()
        enabled = config.worker.enabled if self._worker is None else self._worker
        await loops.enter_async_context(background(services, enabled=enabled, patient=True))
        return _Generation(services=services, loops=loops)

    async def _retire(self, old: _Generation, *, close: bool) -> None:
        """Let the old loops end their round (a deploy runs to its end, however long its
        rollout takes), then close what only they used."""
        ended = "ended"
        try:
            await old.loops.aclose()
        except asyncio.CancelledError:
            ended = "cancelled"  # the process stops: what still ran was cancelled
            raise
        finally:
            if close:
                old.services.deployers.close()
            log.info("config_retired", fingerprint=old.services.config.fingerprint, loops=ended)

    async def _loaded(self, config: Config, *, restart_needed: tuple[str, ...] = ()) -> None:
        self._metrics.config_loaded(config.fingerprint)
        self.process = dataclasses.replace(
            self.process,
            fingerprint=config.fingerprint,
            loaded_at=self._clock.now(),
            restart_needed=restart_needed,
            refused_at=None,
            refusal=None,
        )
        await self._say()

    async def _say(self) -> None:
        """Say which configuration this process runs; a database away is said next time."""
        try:
            await self.store.processes.announce(self.process)
        except StoreError as exc:
            log.debug("process_unannounced", error=str(exc))

    async def keep_saying(self, stopping: asyncio.Event) -> None:
        """Say it again every ``SEEN_SECONDS`` until ``stopping``."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SEEN_SECONDS)
            if not stopping.is_set():
                await self._say()

    async def stop(self) -> None:
        """Stop the loops of every configuration (what outlives ``STOP_SECONDS`` is
        cancelled, as at any stop), close the deployers, leave ``processes``."""
        async with self._lock:  # a reload under way ends first
            current, self._current = self._current, None
        stopping = [asyncio.create_task(current.loops.aclose())] if current is not None else []
        await end_within([*stopping, *self._retiring], runtime.STOP_SECONDS)
        if current is not None:
            current.services.deployers.close()
        with contextlib.suppress(StoreError):
            await self.store.processes.leave(self.process.id)


def ignore_hangups() -> None:
    """Let a ``SIGHUP`` do nothing, where no reload can run yet or any more (while the process
    starts and stops): its default action would end the process."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


@contextlib.asynccontextmanager
async def reloads_on_hangup(running: Running) -> AsyncIterator[None]:
    """While the block runs, ``SIGHUP`` reloads ``running`` (when it has a file to read);
    after it, a reload a ``SIGHUP`` started ends before the block does, and ``SIGHUP`` is
    ignored."""
    if not running.reloadable:
        yield
        return
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Reloaded | None]] = set()

    def hangup() -> None:
        task = loop.create_task(_reload_logged(running))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, hangup)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        ignore_hangups()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _reload_logged(running: Running) -> Reloaded | None:
    """A reload nobody waits for: what it did is logged (by ``reload``), and so is a failure."""
    try:
        return await running.reload(by="SIGHUP")
    except RegdeployError:
        return None  # logged by ``reload``


#: The web app's one piece of state: what it runs.
RUNNING = web.AppKey("running", Running)


def services_of(app: web.Application) -> Services:
    """The services the app runs now; read them once per request."""
    return app[RUNNING].services


@contextlib.asynccontextmanager
async def running_services(
    config: Config,
    *,
    deployers: Deployers,
    metrics: Metrics,
    role: str = "serve",
    worker: bool | None = None,
    source: ConfigSource | None = None,
    keep_deployers: bool = False,
    clock: Clock | None = None,
) -> AsyncIterator[Running]:
    """Open the store, start what ``config`` says (``worker``: whether the background loops
    run; None: as ``worker.enabled`` says), and stop it all when the block ends. ``source``:
    where a reload reads the configuration (None: it cannot be reloaded); ``clock``: the time
    every loop reads (the machine's by default)."""
    log.info("deployers_enabled", **deployers_log_fields(config, deployers))
    store = await open_store(config)
    try:
        version = await store.migrate()
        await seed(store, config)
        log.info("database_ready", embedded=config.database.url is None, schema_version=version)
        async with aiohttp.ClientSession(trust_env=False) as session:
            running = Running(
                store=store,
                session=session,
                metrics=metrics,
                clock=clock or SystemClock(),
                source=source,
                role=role,
                worker=worker,
                keep_deployers=keep_deployers,
            )
            try:
                await running.start(config, deployers)
            except BaseException:
                deployers.close()
                raise
            stopping = asyncio.Event()
            saying = asyncio.create_task(running.keep_saying(stopping))
            try:
                yield running
            finally:
                stopping.set()
                try:
                    await saying
                finally:
                    await running.stop()
    finally:
        await store.close()
