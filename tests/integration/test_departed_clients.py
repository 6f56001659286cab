"""A client that goes away is no error: a browser that leaves a page while its live part
streams (or before the stream began), and a sender that hangs up in the middle of its upload,
leave at most a debug line in the log, and the server goes on serving.

The client is a real socket that closes (a FIN, as a closed tab) or is reset (as a process that
dies). The app is served as ``regdeploy serve`` serves it (``tests.support.served``): its
handlers are not cancelled when their client goes away, they run on and meet the closed
connection, which is what logged ``request_crashed`` with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from receiver.app import init_app
from receiver.console.sessions import SESSION_COOKIE
from tests.support.api import Client, ClientFactory
from tests.support.console_forms import sign_in
from tests.support.polling import until
from tests.support.served import ServedAsInProduction
from tests.support.settings import REGISTRY_TOKEN, make_config

#: A bound on how long the server takes to notice that a client went away (a live stream looks
#: at its connection every ``receiver.console.live.POLL_SECONDS``); generous, for a loaded
#: machine: the wait ends as soon as the line is logged.
NOTICED_WITHIN = 20.0
#: The debug lines that say a client went away: a stream's, and any other request's.
STREAM_WENT_AWAY = ("console_stream_ended", "client_went_away")
REQUEST_WENT_AWAY = ("client_went_away", None)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, db_uri: str) -> Client:
    """The app as ``regdeploy serve`` serves it, and a client signed in to its console."""
    served = await aiohttp_client(ServedAsInProduction(init_app(make_config(db_uri))))
    await sign_in(served)
    return served


async def connect(client: Client, head: list[bytes]) -> tuple[Any, asyncio.StreamWriter]:
    """A connection of its own to the app, on which the request ``head`` was sent with the
    client's session cookie."""
    port = client.server.port
    assert port is not None
    (cookie,) = [c.value for c in client.session.cookie_jar if c.key == SESSION_COOKIE]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [*head, b"Host: 127.0.0.1", f"Cookie: {SESSION_COOKIE}={cookie}".encode()]
    writer.write(b"\r\n".join([*lines, b"", b""]))
    await writer.drain()
    return reader, writer


def hang_up(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close the connection as a browser does when its tab goes (``reset``: as abruptly as a
    process that dies, a reset instead of a FIN)."""
    if reset:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextlib.contextmanager
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[list[Any]]:
    """The structlog lines logged inside; none of them, and no stdlib record (aiohttp's and
    asyncio's own), at ERROR or above."""
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        yield logs
    assert [e for e in logs if e["log_level"] in {"error", "critical", "exception"}] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def noticed(logs: list[Any], *lines: tuple[str, str | None]) -> None:
    """The server logs one of ``lines`` (event, reason), once, at debug: it noticed that its
    client went away."""

    def found() -> list[Any]:
        return [e for e in logs if (e["event"], e.get("reason")) in lines]

    await until(
        "the server notices that its client went away",
        found,
        seconds=NOTICED_WITHIN,
        explain=lambda: f"logged: {[(e['event'], e['log_level']) for e in logs]}",
    )
    assert [e["log_level"] for e in found()] == ["debug"]


async def still_serves(client: Client) -> None:
    assert (await client.get("/ping")).status == 200
    stream = await client.get("/live/overview")
    assert stream.status == 200
    assert (await stream.content.readuntil(b"\n\n")).startswith(b"event: overview")
    stream.close()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_browser_that_leaves_a_streaming_page_is_no_error(
    client: Client, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    with no_errors_logged(caplog) as logs:
        reader, writer = await connect(client, [b"GET /live/overview HTTP/1.1"])
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        await reader.readuntil(b"event: overview")  # the stream sent its first part
        hang_up(writer, reset=reset)
        await noticed(logs, STREAM_WENT_AWAY)
        await still_serves(client)


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_browser_that_leaves_before_its_stream_began_is_no_error(
    client: Client, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    """Gone as soon as it asked: the answer's head meets a closed connection, or the stream
    began before the server saw it close and ends at its next look."""
    with no_errors_logged(caplog) as logs:
        _, writer = await connect(client, [b"GET /live/overview HTTP/1.1"])
        hang_up(writer, reset=reset)
        await noticed(logs, REQUEST_WENT_AWAY, STREAM_WENT_AWAY)
        await still_serves(client)


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_sender_that_hangs_up_in_the_middle_of_its_upload_is_no_error(
    client: Client, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    with no_errors_logged(caplog) as logs:
        _, writer = await connect(
            client,
            [
                b"POST /webhooks/registry HTTP/1.1",
                f"Authorization: Bearer {REGISTRY_TOKEN}".encode(),
                b"Content-Length: 100000",
            ],
        )
        writer.write(b'{"events": [' + b" " * 1000)
        await writer.drain()
        hang_up(writer, reset=reset)
        await noticed(logs, REQUEST_WENT_AWAY)
        await still_serves(client)
