"""HTTP/1.1 requests written byte for byte, for tests that must send what no client library
would: any bytes in the request line and the headers, a ``Content-Length`` that lies, a
malformed chunked body.

Each request opens its own connection, asks the server to close it, sends the request and its
body, and reads the status line of the answer. ``flood`` is a client that never stops
uploading: it says when the server answered and when it closed the connection (what the server
read of it is counted on the server's side: ``tests.support.served``).
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

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


#: What ``flood`` writes at a time: 64 KiB of body (a chunk, when the body is chunked).
FLOOD_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Flood:
    """What a client that never stopped uploading saw.

    ``port`` is the client's own (the server knows the connection by it); ``written`` counts the
    body bytes its socket took before the connection closed (an upper bound on what the server
    read: some of it never left the kernel's buffers). The times are seconds since the request's
    head was sent; None when it did not happen within the ``flood``'s ``seconds``."""

    port: int
    status: int | None
    written: int
    answered_after: float | None
    closed_after: float | None


def flood(port: int, head: bytes, *, chunked: bool, seconds: float = 5.0) -> Flood:
    """Send ``head`` (a request's line and headers, with the blank line) to 127.0.0.1:``port``,
    then body bytes as fast as the connection takes them, reading whatever comes back, until
    the server closes the connection (EOF or a reset) or ``seconds`` pass. Blocking: run it in
    a thread beside a server served by the test's own event loop."""
    payload = b"x" * FLOOD_CHUNK
    chunk = b"%x\r\n" % len(payload) + payload + b"\r\n" if chunked else payload
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect(("127.0.0.1", port))
        own_port = sock.getsockname()[1]
        sock.sendall(head)
        sock.setblocking(False)
        seen = _Upload(started=time.monotonic())
        seen.run(sock, chunk, until=seen.started + seconds)
        if seen.closed is not None:  # the answer may have come just before the reset
            seen.read_rest(sock)
        return Flood(
            port=own_port,
            status=_status(bytes(seen.answer)),
            written=seen.written,
            answered_after=seen.since_start(seen.answered),
            closed_after=seen.since_start(seen.closed),
        )


@dataclass(slots=True, kw_only=True)
class _Upload:
    """A ``flood`` under way: what it wrote, what came back, and when."""

    started: float
    written: int = 0
    answer: bytearray = field(default_factory=bytearray)
    answered: float | None = None
    closed: float | None = None

    def run(self, sock: socket.socket, chunk: bytes, *, until: float) -> None:
        """Write ``chunk`` after ``chunk`` and read what comes back until the connection
        closes or the time ``until`` comes."""
        pending = memoryview(chunk)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while self.closed is None and (now := time.monotonic()) < until:
                for _, events in selector.select(until - now):
                    try:
                        if events & selectors.EVENT_READ:
                            self._take(sock.recv(64 * 1024))
                        if self.closed is None and events & selectors.EVENT_WRITE:
                            sent = sock.send(pending)
                            self.written += sent
                            pending = pending[sent:] or memoryview(chunk)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:  # a reset, a broken pipe: the server closed
                        self.closed = time.monotonic()

    def read_rest(self, sock: socket.socket) -> None:
        """Read what the kernel still holds of the answer (data that came before a reset)."""
        with contextlib.suppress(OSError):
            while data := sock.recv(64 * 1024):
                self._take(data)

    def since_start(self, moment: float | None) -> float | None:
        return None if moment is None else moment - self.started

    def _take(self, data: bytes) -> None:
        now = time.monotonic()
        if not data:  # EOF: the server closed
            if self.closed is None:
                self.closed = now
            return
        self.answer += data
        if self.answered is None and b"\r\n" in self.answer:
            self.answered = now


def _status(answer: bytes) -> int | None:
    line, found, _ = answer.partition(b"\r\n")
    if not found:
        return None
    version, _, rest = line.partition(b" ")
    assert version.startswith(b"HTTP/1."), line
    return int(rest[:3])
