"""The console's forms as a test client meets them: signing in, the CSRF token of a page, and
the one-time token of a confirmation page."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.support.settings import API_TOKEN

Client = TestClient[Any, Any]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ONCE = re.compile(r'name="once" value="([^"]+)"')


async def csrf_of(response: ClientResponse) -> str:
    found = CSRF.search(await response.text())
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def once_of(page: str) -> str:
    """The one-time token of a confirmation page."""
    found = ONCE.search(page)
    assert found is not None, "no one-time token on the page"
    return found.group(1)


async def sign_in(client: Client, token: str = API_TOKEN) -> str:
    """Sign in; the session's CSRF token."""
    form = await client.get("/signin")
    answer = await client.post(
        "/signin",
        data={"csrf": await csrf_of(form), "token": token, "next": "/"},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    return await csrf_of(await client.get("/"))
