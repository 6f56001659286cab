"""Sends the notices in the outbox: grouped per notifier and push, retried with backoff.

A notice waits ``group_seconds`` after it was written so that the other outcomes of the same
push can join its message. Sending holds the notices' rows (``SKIP LOCKED``), so two processes
never send the same notice; a send that fails is retried after the service's ``Retry-After`` or
a capped exponential backoff, and recorded as failed, with the error, once the retry budget is
spent or the service refused the message itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from notifiers.base import Notifier
from receiver.background.loop import PolledLoop, backoff
from receiver.bounds import capped
from receiver.clock import Clock
from receiver.config.notifiers import OutboxConfig
from receiver.errors import NoticeFailed
from receiver.store import Listener
from receiver.store.notices import ClaimedNotice, NoticeBatch, NoticeQueries

log = structlog.get_logger("regdeploy.outbox")


class Outbox(PolledLoop):
    name = "outbox"

    def __init__(
        self,
        *,
        notices: NoticeQueries,
        notifiers: Mapping[str, Notifier],
        config: OutboxConfig,
        listen: Callable[[], Listener] | None,
        clock: Clock,
        reason_bytes: int,
    ) -> None:
        """``reason_bytes``: how much of why a send failed is kept."""
        super().__init__(poll_seconds=config.poll_seconds, listen=listen, clock=clock)
        self._notices = notices
        self._notifiers = notifiers
        self._config = config
        self._reason_bytes = reason_bytes

    async def round(self) -> None:
        await self.send_due()

    async def next_due(self) -> datetime | None:
        """When the next notice's group window or retry delay ends."""
        return await self._notices.next_notice_due(group_seconds=self._config.group_seconds)

    async def send_due(self) -> int:
        """Send every due group once; the number of notices delivered."""
        delivered = 0
        claiming = self._notices.claim_notices(
            group_seconds=self._config.group_seconds, now=self._clock.now()
        )
        async with claiming as batch:
            groups: dict[tuple[str, str], list[ClaimedNotice]] = defaultdict(list)
            for claimed in batch.notices:
                groups[(claimed.notifier, claimed.group_key)].append(claimed)
            for (name, _), notices in groups.items():
                delivered += await self._send(batch, name, notices)
        return delivered

    async def _send(self, batch: NoticeBatch, name: str, notices: list[ClaimedNotice]) -> int:
        ids = [n.id for n in notices]
        notifier = self._notifiers.get(name)
        if notifier is None:
            await batch.failed(ids, error=f"no notifier named {name!r} is configured")
            return 0
        attempts = max(n.attempts for n in notices) + 1
        try:
            await notifier.send([n.notice for n in notices])
        except NoticeFailed as failure:
            error = capped(str(failure), self._reason_bytes)
            if failure.permanent or attempts >= self._config.max_attempts:
                log.error("notice_failed", notifier=name, notices=ids, error=error)
                await batch.failed(ids, error=error)
            else:
                delay = failure.retry_after
                if delay is None:
                    delay = backoff(
                        attempts,
                        base=self._config.retry_base_seconds,
                        cap=self._config.retry_max_seconds,
                    )
                log.warning("notice_retry", notifier=name, notices=ids, error=error, retry_in=delay)
                await batch.retry(ids, error=error, seconds=delay)
            return 0
        await batch.sent(ids)
        log.info("notice_sent", notifier=name, notices=ids)
        return len(ids)
