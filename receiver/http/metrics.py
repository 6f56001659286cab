"""``GET /metrics``: this process's Prometheus metrics, and the middleware that counts answers.

Open unless the configuration sets ``metrics.token``. The gauges of the database's backlog are
read at each scrape; when the database does not answer, the scrape still answers, with
``regdeploy_database_up 0`` and without them. A process that serves no API (``regdeploy worker
--metrics-port``) serves ``metrics_app`` alone.
"""

from __future__ import annotations

from aiohttp import web

from receiver.errors import NotAuthenticated, StoreError
from receiver.http.auth import Handler, bearer_token, client_address, refuse_throttled
from receiver.http.errors import CONSOLE, error_answers
from receiver.metrics import UNKNOWN_SOURCE
from receiver.reloading import RUNNING, Running, services_of

PATH = "/metrics"
_WEBHOOK = "/webhooks/{source}"


async def metrics(request: web.Request) -> web.Response:
    services = services_of(request.app)
    token = services.config.metrics.token
    if token is not None:
        address = client_address(request)
        refuse_throttled(request, address)
        if not token.matches(bearer_token(request.headers.get("Authorization")) or ""):
            services.throttle.auth_failed(address)
            raise NotAuthenticated("missing or wrong metrics token")
    try:
        backlog = await services.store.backlog.snapshot()
    except StoreError:
        backlog = None
    body, content_type = services.metrics.render(backlog, accept=request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


@web.middleware
async def count_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every webhook answer by source and status, and every refusal for credentials.

    Outside the error middleware, so that it sees the status every error was answered with.
    """
    response = await handler(request)
    services_of(request.app).metrics.answered(
        surface=_surface(request), source=_webhook_source(request), status=response.status
    )
    return response


def _surface(request: web.Request) -> str:
    if request.path.startswith("/webhooks/"):
        return "webhook"
    if (request.match_info.route.name or "").startswith(CONSOLE):
        return "console"
    return "metrics" if request.path == PATH else "api"


def _webhook_source(request: web.Request) -> str | None:
    """The source a webhook was posted to (configured names only: a label value per unknown
    name would let anyone grow the metrics without end); None for other routes."""
    resource = request.match_info.route.resource
    if resource is None or resource.canonical != _WEBHOOK:
        return None
    name = request.match_info.get("source", "")
    return name if services_of(request.app).config.source(name) is not None else UNKNOWN_SOURCE


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, metrics, allow_head=False)]


def metrics_app(running: Running) -> web.Application:
    """An app that serves ``/metrics`` alone, for a process that serves no API."""
    app = web.Application(middlewares=[count_answers, error_answers])
    app[RUNNING] = running
    app.add_routes(routes())
    return app
