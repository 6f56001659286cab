"""The one place where errors become HTTP answers.

Routes raise the project's exceptions (``receiver.errors``); this middleware answers each with
its status and a JSON body ``{"message": ..., "field"?: ...}``. aiohttp's own errors (an unknown
path or method, a body over ``client_max_size``) get the same JSON shape, and so does a bug: a
500 that names nothing but the fact, with the traceback in the log.

=========================================  ======  =====================================
error                                      status  headers
=========================================  ======  =====================================
InvalidRequest, PolicyError,               400
  InvalidReference
NotAuthenticated                           401     ``WWW-Authenticate: Bearer``
NotAllowed                                 403
NotFound                                   404
Conflict (NotWaiting)                      409
BodyTooLarge                               413
DatabaseUnavailable, DeployerUnavailable   503     ``Retry-After``
StoreError, anything unexpected            500
=========================================  ======  =====================================

The console's pages (routes named ``console.*``) get the same statuses as HTML pages: the
console registers the page that renders them (``ERROR_PAGE``); the table stays here.

One exception to the table: on the registrywatcher-compatible routes (``/repos``, ``/tags/...``)
an unknown repository is a 400, because registrywatcher answers 400 and scripts written for it
expect that.

An error answered before the request body was read closes the connection as soon as the answer
is sent: a client that is refused does not get to upload the rest of its body first.

A client that went away (its connection closed while its request was read or answered) is no
error: a debug line, and a 499 for the metrics (the status nginx logs for it), that nobody
receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp
import aiohttp.http_exceptions
import structlog
from aiohttp import web

from receiver.errors import (
    BodyTooLarge,
    Conflict,
    DatabaseUnavailable,
    DeployerUnavailable,
    InvalidReference,
    InvalidRequest,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PolicyError,
    RegdeployError,
    RequestError,
    StoreError,
    TooManyRequests,
    UnknownRepository,
)
from receiver.views.answers import ErrorJson

log = structlog.get_logger("regdeploy.http")

#: Seconds a client should wait before trying again after a 503.
RETRY_AFTER_SECONDS = 5
#: The status counted for a request whose client went away before its answer (nginx's).
CLIENT_WENT_AWAY = 499
#: What a refused request's connection may still read of its body before it is closed.
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 0.25
#: Prefix of the names of the registrywatcher-compatible routes.
REGISTRYWATCHER = "registrywatcher."
#: Prefix of the names of the console's routes: HTML pages, whose errors are pages too.
CONSOLE = "console."


class ErrorPage(Protocol):
    """Renders an error of a console route as an HTML page with ``status``."""

    def __call__(self, request: web.Request, status: int, message: str) -> web.Response: ...


ERROR_PAGE = web.AppKey("error_page", ErrorPage)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Checked in order, so that a subclass listed before its parent wins. A message replaces the
# exception's own where the details are for the log, not for the client.
_ANSWERS: tuple[tuple[type[RegdeployError], int, str | None], ...] = (
    (InvalidRequest, 400, None),
    (PolicyError, 400, None),
    (InvalidReference, 400, None),
    (NotAuthenticated, 401, None),
    (NotAllowed, 403, None),
    (NotFound, 404, None),
    (Conflict, 409, None),
    (BodyTooLarge, 413, None),
    (TooManyRequests, 429, None),
    (DatabaseUnavailable, 503, "database unavailable, retry later"),
    (DeployerUnavailable, 503, None),
    (StoreError, 500, "database error"),
)


@web.middleware
async def error_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error of every route, unknown paths included, as a JSON answer (a page on the
    console's routes)."""
    try:
        return await handler(request)
    except RegdeployError as exc:
        status, message = answer_for(request, exc)
        field = exc.field if isinstance(exc, RequestError) else None
        response = _answer(request, status, message, field)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # a redirect is not an error
        response = _answer(request, exc.status, _http_message(request, exc))
        if allow := exc.headers.get("Allow"):
            response.headers["Allow"] = allow
    except Exception as exc:
        if _went_away(request, exc):  # nobody to answer, and nothing broke
            log.debug("client_went_away", method=request.method, path=request.path)
            return web.Response(status=CLIENT_WENT_AWAY)
        # a bug: say so without details, keep the details in the log
        log.exception("request_crashed", method=request.method, path=request.path)
        response = _answer(request, 500, "internal error")
    if not request.content.at_eof():
        response.force_close()  # what is left of the body is not read: no next request
    if not request.content.is_eof():  # and more of it is on its way
        await _answer_and_close(request, response)
    return response


def _went_away(request: web.Request, exc: BaseException) -> bool:
    """Whether ``exc`` is the client's connection closing under ``request`` (it left, its
    process died), rather than a failure of the server's own (a database or an orchestrator
    that reset a connection of the server's own)."""
    transport = request.transport
    return isinstance(exc, ConnectionError) and (transport is None or transport.is_closing())


async def _answer_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Send ``response`` now and close the connection, reading at most a little more of the
    body.

    Left to aiohttp, a connection whose body was not read to its end is closed only after its
    "lingering close": it reads and discards what the client still sends for up to 10 seconds
    (``lingering_time``), gigabytes at the speed of a local network. Here the answer goes out
    whole and the connection is half-closed (the client reads the answer and its end), then at
    most ``DRAIN_BYTES`` more of the body are read for at most ``DRAIN_SECONDS``, so that the
    rest of an ordinary body (a notification, a proxy passing one on) arrives and the close is
    clean; a client still uploading after that sees its connection reset. Every other answer
    keeps aiohttp's lingering close.
    """
    with contextlib.suppress(ConnectionError):  # gone already: nothing to send
        await response.prepare(request)
        await response.write_eof()
        transport = request.transport
        if transport is not None and transport.can_write_eof():
            transport.write_eof()
        await _drain(request)
    # aiohttp, seeing the connection closed, neither lingers nor sends the answer again.
    request.protocol.force_close()


async def _drain(request: web.Request) -> None:
    """Read and drop what arrives of the body, up to ``DRAIN_BYTES`` and ``DRAIN_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline, read = loop.time() + DRAIN_SECONDS, 0
    while read < DRAIN_BYTES and (left := deadline - loop.time()) > 0:
        try:
            chunk = await asyncio.wait_for(request.content.readany(), left)
        except (TimeoutError, aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError):
            return
        if not chunk:
            return
        read += len(chunk)


def answer_for(request: web.Request, exc: RegdeployError) -> tuple[int, str]:
    """The HTTP status and message that answer ``exc`` on the route ``request`` took."""
    if isinstance(exc, UnknownRepository) and _route_name(request).startswith(REGISTRYWATCHER):
        return 400, str(exc)
    for kind, status, message in _ANSWERS:
        if isinstance(exc, kind):
            if status == 500:
                log.error("request_failed", path=request.path, status=status, error=str(exc))
            return status, message or str(exc)
    log.error("request_failed", path=request.path, status=500, error=str(exc))
    return 500, "internal error"


def _answer(
    request: web.Request, status: int, message: str, field: str | None = None
) -> web.Response:
    page = request.app.get(ERROR_PAGE)
    if page is not None and _route_name(request).startswith(CONSOLE):
        response = page(request, status, message)
    else:
        body: ErrorJson = {"message": message}
        if field is not None:
            body["field"] = field
        response = web.json_response(body, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="regdeploy"'
    elif status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPNotFound):
        return f"no such path: {request.path}"
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return f"method {request.method} is not allowed on {request.path}"
    return exc.reason


def _route_name(request: web.Request) -> str:
    return request.match_info.route.name or ""
