"""Sends the notices in the outbox: grouped per notifier and push, retried with backoff.

A notice waits ``group_seconds`` after it was written so that the other outcomes of the same
push can join its message. Sending holds the notices' rows (``SKIP LOCKED``), so two processes
never send the same notice; a send that fails is retried after the service's ``Retry-After`` or
a capped exponential backoff, and recorded as failed, with the error, once the retry budget is
spent or the service refused the message itself.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime

import structlog

from handlers.errors import StoreError
from notifiers.base import NoticeFailed, Notifier
from receiver.config_notifiers import OutboxConfig
from receiver.store import NoticeBatch, Store
from receiver.store.database import Listener
from receiver.store.notices import ClaimedNotice

log = structlog.get_logger("regdeploy.outbox")


class Outbox:
    def __init__(
        self, *, store: Store, notifiers: Mapping[str, Notifier], config: OutboxConfig
    ) -> None:
        self._store = store
        self._notifiers = notifiers
        self._config = config
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        listener = self._store.listener()
        try:
            while not self._stopping.is_set():
                try:
                    await self.send_due()
                except StoreError as exc:
                    log.warning("outbox_round_failed", error=str(exc))
                except Exception:  # a bug in one round must not stop every later notice
                    log.exception("outbox_round_crashed")
                await self._pause(listener)
        finally:
            await listener.close()

    async def send_due(self) -> int:
        """Send every due group once; the number of notices delivered."""
        delivered = 0
        async with self._store.claim_notices(group_seconds=self._config.group_seconds) as batch:
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
        except NoticeFailed as exc:
            if exc.permanent or attempts >= self._config.max_attempts:
                log.error("notice_failed", notifier=name, notices=ids, error=str(exc))
                await batch.failed(ids, error=str(exc))
            else:
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempts)
                log.warning(
                    "notice_retry", notifier=name, notices=ids, error=str(exc), retry_in=delay
                )
                await batch.retry(ids, error=str(exc), seconds=delay)
            return 0
        await batch.sent(ids)
        log.info("notice_sent", notifier=name, notices=ids)
        return len(ids)

    def _backoff(self, attempts: int) -> float:
        base, cap = self._config.retry_base_seconds, self._config.retry_max_seconds
        return float(min(base * 2 ** (attempts - 1), cap))

    async def _pause(self, listener: Listener) -> None:
        seconds = await self._idle_seconds()
        waits = [
            asyncio.create_task(listener.wait(seconds)),
            asyncio.create_task(self._stopping.wait()),
        ]
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _idle_seconds(self) -> float:
        """Until the next notice is due (its group window or its retry), or the next poll."""
        try:
            due = await self._store.next_notice_due(group_seconds=self._config.group_seconds)
        except StoreError:
            return self._config.poll_seconds
        if due is None:
            return self._config.poll_seconds
        until = (due - datetime.now(UTC)).total_seconds()
        return max(0.05, min(self._config.poll_seconds, until))
