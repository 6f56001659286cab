"""Read API and health checks.

``/ping`` and ``/healthz`` are open; everything under ``/api/`` needs an API token sent as
``Authorization: Bearer TOKEN``; write routes need a write-scoped token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from itertools import groupby
from typing import Any

import structlog
from aiohttp import web

from handlers.errors import DatabaseUnavailable, DeployerUnavailable, StoreError
from receiver.bodies import json_error
from receiver.config import ApiToken, Scope
from receiver.records import CatalogTag, StoredEvent, StoredRejection
from receiver.state import CONFIG, STORE

log = structlog.get_logger("regdeploy.api")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN = frozenset({"/ping", "/healthz"})
AUTHENTICATED_AS = web.RequestKey("authenticated_as", ApiToken)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_token(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def find_token(tokens: tuple[ApiToken, ...], offered: str) -> ApiToken | None:
    """Compare ``offered`` with every token in constant time, without stopping at a match."""
    found: ApiToken | None = None
    for token in tokens:
        if token.token.matches(offered) and found is None:
            found = token
    return found


@web.middleware
async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route but the open ones needs an API token; writing needs a write-scoped one.

    Webhooks are open here because they check their source's own secret.
    """
    if request.path in _OPEN or request.path.startswith("/webhooks/"):
        return await handler(request)
    offered = bearer_token(request.headers.get("Authorization"))
    token = find_token(request.app[CONFIG].api_tokens, offered) if offered else None
    if token is None:
        log.warning("api_request", path=request.path, status=401, reason="bad_token")
        error = json_error(web.HTTPUnauthorized, "missing or wrong API token")
        error.headers["WWW-Authenticate"] = 'Bearer realm="regdeploy"'
        raise error
    if request.method not in _READ_METHODS and token.scope is not Scope.WRITE:
        log.warning("api_request", path=request.path, status=403, token=token.name)
        raise json_error(web.HTTPForbidden, "this token may only read")
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
        # PostgreSQL cannot store or compare it: the store would answer a 500.
        raise json_error(web.HTTPBadRequest, "the path or query contains a NUL character")
    request[AUTHENTICATED_AS] = token
    return await handler(request)


def token_name(request: web.Request) -> str:
    """The name of the API token the request came with (the actor in the audit)."""
    token: ApiToken = request[AUTHENTICATED_AS]
    return token.name


@web.middleware
async def store_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map store and deployer errors to statuses for every route that does not answer them."""
    try:
        return await handler(request)
    except DatabaseUnavailable:
        return web.json_response(
            {"message": "database unavailable, retry later"},
            status=503,
            headers={"Retry-After": "5"},
        )
    except StoreError:
        log.exception("api_store_error", path=request.path)
        return web.json_response({"message": "database error"}, status=500)
    except DeployerUnavailable as exc:
        return web.json_response({"message": str(exc)}, status=503, headers={"Retry-After": "5"})


async def ping(_: web.Request) -> web.Response:
    return web.json_response({"message": "pong"})


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except StoreError:
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok", "database": "up"})


async def list_events(request: web.Request) -> web.Response:
    events = await request.app[STORE].list_events(
        limit=query_limit(request),
        repository=request.query.get("repository") or None,
        source=request.query.get("source") or None,
    )
    return web.json_response({"events": [event_json(e) for e in events]})


async def catalog(request: web.Request) -> web.Response:
    tags = await request.app[STORE].list_tags()
    return web.json_response({"repositories": catalog_json(tags)})


async def list_rejections(request: web.Request) -> web.Response:
    rejections = await request.app[STORE].list_rejections(limit=query_limit(request))
    return web.json_response({"rejections": [rejection_json(r) for r in rejections]})


def event_json(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "id": stored.id,
        "source": event.source,
        "event_id": event.event_id,
        "action": event.action.value,
        "registry": event.registry,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "media_type": event.media_type,
        "actor": event.actor,
        "occurred_at": _iso(event.occurred_at),
        "received_at": _iso(stored.received_at),
        "status": stored.status.value,
    }


def catalog_json(tags: list[CatalogTag]) -> list[dict[str, Any]]:
    """Tags grouped by repository; ``tags`` must be sorted by (registry, repository)."""
    return [
        {
            "registry": registry,
            "repository": repository,
            "tags": [
                {
                    "tag": t.tag,
                    "digest": t.digest,
                    "media_type": t.media_type,
                    "pushed_at": _iso(t.pushed_at),
                }
                for t in group
            ],
        }
        for (registry, repository), group in groupby(tags, key=lambda t: (t.registry, t.repository))
    ]


def rejection_json(rejection: StoredRejection) -> dict[str, Any]:
    return {
        "id": rejection.id,
        "source": rejection.source,
        "reason": rejection.reason,
        "content_type": rejection.content_type,
        "size": rejection.size,
        "received_at": _iso(rejection.received_at),
    }


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ping", ping),
        web.get("/healthz", healthz),
        web.get("/api/v1/events", list_events),
        web.get("/api/v1/catalog", catalog),
        web.get("/api/v1/rejections", list_rejections),
    ]


def query_limit(request: web.Request) -> int:
    """The ``limit`` query parameter: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent."""
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_LIMIT:
        raise json_error(web.HTTPBadRequest, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _iso(moment: datetime) -> str:
    return moment.isoformat()
