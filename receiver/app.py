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
    repositories,
    sources,
    status,
    webhooks,
    workloads,
)
from receiver.http.auth import api_auth
from receiver.http.errors import error_answers
from receiver.http.metrics import count_answers
from receiver.metrics import Metrics
from receiver.runtime import SERVICES, build_deployers, running_services

# ``explain`` comes before ``repositories``, whose ``/api/v1/repos/{name}`` would take
# ``/api/v1/repos/team/app/explain`` for a repository named ``team/app/explain``.
ROUTES = (
    health,
    webhooks,
    events,
    explain,
    repositories,
    registrywatcher,
    deployments,
    freezes,
    notices,
    sources,
    workloads,
    status,
    openapi,
    metrics,
)


def init_app(
    config: Config, *, deployers: Deployers | None = None, clock: Clock | None = None
) -> web.Application:
    """The service; ``deployers`` replaces the ones built from the configuration, ``clock``
    the machine's clock (tests). Its one piece of state, ``SERVICES``, is set as it starts."""
    # The webhook route enforces its own, smaller cap while streaming; this bounds the rest.
    app = web.Application(
        middlewares=[count_answers, error_answers, api_auth],
        client_max_size=config.server.max_body_bytes,
    )
    for module in ROUTES:
        app.add_routes(module.routes())
    setup_console(app)
    app.cleanup_ctx.append(
        _services(
            config,
            deployers=deployers if deployers is not None else build_deployers(config),
            clock=clock if clock is not None else SystemClock(),
        )
    )
    return app


def _services(
    config: Config, *, deployers: Deployers, clock: Clock
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def running(app: web.Application) -> AsyncIterator[None]:
        async with running_services(
            config,
            deployers=deployers,
            with_worker=config.worker.enabled,
            metrics=Metrics(),
            clock=clock,
        ) as services:
            app[SERVICES] = services
            yield

    return running
