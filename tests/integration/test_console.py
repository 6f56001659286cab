"""The console over HTTP: sessions, CSRF, scopes, security headers, confirmations, error pages
and the live stream, as a browser meets them (the pages in a real browser: tests/browser/)."""

from __future__ import annotations

import re
import ssl
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from deployers.base import Deployers
from receiver.app import init_app
from receiver.config.loading import Config
from receiver.console import SECURITY_HEADERS
from receiver.secret import Secret
from tests.support.api import ClientFactory
from tests.support.components import free_port
from tests.support.console_forms import csrf_of, sign_in
from tests.support.metrics import count, parse
from tests.support.postgres import admin_sql
from tests.support.pushes import REGISTRY, WEB, push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import API_TOKEN, READ_TOKEN, api_headers, make_config

Client = TestClient[Any, Any]
CONFIRM = "/repositories/team/app/confirm"


@pytest.fixture
def console_config(db_uri: str) -> Config:
    return make_config(
        db_uri, registry=REGISTRY, confirm_digests=False, repositories=[repository()]
    )


@pytest.fixture
async def console(aiohttp_client: ClientFactory, console_config: Config) -> Client:
    deployer = RecordingDeployer()
    deployer.run(WEB, ref("1.1.0", 2))
    app = init_app(console_config, deployers=Deployers([deployer]))
    client = await aiohttp_client(app)
    for tag, n in (("1.0.0", 1), ("1.1.0", 2)):
        await push(client, tag, n)
    return client


def cookie_header(response: ClientResponse, name: str) -> str:
    (found,) = [h for h in response.headers.getall("Set-Cookie") if h.startswith(name + "=")]
    return found


async def test_the_console_at_root_asks_to_sign_in_with_strict_headers(console: Client) -> None:
    first = await console.get("/", allow_redirects=False)
    assert first.status == 303
    assert first.headers["Location"].startswith("/signin?next=")
    page = await console.get("/signin")
    assert page.status == 200
    assert page.content_type == "text/html"
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value
    policy = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in page.headers
    assert "<script>" not in await page.text() and "style=" not in await page.text()
    static = await console.get("/static/htmx.min.js")
    assert static.status == 200
    assert "Access-Control-Allow-Origin" not in static.headers


async def test_a_session_keeps_the_token_name_never_the_token(
    console: Client, db_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    form = await console.get("/signin")
    answer = await console.post(
        "/signin",
        data={"csrf": await csrf_of(form), "token": API_TOKEN, "next": "/deployments"},
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/deployments"
    cookie = cookie_header(answer, "regdeploy_session")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert API_TOKEN not in cookie
    rows = session_rows(db_uri)
    assert [(r["token_name"], r["scope"]) for r in rows] == [("admin", "write")]
    assert session_id not in str(rows) and API_TOKEN not in str(rows)
    for path in ("/", "/repositories", "/deployments", "/events", "/workloads"):
        assert API_TOKEN not in await (await console.get(path)).text()
    captured = capsys.readouterr()
    assert API_TOKEN not in captured.out + captured.err


async def test_a_session_ends_when_its_tokens_secret_is_rotated(
    console: Client, aiohttp_client: ClientFactory, console_config: Config
) -> None:
    """A leaked token replaced under the same name: what was signed in with it is signed out."""
    await sign_in(console)
    (session,) = [c for c in console.session.cookie_jar if c.key == "regdeploy_session"]
    cookies = {"Cookie": f"regdeploy_session={session.value}"}
    rotated = tuple(
        replace(t, token=Secret("a-new-secret-for-admin-0123")) if t.name == "admin" else t
        for t in console_config.api_tokens
    )
    same = await aiohttp_client(init_app(console_config))
    after = await aiohttp_client(init_app(replace(console_config, api_tokens=rotated)))

    assert (await same.get("/repositories", headers=cookies, allow_redirects=False)).status == 200
    page = await after.get("/repositories", headers=cookies, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/signin")


async def test_a_wrong_token_gets_the_signin_page_again_with_why(console: Client) -> None:
    form = await console.get("/signin")
    answer = await console.post(
        "/signin", data={"csrf": await csrf_of(form), "token": "not-it", "next": "/"}
    )
    assert answer.status == 401
    text = await answer.text()
    assert "not an API token" in text and "not-it" not in text
    assert answer.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


async def test_a_signin_posted_from_elsewhere_gets_403(console: Client) -> None:
    answer = await console.post("/signin", data={"token": API_TOKEN, "next": "/"})
    assert answer.status == 403
    assert "regdeploy_session" not in answer.cookies


async def test_a_change_without_the_csrf_token_gets_403_and_changes_nothing(
    console: Client,
) -> None:
    csrf = await sign_in(console)
    form = {"action": "pin", "tag": "1.0.0", "once": "a"}
    for forged in ({}, {"csrf": "forged"}, {"csrf": csrf[:-1]}):
        answer = await console.post(CONFIRM, data={**form, **forged})
        assert answer.status == 403
        assert answer.content_type == "text/html"
        assert "CSRF" in await answer.text()
    state = await (await console.get("/api/v1/repos/team/app", headers=api_headers())).json()
    assert state["pinned_tag"] == "" and state["audit"] == []
    samples = parse(await (await console.get("/metrics")).text())
    assert count(samples, "regdeploy_auth_failures_total", surface="console", status="403") == 3
    # The header htmx sends does as well as the field.
    answer = await console.post(
        CONFIRM, data=form, headers={"X-CSRF-Token": csrf}, allow_redirects=False
    )
    assert answer.status == 303


async def test_a_read_session_sees_no_write_controls_and_gets_403(console: Client) -> None:
    csrf = await sign_in(console, READ_TOKEN)
    page = await (await console.get("/repositories")).text()
    assert "reading only" in page
    assert "/confirm" not in page and "Pin…" not in page
    assert (await console.get(f"{CONFIRM}?action=pin&tag=1.0.0")).status == 403
    answer = await console.post(
        CONFIRM, data={"csrf": csrf, "action": "pin", "tag": "1.0.0", "once": "b"}
    )
    assert answer.status == 403
    assert "may only read" in await answer.text()


async def test_the_confirmation_says_what_will_happen_and_acts_once(console: Client) -> None:
    csrf = await sign_in(console)
    page = await (await console.get(f"{CONFIRM}?action=pin&tag=1.0.0")).text()
    assert "web will move from 1.1.0 to 1.0.0" in page
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert once is not None
    form = {"csrf": csrf, "action": "pin", "tag": "1.0.0", "once": once.group(1)}
    first = await console.post(CONFIRM, data=form, allow_redirects=False)
    assert first.headers["Location"] == "/deployments?repository=team/app"
    shown = await (await console.get(first.headers["Location"])).text()
    assert "pinned_tag" in shown and "deploying 1.0.0 to recording:web" in shown
    again = await console.post(CONFIRM, data=form, allow_redirects=False)
    assert again.headers["Location"] == "/repositories/team/app"
    assert "sent already" in await (await console.get("/repositories/team/app")).text()
    state = await (await console.get("/api/v1/repos/team/app", headers=api_headers())).json()
    assert [(a["actor"], a["field"], a["new"]) for a in state["audit"]] == [
        ("admin", "pinned_tag", "1.0.0")
    ]
    planned = await (await console.get("/api/v1/deployments", headers=api_headers())).json()
    assert [d["trigger"] for d in planned["deployments"]] == ["pin"]


async def test_signing_out_ends_the_session(console: Client, db_uri: str) -> None:
    csrf = await sign_in(console)
    answer = await console.post("/signout", data={"csrf": csrf}, allow_redirects=False)
    assert answer.headers["Location"] == "/signin"
    assert session_rows(db_uri) == []
    assert (await console.get("/", allow_redirects=False)).status == 303


async def test_an_expired_session_asks_to_sign_in_again(console: Client, db_uri: str) -> None:
    await sign_in(console)
    admin_sql(db_uri, "UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    answer = await console.get("/deployments", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"] == "/signin?next=/deployments"


async def test_console_errors_are_pages_and_api_errors_json(console: Client) -> None:
    await sign_in(console)
    page = await console.get("/deployments/999999")
    assert page.status == 404 and page.content_type == "text/html"
    assert "no deployment 999999" in await page.text()
    bad = await console.get(f"{CONFIRM}?action=explode")
    assert bad.status == 400 and "action must be one of" in await bad.text()
    api = await console.get("/api/v1/deployments/999999", headers=api_headers())
    assert api.status == 404 and api.content_type == "application/json"
    assert (await console.get("/no/such/page")).content_type == "application/json"
    assert (await console.get("/events?status=%00")).status == 400


async def test_the_live_stream_sends_parts_of_pages(console: Client) -> None:
    assert (await console.get("/live/deployments")).status == 401
    await sign_in(console)
    assert (await console.get("/live/nothing")).status == 404
    async with console.get("/live/deployments?repository=team/app") as stream:
        assert stream.content_type == "text/event-stream"
        first = await stream.content.readuntil(b"\n\n")
    assert first.startswith(b"event: deployments\ndata: ")
    assert b"No deployment matches these filters" in first


async def test_a_form_that_cannot_be_read_is_a_400(console: Client) -> None:
    csrf = await sign_in(console)
    bodies = [
        ("application/x-www-form-urlencoded; charset=nope", b"token=x"),
        ("application/x-www-form-urlencoded", b"token=%ff\xff"),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\nnameless\r\n--b--\r\n"),
    ]
    for content_type, body in bodies:
        for path in ("/signin", CONFIRM):
            answer = await console.post(
                path, data=body, headers={"Content-Type": content_type, "X-CSRF-Token": csrf}
            )
            assert answer.status == 400, (path, content_type, await answer.text())


async def test_a_live_part_with_a_bad_query_is_refused_before_it_streams(console: Client) -> None:
    await sign_in(console)
    answer = await console.get("/live/deployments?outcome=bogus")
    assert answer.status == 400 and answer.content_type == "text/html"


async def test_cookies_are_secure_behind_an_https_proxy(
    aiohttp_client: ClientFactory, console_config: Config
) -> None:
    """TLS ends at the proxy, so requests arrive over http: the public URL says https."""
    server = replace(console_config.server, public_url="https://regdeploy.example")
    client = await aiohttp_client(init_app(replace(console_config, server=server)))
    form = await client.get("/signin")
    assert "Secure" in cookie_header(form, "regdeploy_signin")


async def test_the_session_cookie_is_secure_under_https(
    console_config: Config, self_signed: tuple[Path, Path]
) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(init_app(console_config))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    base = f"https://127.0.0.1:{port}"
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            form = await session.get(f"{base}/signin", ssl=False)
            answer = await session.post(
                f"{base}/signin",
                data={"csrf": await csrf_of(form), "token": API_TOKEN, "next": "/"},
                allow_redirects=False,
                ssl=False,
            )
            assert answer.status == 303
            assert "Secure" in cookie_header(answer, "regdeploy_session")
    finally:
        await runner.cleanup()


def session_rows(db_uri: str) -> list[dict[str, Any]]:
    """Every row of the console's sessions, as stored."""
    conn = psycopg2.connect(db_uri)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM console_sessions")
            assert cur.description is not None
            columns = [c.name for c in cur.description]
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
