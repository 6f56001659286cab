"""The aiohttp application: ``init_app(config)`` builds it, tests call it directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from deployers.base import Deployers
from receiver.clock import Clock, SystemClock
from receiver.config.loading import Config
from receiver.console import setup_console
from receiver.http import (
    deployments,
    events,
    explain,
    freezes,
    health,
    metrics,
    notices,
    openapi,
    registrywatcher,
    reload,
    repositories,
    rollouts,
    sources,
    status,
    webhooks,
    workloads,
)
from receiver.http.auth import api_auth
from receiver.http.errors import error_answers
from receiver.http.metrics import count_answers
from receiver.metrics import Metrics
from receiver.reloading import RUNNING, ConfigSource, reloads_on_hangup, running_services
from receiver.runtime import build_deployers

# Their order does not matter: a repository name never ends in a sub-resource's segment
# (``receiver.http.repositories.NAME``), so no two routes match one path and method; every
# path answers the methods its document lists, and any other with a 405 that lists them.
ROUTES = (
    health,
    webhooks,
    events,
    explain,
    repositories,
    registrywatcher,
    deployments,
    rollouts,
    freezes,
    notices,
    sources,
    workloads,
    status,
    reload,
    openapi,
    metrics,
)


def init_app(
    config: Config,
    *,
    deployers: Deployers | None = None,
    clock: Clock | None = None,
    source: ConfigSource | None = None,
) -> web.Application:
    """The service; ``deployers`` replaces the ones built from the configuration (and stays
    through reloads), ``clock`` the machine's clock (tests); ``source``: where a reload reads
    the configuration (None: it cannot be reloaded). Its one piece of state, ``RUNNING``, is set
    as it starts."""
    # The webhook route enforces its own, smaller cap while streaming; this bounds the rest.
    app = web.Application(
        middlewares=[count_answers, error_answers, api_auth],
        client_max_size=config.server.max_body_bytes,
    )
    for module in ROUTES:
        app.add_routes(module.routes())
    setup_console(app)
    app.cleanup_ctx.append(
        _running(
            config,
            deployers=deployers if deployers is not None else build_deployers(config),
            given=deployers is not None,
            clock=clock if clock is not None else SystemClock(),
            source=source,
        )
    )
    return app


def _running(
    config: Config,
    *,
    deployers: Deployers,
    given: bool,
    clock: Clock,
    source: ConfigSource | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def running(app: web.Application) -> AsyncIterator[None]:
        async with running_services(
            config,
            deployers=deployers,
            metrics=Metrics(),
            source=source,
            keep_deployers=given,
            clock=clock,
        ) as found:
            app[RUNNING] = found
            async with reloads_on_hangup(found):
                yield

    return running
