"""The console's live streams and their sessions, over HTTP on a real PostgreSQL: a stream ends
when its session ends (signed out here or in another process, expired, its token's scope
changed), and a session has at most ``STREAMS_PER_SESSION`` streams open."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import psycopg2
import pytest
from aiohttp import ClientResponse

from receiver.console import live
from receiver.console.live import STREAMS_PER_SESSION
from receiver.console.sessions import SESSION_COOKIE
from receiver.store import Store
from tests.support.api import Client
from tests.support.app import StartApp
from tests.support.console_forms import sign_in
from tests.support.polling import until
from tests.support.postgres import admin_sql
from tests.support.pushes import push
from tests.support.settings import API_TOKEN, READ_TOKEN

#: How soon a stream ends once its session ended, wherever that happened.
ENDS_WITHIN = 1.0
#: How long a stream may take to show news (it looks at least every two seconds).
NEWS_WITHIN = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn:
    """A browser signed in: its session cookie and the session's CSRF token."""

    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}


async def signed_in(client: Client, token: str = API_TOKEN) -> SignedIn:
    """A new session for ``token``; the client's own cookie jar is emptied afterwards, so
    that each request says which browser sends it."""
    csrf = await sign_in(client, token)
    (cookie,) = [c.value for c in client.session.cookie_jar if c.key == SESSION_COOKIE]
    client.session.cookie_jar.clear()
    return SignedIn(cookie=cookie, csrf=csrf)


async def open_stream(
    client: Client, browser: SignedIn, path: str = "/live/events"
) -> ClientResponse:
    """A stream of ``browser`` that has sent its first part."""
    stream = await client.get(path, headers=browser.headers)
    assert stream.status == 200, await stream.text()
    assert (await stream.content.readuntil(b"\n\n")).startswith(b"event: ")
    return stream


async def ends(stream: ClientResponse) -> None:
    """The stream ends (its response is complete) within ``ENDS_WITHIN``."""
    await asyncio.wait_for(stream.content.read(), ENDS_WITHIN)
    assert stream.content.at_eof()


async def shows(stream: ClientResponse, text: bytes) -> None:
    """The stream sends a part with ``text`` in it within ``NEWS_WITHIN``."""

    async def next_parts() -> None:
        while text not in await stream.content.readuntil(b"\n\n"):
            pass

    await asyncio.wait_for(next_parts(), NEWS_WITHIN)


async def test_signing_out_ends_the_sessions_stream_at_once(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At once: not by the check of every session, which waits a minute here."""
    monkeypatch.setattr(live, "SESSION_CHECK_SECONDS", 60.0)
    client, _ = await start_app()
    browser = await signed_in(client)
    stream = await open_stream(client, browser)

    answer = await client.post(
        "/signout", data={"csrf": browser.csrf}, headers=browser.headers, allow_redirects=False
    )

    assert answer.status == 303
    await ends(stream)
    again = await client.get("/live/events", headers=browser.headers)
    assert again.status == 401


async def test_a_sign_out_in_another_process_ends_the_stream_here_within_a_second(
    start_app: StartApp,
) -> None:
    here, _ = await start_app()
    elsewhere, _ = await start_app()  # another regdeploy on the same database
    browser = await signed_in(here)
    stream = await open_stream(here, browser, "/live/deployments")

    answer = await elsewhere.post(
        "/signout", data={"csrf": browser.csrf}, headers=browser.headers, allow_redirects=False
    )

    assert answer.status == 303
    await ends(stream)


@pytest.mark.parametrize("how", ["ended", "expired"])
async def test_a_session_that_ends_in_the_database_ends_its_streams_within_a_second(
    start_app: StartApp, store: Store, db_uri: str, how: str
) -> None:
    """Ended as another process's sign-out ends it (through the store), or run out."""
    client, _ = await start_app()
    browser = await signed_in(client)
    streams = [await open_stream(client, browser, p) for p in ("/live/events", "/live/overview")]
    (id_hash,) = session_hashes(db_uri)

    if how == "ended":
        await store.sessions.end_session(id_hash)
    else:
        admin_sql(db_uri, "UPDATE console_sessions SET expires_at = now()")

    await asyncio.gather(*(ends(s) for s in streams))


async def test_a_session_whose_tokens_scope_changed_ends_its_streams_everywhere(
    start_app: StartApp,
) -> None:
    """Another process, configured with admin's token as read-only now, ends the session on its
    next request: the stream here ends too."""
    here, _ = await start_app()
    tokens = [
        {"name": "admin", "token": API_TOKEN, "scope": "read"},
        {"name": "viewer", "token": READ_TOKEN, "scope": "read"},
    ]
    changed, _ = await start_app(api={"tokens": tokens})
    browser = await signed_in(here)
    stream = await open_stream(here, browser)

    page = await changed.get("/", headers=browser.headers, allow_redirects=False)

    assert page.status == 303 and page.headers["Location"].startswith("/signin")
    await ends(stream)


async def test_one_stream_too_many_is_refused_and_other_sessions_go_on(
    start_app: StartApp,
) -> None:
    client, _ = await start_app()
    browser, other = await signed_in(client), await signed_in(client)
    parts = ("/live/events", "/live/deployments", "/live/overview")
    assert len(parts) == STREAMS_PER_SESSION
    streams = [await open_stream(client, browser, p) for p in parts]

    refused = await client.get("/live/events", headers=browser.headers)
    assert refused.status == 409 and refused.content_type == "text/html"
    assert "live parts open already" in await refused.text()
    others = await open_stream(client, other)  # another session has its own streams

    streams[0].close()  # a tab closed: its place is free
    streams[0] = await until(
        "a stream is let in once a tab closed",
        lambda: stream_or_none(client, browser),
        seconds=ENDS_WITHIN,
        interval=0.05,
    )

    await client.post("/signout", data={"csrf": browser.csrf}, headers=browser.headers)
    await asyncio.gather(*(ends(s) for s in streams))
    await push(client, "1.2.0", 3)
    await shows(others, b"team/app:<wbr>1.2.0")


async def stream_or_none(client: Client, browser: SignedIn) -> ClientResponse | None:
    """A new stream of ``browser``, or None when it is refused."""
    answer = await client.get("/live/events", headers=browser.headers)
    if answer.status == 409:
        answer.release()
        return None
    assert answer.status == 200, await answer.text()
    return answer


def session_hashes(db_uri: str) -> list[str]:
    """What the database keeps of every session, as another process would find it."""
    conn = psycopg2.connect(db_uri)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id_hash FROM console_sessions")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
