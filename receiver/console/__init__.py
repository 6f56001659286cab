"""The console: server-rendered pages at ``/`` for people, in the same process as the API.

Each page has a stable URL and reads without JavaScript; a small vendored script (htmx and its
SSE extension, ``static/``) only makes parts of pages live. The pages call what the API calls
(the store's query groups, ``RepositoryActions``, the release desk, the rollout desk, the
read model) and render records and views; they hold no SQL and decide nothing.

Routes are named ``console.*``: the API's token check leaves them to the session check
(``sessions``), the one error map answers their errors as HTML pages (``ERROR_PAGE``), and the
OpenAPI description leaves them out (they are pages, not API). Every answer of theirs carries a
Content-Security-Policy without ``unsafe-inline``, ``X-Frame-Options: DENY`` and
``Referrer-Policy: no-referrer``; pages are not cached.
"""

from __future__ import annotations

from aiohttp import web

from receiver.console import (
    activity,
    insight,
    live,
    overview,
    release,
    repositories,
    rollouts,
    signin,
)
from receiver.console.render import HERE, STATIC, render_page, setup_templates
from receiver.http.errors import CONSOLE, ERROR_PAGE

# img-src allows data: for the arrows Pico draws in select boxes (images, never scripts).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: The live parts of pages, by the name their stream has (``/live/{name}``).
LIVE_PARTS: dict[str, live.Fragment] = {
    "overview": overview.live_part,
    "deployments": activity.deployments_part,
    "deployment": activity.deployment_part,
    "events": activity.events_part,
    "rollouts": rollouts.rollouts_part,
    "rollout": rollouts.rollout_part,
}
NAME = "{name:.+}"


def setup_console(app: web.Application) -> None:
    """Serve the console from ``app``."""
    setup_templates(app)
    app[ERROR_PAGE] = error_page
    app[live.FEED] = live.ChangeFeed()
    app[overview.REGISTRY_CHECKS] = overview.RegistryChecks()
    app.router.add_static("/static/", HERE / "static", name=STATIC, append_version=True)
    app.add_routes(routes())
    app.on_response_prepare.append(_secure)
    app.on_shutdown.append(_stop_streams)


def routes() -> list[web.RouteDef]:
    pages = [
        ("GET", "/", overview.overview, "overview"),
        ("GET", "/signin", signin.signin_form, "signin_form"),
        ("POST", "/signin", signin.signin, "signin"),
        ("POST", "/signout", signin.signout, "signout"),
        ("GET", "/repositories", repositories.list_repositories, "repositories"),
        ("GET", f"/repositories/{NAME}/confirm", repositories.confirm_form, "confirm_form"),
        ("POST", f"/repositories/{NAME}/confirm", repositories.confirm, "confirm"),
        ("GET", f"/repositories/{NAME}", repositories.show_repository, "repository"),
        ("GET", "/workloads", insight.workloads, "workloads"),
        ("GET", "/deployments", activity.deployments, "deployments"),
        ("GET", "/deployments/{id}", activity.deployment, "deployment"),
        ("GET", "/deployments/{id}/confirm", release.vote_form, "vote_form"),
        ("POST", "/deployments/{id}/confirm", release.vote, "vote"),
        ("GET", "/rollouts", rollouts.list_rollouts, "rollouts"),
        ("GET", "/rollouts/{id}", rollouts.show_rollout, "rollout"),
        ("GET", "/rollouts/{id}/confirm", rollouts.confirm_form, "rollout_confirm_form"),
        ("POST", "/rollouts/{id}/confirm", rollouts.confirm, "rollout_confirm"),
        ("GET", "/freezes/confirm", release.freeze_form, "freeze_form"),
        ("POST", "/freezes/confirm", release.freeze, "freeze"),
        ("GET", "/explain", insight.explain, "explain"),
        ("GET", "/events", activity.events, "events"),
        ("GET", "/notices", activity.notices, "notices"),
        ("GET", "/rejections", activity.rejections, "rejections"),
        ("GET", "/rejections/{id}", activity.rejection, "rejection"),
        ("GET", "/live/{name}", live.stream_handler(LIVE_PARTS), "live"),
    ]
    return [web.route(method, path, handler, name=CONSOLE + name)
            for method, path, handler, name in pages]  # fmt: skip


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """An error of a console route as a page: the sign-in form for a 401."""
    if status == 401:
        return signin.signin_page(request, message=message, status=401)
    context = {"title": f"{status} {_REASONS.get(status, 'Error')}", "message": message}
    return render_page(request, "error.html", context, status=status)


_REASONS = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    name = request.match_info.route.name or ""
    if not name.startswith(CONSOLE):
        return
    response.headers.update(SECURITY_HEADERS)
    if name != STATIC:
        response.headers["Cache-Control"] = "no-store"


async def _stop_streams(app: web.Application) -> None:
    await app[live.FEED].close()
