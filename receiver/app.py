"""The aiohttp application: ``init_app(config)`` builds it, tests call it directly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from handlers.errors import DatabaseUnavailable
from receiver import api, webhooks
from receiver.config import Config
from receiver.database import resolve_dsn
from receiver.state import CONFIG, STORE
from receiver.store import Store

log = structlog.get_logger("regdeploy.app")


def init_app(config: Config) -> web.Application:
    # The webhook route enforces its own, smaller cap while streaming; this bounds the rest.
    app = web.Application(
        middlewares=[api.store_errors, api.api_auth],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app.add_routes(api.routes())
    app.router.add_post("/webhooks/{source}", webhooks.receive)
    app.cleanup_ctx.append(_database)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    dsn = await asyncio.to_thread(resolve_dsn, config.database)
    store = await _connect(dsn, config)
    version = await store.migrate()
    log.info(
        "database_ready",
        embedded=config.database.url is None,
        schema_version=version,
    )
    app[STORE] = store
    yield
    await store.close()


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
