"""The aiohttp application: ``init_app(config)`` builds it, tests call it directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from deployers.base import Deployers
from receiver import api, notices_api, repos_api, webhooks
from receiver.config import Config
from receiver.repository_actions import RepositoryActions
from receiver.services import build_deployers, running_services
from receiver.state import ACTIONS, CONFIG, DEPLOYERS, PLANNER, REGISTRIES, STORE


def init_app(config: Config, *, deployers: Deployers | None = None) -> web.Application:
    """The service; ``deployers`` replaces the ones built from the configuration (tests)."""
    # The webhook route enforces its own, smaller cap while streaming; this bounds the rest.
    app = web.Application(
        middlewares=[api.store_errors, api.api_auth],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app[DEPLOYERS] = deployers if deployers is not None else build_deployers(config)
    app.add_routes(api.routes())
    app.add_routes(repos_api.routes())
    app.add_routes(notices_api.routes())
    app.router.add_post("/webhooks/{source}", webhooks.receive)
    app.cleanup_ctx.append(_services)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with running_services(
        config, deployers=app[DEPLOYERS], with_worker=config.worker.enabled
    ) as services:
        app[STORE] = services.store
        app[PLANNER] = services.planner
        app[REGISTRIES] = services.registries
        app[ACTIONS] = RepositoryActions(store=services.store, planner=services.planner)
        yield
