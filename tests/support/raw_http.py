"""HTTP/1.1 requests written byte for byte, for tests that must send what no client library
would: any bytes in the request line and the headers, a ``Content-Length`` that lies, a
malformed chunked body.

Each request opens its own connection, asks the server to close it, sends the request and its
body, and reads the status line of the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

ANSWER_SECONDS = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RawRequest:
    method: bytes
    target: bytes
    headers: Sequence[tuple[bytes, bytes]] = ()
    body: bytes = b""
    # None: the true length of ``body``; b"": no Content-Length at all (with ``chunked``, or a
    # request without a body); anything else is sent as it is.
    content_length: bytes | None = None
    chunked: bool = False

    def encode(self) -> bytes:
        lines = [self.method + b" " + self.target + b" HTTP/1.1", b"Host: 127.0.0.1"]
        lines += [name + b": " + value for name, value in self.headers]
        lines.append(b"Connection: close")
        body = self.body
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        length = self.content_length
        if length is None and not self.chunked:
            length = str(len(body)).encode()
        if length:
            lines.append(b"Content-Length: " + length)
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send(port: int, request: RawRequest) -> int | None:
    """Send ``request`` to 127.0.0.1:``port``; the answer's status, or None when the server
    closed the connection without one. A server still waiting for more body after a second
    (the ``Content-Length`` lied) sees the connection half-closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            writer.write(request.encode())
            await writer.drain()
            line = await _status_line(reader, writer)
        except ConnectionError:
            return None
        if not line:
            return None
        version, _, rest = line.partition(b" ")
        assert version.startswith(b"HTTP/1."), line
        return int(rest[:3])
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _status_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    try:
        return await asyncio.wait_for(reader.readline(), 1.0)
    except TimeoutError:
        writer.write_eof()
    return await asyncio.wait_for(reader.readline(), ANSWER_SECONDS)
