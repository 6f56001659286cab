"""Bounded polls for async tests: wait for something to be seen, never for time to pass."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    *,
    seconds: float,
    interval: float = 0.1,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> T:
    """Poll ``check`` until it gives something truthy; fail the test after ``seconds``, saying
    what was awaited (and, with ``explain``, what was seen instead)."""
    deadline = time.monotonic() + seconds
    while not (result := await check()):
        if time.monotonic() > deadline:
            seen = f"; {await explain()}" if explain is not None else ""
            pytest.fail(f"not within {seconds} s: {what}{seen}")
        await asyncio.sleep(interval)
    return result
