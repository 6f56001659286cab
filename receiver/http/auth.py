"""Who may call what: API tokens on every route but the open ones and the webhooks.

``/ping``, ``/healthz`` and ``/api/v1/openapi.json`` are open; ``/metrics`` is open unless
``metrics.token`` is set (``receiver.http.metrics``); webhooks check their source's own secret
(``receiver.http.webhooks``); the console's pages (routes named ``console.*``) check their
session (``receiver.console.sessions``); everything else needs ``Authorization: Bearer TOKEN``
with an API token, and a write-scoped one for anything but reading; an approve-scoped token may
also approve or reject a waiting deploy.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from receiver.config.server import ApiToken, Scope
from receiver.errors import InvalidRequest, NotAllowed, NotAuthenticated, TooManyRequests
from receiver.http.errors import CONSOLE
from receiver.reloading import services_of

log = structlog.get_logger("regdeploy.api")

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN = frozenset({"/ping", "/healthz", "/api/v1/openapi.json", "/metrics"})
# What an approve-scoped token may do besides reading.
_VOTES = re.compile(r"^/api/v1/deployments/[^/]+/(approve|reject)$")
AUTHENTICATED_AS = web.RequestKey("authenticated_as", ApiToken)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (the scheme in any case).

    Only spaces and tabs around it are dropped (HTTP's own white space): a no-break space or
    any other character a client sent is part of what it offered, and does not match.
    """
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip(" \t")
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
    """Every route but the open ones needs an API token; writing needs a write-scoped one."""
    if request.path in _OPEN or request.path.startswith("/webhooks/") or _console(request):
        return await handler(request)
    services = services_of(request.app)
    address = client_address(request)
    refuse_throttled(request, address)
    offered = bearer_token(request.headers.get("Authorization"))
    token = find_token(services.config.api_tokens, offered) if offered else None
    if token is None:
        services.throttle.auth_failed(address)
        log.warning("api_request", path=request.path, status=401, reason="bad_token")
        raise NotAuthenticated("missing or wrong API token")
    if not _may(token, request):
        log.warning("api_request", path=request.path, status=403, token=token.name)
        if token.scope is Scope.APPROVE:
            raise NotAllowed("this token may only read, approve and reject")
        raise NotAllowed("this token may only read")
    refuse_nul(request)
    request[AUTHENTICATED_AS] = token
    return await handler(request)


def _may(token: ApiToken, request: web.Request) -> bool:
    """Reading, anything with a write token, and votes with an approve token."""
    if request.method in _READ_METHODS or token.scope is Scope.WRITE:
        return True
    return token.scope is Scope.APPROVE and bool(_VOTES.match(request.path))


def client_address(request: web.Request) -> str:
    """The address the request came from (the peer of the connection)."""
    return request.remote or "unknown"


def refuse_throttled(request: web.Request, address: str) -> None:
    """A 429 for ``address`` while its failed authentications are spent (``rates:``)."""
    if wait := services_of(request.app).throttle.auth_wait(address):
        log.warning("auth_throttled", path=request.path, retry_in=round(wait, 1))
        raise TooManyRequests("too many failed authentications, retry later", retry_after=wait)


def refuse_nul(request: web.Request) -> None:
    """Refuse a NUL character in the path or the query: PostgreSQL cannot store or compare it
    (the store would answer a 500)."""
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
        raise InvalidRequest("the path or query contains a NUL character")


def _console(request: web.Request) -> bool:
    return (request.match_info.route.name or "").startswith(CONSOLE)


def token_name(request: web.Request) -> str:
    """The name of the API token the request came with (the actor in the audit)."""
    token: ApiToken = request[AUTHENTICATED_AS]
    return token.name
