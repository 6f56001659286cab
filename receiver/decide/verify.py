"""``rollout.verify``: a URL probed during a wave's soak, whose wrong answer fails the wave."""

from __future__ import annotations

import aiohttp

from receiver.decide.rules.rollout import HttpCheck, clock_span


class Verifier:
    """Probes ``verify.http`` URLs on one HTTP session of its own (opened at the first probe)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def probe(self, check: HttpCheck) -> str | None:
        """What is wrong with ``check``'s answer, in words; None when it answered as expected."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=check.timeout.total_seconds())
        try:
            async with self._session.get(
                check.url, timeout=timeout, allow_redirects=False
            ) as answer:
                if answer.status != check.status:
                    return f"{check.url} answered {answer.status}, expected {check.status}"
                return None
        except TimeoutError:
            return f"{check.url} did not answer within {clock_span(check.timeout)}"
        except aiohttp.ClientError as exc:
            return f"{check.url}: {type(exc).__name__}: {exc}"
