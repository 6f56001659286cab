"""Signing in (``/signin``) with an API token, and out (``/signout``)."""

from __future__ import annotations

import secrets

from aiohttp import web

from receiver.console.live import FEED
from receiver.console.render import SESSION, render_page
from receiver.console.sessions import (
    READERS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    change,
    check_signin_token,
    current_session,
    read_form,
    safe_next,
    set_cookie,
    sign_in,
)
from receiver.errors import InvalidRequest
from receiver.http.auth import refuse_nul
from receiver.reloading import services_of


async def signin_form(request: web.Request) -> web.Response:
    refuse_nul(request)
    if await current_session(request) is not None:
        return see(safe_next(request.query.get("next")))
    return signin_page(request, message=None)


def signin_page(request: web.Request, *, message: str | None, status: int = 200) -> web.Response:
    """The sign-in form (with ``message``: why the last try was refused), and the cookie that
    its token must match."""
    token = secrets.token_urlsafe(32)
    context = {
        "title": "Sign in",
        "message": message,
        "signin_token": token,
        "next": safe_next(request.query.get("next")),
        "hours": SESSION_SECONDS // 3600,
    }
    response = render_page(request, "signin.html", context, status=status)
    set_cookie(response, request, SIGNIN_COOKIE, token, seconds=SIGNIN_SECONDS)
    return response


async def signin(request: web.Request) -> web.Response:
    refuse_nul(request)
    form = await read_form(request)
    check_signin_token(request, form.get("csrf"))
    offered, next_page = form.get("token", ""), form.get("next", "")
    if not isinstance(offered, str) or not isinstance(next_page, str):
        raise InvalidRequest("the token is text", field="token")
    _, session_id = await sign_in(request, offered.strip())
    response = see(safe_next(next_page))
    set_cookie(response, request, SESSION_COOKIE, session_id, seconds=SESSION_SECONDS)
    response.del_cookie(SIGNIN_COOKIE, path="/")
    return response


@change(scopes=READERS)
async def signout(request: web.Request) -> web.Response:
    """End the session, and its live streams in this process at once (other processes end
    theirs within a second: ``live``)."""
    id_hash = request[SESSION].id_hash
    await services_of(request.app).store.sessions.end_session(id_hash)
    request.app[FEED].streams.end_session(id_hash, reason="signed_out")
    response = see("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def see(location: str) -> web.Response:
    """303 See Other ``location``: after a form, the browser GETs it."""
    return web.Response(status=303, headers={"Location": location})
