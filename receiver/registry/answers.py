"""Reading what a registry's API or Harbor's answers: the body, no further than a cap; the JSON
object in it, never echoed (it may hold a token); why a connection failed, in words."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import aiohttp

from receiver.errors import RegistryError


def unreachable_words(exc: BaseException) -> str:
    """Why a connection failed, in words: aiohttp's own text for a refused connection names
    its TLS context object (``ssl:<ssl.SSLContext object at 0x…>``)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        # asyncio words a refused connection "Connect call failed (address)": the errno says it.
        words = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
        return f"cannot connect to {exc.host}:{exc.port}: {words or error}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


async def read_capped(resp: aiohttp.ClientResponse, *, limit: int, what: str) -> bytes:
    """The answer's body, read no further than ``limit`` bytes."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise RegistryError(f"{what}: answer larger than {limit} bytes")
    return bytes(body)


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """The JSON object in ``body``; the error never echoes the body (it may hold a token)."""
    data = None
    with contextlib.suppress(ValueError, RecursionError):  # also UnicodeDecodeError
        data = json.loads(body)
    if not isinstance(data, dict):
        raise RegistryError(f"{what}: answer is not a JSON object")
    return data
