"""A small HTTP/1.1 client on asyncio streams: keep-alive connections that post bodies.

The load generator must cost the machine little, so that the service it measures has the CPU:
this speaks just enough HTTP for the answers aiohttp gives (a status line, headers with a
``Content-Length``, a body), and reuses each connection for request after request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class WireError(Exception):
    """The connection failed or the answer was not HTTP this client understands."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"expected http://HOST:PORT/PATH, got {url!r}")
        return cls(host=parts.hostname, port=parts.port, path=parts.path or "/")

    def head(self, headers: Mapping[str, str], length: int) -> bytes:
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Content-Length: {length}", "", ""]
        return "\r\n".join(lines).encode("latin-1")


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reusable = True

    @classmethod
    async def open(cls, endpoint: Endpoint) -> Connection:
        try:
            reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        except OSError as exc:
            raise WireError(f"connect: {exc}") from exc
        return cls(reader, writer)

    async def post(self, head: bytes, body: bytes) -> Answer:
        try:
            self._writer.write(head + body)
            raw = await self._reader.readuntil(b"\r\n\r\n")
            status, length, close = _parse_head(raw)
            content = await self._reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        if close:
            self.close()
        return Answer(status=status, body=content)

    def close(self) -> None:
        self.reusable = False
        self._writer.close()


def _parse_head(raw: bytes) -> tuple[int, int, bool]:
    """The status, the content length and whether the server closes the connection."""
    lines = raw.split(b"\r\n")
    try:
        status = int(lines[0].split(b" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise WireError(f"not an HTTP status line: {lines[0]!r}") from exc
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            raise WireError("chunked answers are not supported")
    return status, length, close


class Pool:
    """Keep-alive connections to one endpoint; a new one is opened whenever none is idle, up to
    ``limit`` (then a request waits for one, and its wait counts in its latency)."""

    def __init__(self, endpoint: Endpoint, *, limit: int) -> None:
        self.endpoint = endpoint
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self.opened = 0

    async def post(self, head: bytes, body: bytes) -> Answer:
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._open()
            answer = await connection.post(head, body)
            if connection.reusable:
                self._idle.append(connection)
            return answer

    async def _open(self) -> Connection:
        self.opened += 1
        return await Connection.open(self.endpoint)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
