"""Bounded polls: wait for something to be seen, never for time to pass.

``until`` is the poll of async code, ``until_sync`` its twin for code that blocks (a subprocess
starting, a blocking HTTP client). Each calls ``check`` until it gives something truthy and
returns that; after ``seconds`` it raises ``NotSeen``, saying what was awaited and, with
``explain``, what was seen instead: ``not within 30 s: the deploy ended; deployments: [...]``.
Exceptions of the types in ``ignoring`` count as "not yet" (a service that does not listen yet).

``NotSeen`` is an ``AssertionError``: it fails the test, and a caller with its own way out (a
fallback, a retry, a script's own error) catches it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

Explain = Callable[[], Awaitable[str] | str]


class NotSeen(AssertionError):
    """What a poll waited for was not seen within its bound."""


def _not_seen(what: str, seconds: float, seen: str | None) -> NotSeen:
    return NotSeen(f"not within {seconds:g} s: {what}" + (f"; {seen}" if seen else ""))


@overload
async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    *,
    seconds: float,
    interval: float = 0.1,
    explain: Explain | None = None,
    ignoring: tuple[type[Exception], ...] = (),
) -> T: ...


@overload
async def until(
    what: str,
    check: Callable[[], T | None],
    *,
    seconds: float,
    interval: float = 0.1,
    explain: Explain | None = None,
    ignoring: tuple[type[Exception], ...] = (),
) -> T: ...


async def until(
    what: str,
    check: Callable[[], Any],
    *,
    seconds: float,
    interval: float = 0.1,
    explain: Explain | None = None,
    ignoring: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll ``check`` until it gives something truthy; ``check`` is an async function, or a
    plain one where what it reads is in this process (a fake's state, a capture)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except ignoring:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise _not_seen(what, seconds, await _explained(explain))
        await asyncio.sleep(interval)


async def _explained(explain: Explain | None) -> str | None:
    if explain is None:
        return None
    seen = explain()
    return seen if isinstance(seen, str) else await seen


def until_sync(
    what: str,
    check: Callable[[], T | None],
    *,
    seconds: float,
    interval: float = 0.1,
    explain: Callable[[], str] | None = None,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """``until`` for code that blocks: the same poll, sleeping between the calls."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except ignoring:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise _not_seen(what, seconds, explain() if explain is not None else None)
        time.sleep(interval)
