"""The app served as ``regdeploy serve`` serves it, on a listening socket that counts what the
server reads from each connection.

pytest-aiohttp's ``TestServer`` differs from ``web.run_app`` in one way that matters to a client
that goes away: it cancels the handler of a request whose connection closes
(``handler_cancellation=True``), where ``regdeploy serve`` lets the handler run on until it
reads or writes, and meets the closed connection. ``ServedAsInProduction`` serves as
``web.run_app`` does.

``CountingListener`` is a ``socket_factory`` for either server: the bytes the server receives
from each connection (every ``recv`` asyncio makes) are counted, by the client's port, so that a
test measures what the server read rather than what the client wrote.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer, get_port_socket


class ServedAsInProduction(TestServer):
    """A ``TestServer`` whose handlers run on when their client goes away, as under
    ``web.run_app`` (``receiver.cli.running``)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        kwargs["handler_cancellation"] = False  # TestServer asks for True; run_app's default
        return web.AppRunner(self.app, **kwargs)


class CountingListener:
    """A ``socket_factory``: the listening socket it makes counts what is read from each
    connection it accepts; ``read_from(port)`` says how much came from the client's ``port``."""

    def __init__(self) -> None:
        self._connections: dict[int, _CountedConnection] = {}

    def __call__(self, host: str, port: int, family: socket.AddressFamily) -> socket.socket:
        made = get_port_socket(host, port, family)
        listener = _Listener(made.family, made.type, made.proto, fileno=made.detach())
        listener.accepted = self._connections
        return listener

    def read_from(self, port: int) -> int:
        """The bytes the server read from the connection of the client's ``port``."""
        return self._connections[port].read


class _CountedConnection(socket.socket):
    """An accepted connection that counts the bytes received on it."""

    read = 0

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        data = super().recv(bufsize, flags)
        self.read += len(data)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0, /) -> int:
        received = super().recv_into(buffer, nbytes, flags)
        self.read += received
        return received


class _Listener(socket.socket):
    """A listening socket whose connections are ``_CountedConnection`` (asyncio accepts with
    ``accept()`` and reads with ``recv``, or ``recv_into``, on what it returns)."""

    accepted: dict[int, _CountedConnection]

    def accept(self) -> tuple[socket.socket, Any]:
        # socket.socket.accept, with the connection's class of our own.
        fd, address = self._accept()  # type: ignore[attr-defined]
        connection = _CountedConnection(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            connection.setblocking(True)
        self.accepted[address[1]] = connection
        return connection, address
