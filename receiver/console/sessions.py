"""Who is signed in to the console, and the checks every page and form goes through.

Signing in trades an API token for a session: the browser gets a random session id in a cookie
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` under https, expiring with the session), and the
database keeps the id's HMAC under the token's secret with the token's name and scope, never the
token. A session ends when it expires, when its owner signs out, or when the configuration no
longer has that token (name, scope and secret).

Every POST carries the session's CSRF token (the ``csrf`` form field, or the ``X-CSRF-Token``
header): without it, or with another, the answer is 403 and nothing changes. The sign-in form,
sent before there is a session, carries a token that must match a cookie set with the form
(a double-submit token). What a session may change goes by its token's scope, as in the API:
a read-scoped session gets 403 for anything that changes something, an approve-scoped one for
anything but approving and rejecting a waiting deploy.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from receiver.config.server import ApiToken, Scope
from receiver.console.render import SESSION
from receiver.errors import InvalidRequest, NotAllowed, NotAuthenticated
from receiver.http.auth import client_address, find_token, refuse_nul, refuse_throttled
from receiver.reloading import services_of
from receiver.store.records import ConsoleSession

log = structlog.get_logger("regdeploy.console")

SESSION_COOKIE = "regdeploy_session"
SIGNIN_COOKIE = "regdeploy_signin"
#: How long a session lasts after signing in.
SESSION_SECONDS = 8 * 3600
#: How long the sign-in form's token lasts.
SIGNIN_SECONDS = 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
FORM = web.RequestKey("console_form", MultiDictProxy)
# What a posted form field holds, as aiohttp reads it.
Posted = str | bytes | bytearray | web.FileField
#: Who may do what, by the scope of the session's token.
READERS = frozenset(Scope)
APPROVERS = frozenset({Scope.APPROVE, Scope.WRITE})
WRITERS = frozenset({Scope.WRITE})
# A path of this site to come back to after signing in: "/", then printable ASCII, not "//"
# or "/\\" (which a browser reads as another site).
_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_hash(session_id: str, token: ApiToken) -> str:
    """What the database keeps of a session's id: bound to the secret of the token it was
    opened with, so that a session ends when that token's secret changes (a leaked token
    rotated under the same name) and the id alone names no row."""
    return hmac.new(token.token.value.encode(), session_id.encode(), hashlib.sha256).hexdigest()


async def sign_in(request: web.Request, offered: str) -> tuple[ConsoleSession, str]:
    """A new session for the API token ``offered``, and the id for its cookie. An address that
    failed too often (``rates.failed_auth_per_address``) is refused before the token is looked
    at."""
    services, address = services_of(request.app), client_address(request)
    refuse_throttled(request, address)
    token = find_token(services.config.api_tokens, offered) if offered else None
    if token is None:
        services.throttle.auth_failed(address)
        log.warning("console_signin_refused", reason="bad_token")
        raise NotAuthenticated("that is not an API token of this regdeploy")
    session_id = secrets.token_urlsafe(32)
    session = await services.store.sessions.create_session(
        id_hash=session_hash(session_id, token),
        token_name=token.name,
        scope=token.scope.value,
        csrf_token=secrets.token_urlsafe(32),
        seconds=SESSION_SECONDS,
    )
    log.info("console_signed_in", token=token.name, scope=token.scope.value)
    return session, session_id


def set_cookie(
    response: web.StreamResponse, request: web.Request, name: str, value: str, *, seconds: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path="/",
        httponly=True,
        # Behind a proxy that ends TLS, the request reaches regdeploy over http: the public URL
        # says whether people use https.
        secure=request.secure
        or services_of(request.app).config.server.base_url.startswith("https://"),
        samesite="Strict",
    )


async def current_session(request: web.Request) -> ConsoleSession | None:
    """The session the request's cookie names, if it is still good."""
    services = services_of(request.app)
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    sessions = services.store.sessions
    tokens = services.config.api_tokens
    session = await sessions.find_session([session_hash(session_id, t) for t in tokens])
    if session is None:
        return None
    configured = {(t.name, t.scope.value) for t in services.config.api_tokens}
    if (session.token_name, session.scope) not in configured:
        await sessions.end_session(session.id_hash)
        log.info("console_session_ended", token=session.token_name, reason="token_gone")
        return None
    return session


def page(*, scopes: frozenset[Scope] = READERS) -> Callable[[Handler], Handler]:
    """A page to read: without a session, go and sign in first; only for a session of one of
    ``scopes`` (a confirmation page: those that may make the change)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            refuse_nul(request)
            session = await current_session(request)
            if session is None:
                raise web.HTTPSeeOther(signin_location(request))
            if not may(session, scopes):
                raise NotAllowed(refusal(session))
            request[SESSION] = session
            response = await handler(request)
            if session.flash is not None:  # shown on this page
                await services_of(request.app).store.sessions.set_flash(session.id_hash, None)
            return response

        return checked

    return decorate


def change(*, scopes: frozenset[Scope] = WRITERS) -> Callable[[Handler], Handler]:
    """A form that changes something: a session, its CSRF token, and a scope of ``scopes``,
    checked in that order, before anything is done."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            refuse_nul(request)
            session = await current_session(request)
            if session is None:
                raise NotAuthenticated("sign in first: this session ended or never began")
            form = await read_form(request)
            offered = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
            if not isinstance(offered, str) or not _same(offered, session.csrf_token):
                log.warning("console_csrf_refused", path=request.path, token=session.token_name)
                raise NotAllowed("this form's CSRF token is missing or wrong: reload the page")
            if not may(session, scopes):
                log.warning("console_write_refused", path=request.path, token=session.token_name)
                raise NotAllowed(refusal(session))
            request[SESSION] = session
            request[FORM] = form
            return await handler(request)

        return checked

    return decorate


def may(session: ConsoleSession, scopes: frozenset[Scope]) -> bool:
    """Whether ``session``'s token has one of ``scopes``."""
    return session.scope in {s.value for s in scopes}


def refusal(session: ConsoleSession) -> str:
    """Why ``session`` may not do what it asked, by what its scope allows."""
    if session.scope == Scope.APPROVE.value:
        return "this token may only read, approve and reject"
    return "this token may only read"


def form_text(request: web.Request, name: str) -> str:
    """The text of form field ``name`` ("" when absent); a NUL character is refused
    (PostgreSQL cannot store it)."""
    value = request[FORM].get(name, "")
    if not isinstance(value, str):
        raise InvalidRequest(f"field {name!r} must be text", field=name)
    if "\x00" in value:
        raise InvalidRequest(f"field {name!r} contains a NUL character", field=name)
    return value


async def first_time(request: web.Request) -> bool:
    """Whether this form is sent for the first time, by its one-time token (the ``once``
    field); the second time, the session's next page says that nothing more was done."""
    once = form_text(request, "once")
    if not once:
        raise InvalidRequest("the form has no one-time token: confirm from its page", field="once")
    session, sessions = request[SESSION], services_of(request.app).store.sessions
    if await sessions.first_submission(session.id_hash, once):
        return True
    await sessions.set_flash(session.id_hash, "That form was sent already: nothing more done.")
    return False


def check_signin_token(request: web.Request, offered: object) -> None:
    """The sign-in form's token must match its cookie (a form posted from elsewhere has
    neither)."""
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not (isinstance(offered, str) and expected and _same(offered, expected)):
        log.warning("console_csrf_refused", path=request.path, token=None)
        raise NotAllowed("the sign-in form's token is missing or wrong: reload the page")


async def read_form(request: web.Request) -> MultiDictProxy[Posted]:
    """The posted form, or a 400 when it cannot be read (a charset Python does not know, bytes
    that are not text in it, a multipart body aiohttp refuses)."""
    try:
        return await request.post()
    except LookupError:
        raise InvalidRequest(f"unknown charset {request.charset!r}") from None
    except ValueError as exc:  # UnicodeDecodeError too
        raise InvalidRequest(f"the form cannot be read: {exc}") from None


def signin_location(request: web.Request) -> str:
    """``/signin``, asked to come back to this page afterwards."""
    return f"/signin?next={quote(request.path_qs, safe='')}"


def safe_next(location: str | None) -> str:
    """``location`` if it is a path of this site, else ``/``: printable ASCII only (a browser
    drops a tab or a newline, and ``/<TAB>/elsewhere`` would become ``//elsewhere``), and not
    ``//elsewhere`` or ``/\\elsewhere``."""
    if location and _LOCAL_PATH.fullmatch(location):
        return location
    return "/"


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())
