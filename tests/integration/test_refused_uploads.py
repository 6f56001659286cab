"""A refused upload is answered and its connection closed at once: a client that keeps
uploading after its 401, 404, 413 or 429 is not read on. aiohttp would otherwise read and
discard its upload for ten seconds before it closed the connection, its "lingering close":
gigabytes at the speed of a local connection.

The client is a raw socket (``tests.support.raw_http.flood``) that announces ten gigabytes, or a
chunked body without end, and writes as fast as the connection takes it. The server is served as
``regdeploy serve`` serves it, on a socket that counts what the server reads from each
connection (``tests.support.served``): the bytes measured are the ones the server read, not the
ones the client managed to write.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from receiver.app import init_app
from tests.support.api import ClientFactory
from tests.support.raw_http import Flood, flood
from tests.support.served import CountingListener, ServedAsInProduction
from tests.support.settings import API_TOKEN, REGISTRY_TOKEN, UNLIMITED, make_config

#: The body cap of these tests (``server.max_body_bytes``): a chunked body is refused once it
#: passed the cap, so the server reads that much of it before it refuses; a small cap keeps
#: that small.
CAP = 64 * 1024
#: What the server may have read of a refused upload, and how soon after the request's head the
#: connection must be closed (a local close takes milliseconds: this is for a loaded machine).
MOST_READ = 1024 * 1024
CLOSED_WITHIN = 1.0
#: A rate of failed authentications that the first failure spends.
ONE_FAILURE = {**UNLIMITED, "failed_auth_per_address": {"per_minute": 1}}


def head(target: str, token: str, *, chunked: bool) -> bytes:
    """A POST's head that announces a body of ten gigabytes, or a chunked one."""
    length = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 10000000000"
    lines = [
        b"POST " + target.encode() + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Authorization: Bearer " + token.encode(),
        b"Content-Type: application/json",
        length,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


# (status, target, token, rates). A webhook: 404 before the token is looked at; 413 for a
# length over the cap at once, for a chunked body once it passed the cap; 429 once an earlier
# failure spent the address's failed authentications, before anything else is looked at. The
# API: 401 before the body is read; 413 once the body read passed the cap; an unknown path.
REFUSALS = [
    pytest.param(401, "/webhooks/registry", "wrong-token", UNLIMITED, id="webhook-401"),
    pytest.param(404, "/webhooks/nosuch", REGISTRY_TOKEN, UNLIMITED, id="webhook-404"),
    pytest.param(413, "/webhooks/registry", REGISTRY_TOKEN, UNLIMITED, id="webhook-413"),
    pytest.param(429, "/webhooks/registry", REGISTRY_TOKEN, ONE_FAILURE, id="webhook-429"),
    pytest.param(401, "/api/v1/freeze", "wrong-token", UNLIMITED, id="api-401"),
    pytest.param(413, "/api/v1/freeze", API_TOKEN, UNLIMITED, id="api-413"),
    pytest.param(404, "/nosuch", API_TOKEN, UNLIMITED, id="unknown-path-404"),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize(("status", "target", "token", "rates"), REFUSALS)
async def test_a_refused_upload_is_answered_and_its_connection_closed_at_once(
    aiohttp_client: ClientFactory,
    db_uri: str,
    status: int,
    target: str,
    token: str,
    rates: dict[str, Any],
    chunked: bool,
) -> None:
    server = {"host": "127.0.0.1", "port": 8080, "max_body_bytes": CAP}
    counted = CountingListener()
    app = init_app(make_config(db_uri, server=server, rates=rates))
    client = await aiohttp_client(ServedAsInProduction(app, socket_factory=counted))
    if status == 429:  # spend the one failed authentication
        failed = await client.post("/webhooks/registry", headers={"Authorization": "wrong"})
        assert failed.status == 401
    port = client.server.port
    assert port is not None

    seen = await asyncio.to_thread(
        flood, port, head(target, token, chunked=chunked), chunked=chunked
    )
    read = counted.read_from(seen.port)

    print(figures(seen, read))
    assert seen.status == status, seen
    assert seen.closed_after is not None, f"still open: {seen}"
    assert seen.closed_after < CLOSED_WITHIN, seen
    assert read < MOST_READ, figures(seen, read)
    # The server goes on serving: the connection it closed was that client's alone.
    assert (await client.get("/ping")).status == 200


def figures(seen: Flood, read: int) -> str:
    return (
        f"status={seen.status} read_by_server={read:,} written_by_client={seen.written:,} "
        f"answered_after={seen.answered_after} closed_after={seen.closed_after}"
    )
