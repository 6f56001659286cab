"""``POST /webhooks/{source}``: authenticate, read, parse and store one registry notification.

Order matters: the source and its secret are checked before a byte of the body is read; the
body is read with a cap; nothing is answered 2xx before the transaction that stores it commits.
A refusal (404, 401, 429, 413) closes the connection once it is answered, reading no more of
the body (``receiver.http.errors``).
An authenticated body that cannot be used is stored as rejected and answered 2xx, because a
registry retries a non-2xx answer forever and every later notification waits behind it. What is
kept of it is bounded whatever it holds (``limits:``): a body of more records than a notification
may hold is rejected whole before any record is read; a rejection keeps the first problems and
how many more, a reason of at most ``reason_bytes``, a prefix of the body, its size and SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from handlers.events import Budget, Parsed
from handlers.formats import parser_for
from handlers.harbor import scan_notices
from receiver.bounds import capped, summary
from receiver.config.limits import Limits
from receiver.config.server import Source
from receiver.errors import (
    BodyTooLarge,
    DatabaseUnavailable,
    NotAuthenticated,
    PayloadError,
    StoreError,
    TooManyRequests,
    UnknownSource,
)
from receiver.http.auth import bearer_token, client_address
from receiver.reloading import services_of
from receiver.store.records import IngestResult, Rejection
from receiver.views.answers import WebhookSummaryJson

if TYPE_CHECKING:
    from receiver.runtime import Services

log = structlog.get_logger("regdeploy.webhooks")

# Harbor's notices that a scan ended (default and CloudEvents formats): read only then.
_SCANNED = re.compile(rb"SCANNING_(?:COMPLETED|FAILED|STOPPED)|harbor\.scan\.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    rejected: int = 0

    def as_json(self) -> WebhookSummaryJson:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "ignored": self.ignored,
            "rejected": self.rejected,
        }


def authorized(source: Source, header: str | None) -> bool:
    """The header carries the source's token, as ``Bearer TOKEN`` or verbatim (Harbor).

    Both forms are compared in constant time, and always both, so the answer takes the same
    time whichever form is used or wherever the header differs.
    """
    offered = header or ""
    as_bearer = source.token.matches(bearer_token(offered) or "")
    verbatim = source.token.matches(offered)
    return bool(header) and (as_bearer | verbatim)


async def read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body, stopping as soon as it passes ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.Response:
    started = time.monotonic()
    name = request.match_info["source"]
    services = services_of(request.app)
    throttle, address = services.throttle, client_address(request)
    bound = log.bind(source=name)
    if wait := throttle.auth_wait(address):
        bound.warning("webhook_received", status=429, reason="failed_auth_rate")
        raise TooManyRequests("too many failed authentications, retry later", retry_after=wait)
    source = services.config.source(name)
    if source is None:
        throttle.auth_failed(address)
        bound.info("webhook_received", status=404, reason="unknown_source")
        raise UnknownSource(f"unknown source {name!r}")
    if not authorized(source, request.headers.get("Authorization")):
        throttle.auth_failed(address)
        bound.warning("webhook_received", status=401, reason="bad_token")
        raise NotAuthenticated("missing or wrong token")
    if wait := throttle.source_wait(name, request.content_length):
        bound.warning("webhook_received", status=429, reason="source_rate")
        raise TooManyRequests(f"source {name} posts faster than allowed", retry_after=wait)
    limit = services.config.server.max_body_bytes
    try:
        body = await read_capped(request, limit)
    except BodyTooLarge:
        bound.warning("webhook_received", status=413, reason="body_too_large", limit=limit)
        raise
    if request.content_length is None:
        throttle.source_read(name, len(body))
    try:
        summary = await _ingest(request, source, body)
    except DatabaseUnavailable:
        bound.error("webhook_received", status=503, reason="database_unavailable", bytes=len(body))
        raise
    services.metrics.received(name, asdict(summary))
    bound.info(
        "webhook_received",
        status=202,
        bytes=len(body),
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        **summary.as_json(),
    )
    return web.json_response(summary.as_json(), status=202)


async def _ingest(request: web.Request, source: Source, body: bytes) -> Summary:
    services = services_of(request.app)
    events_store = services.store.events
    limits = services.config.limits
    rejected = functools.partial(
        _rejection,
        source=source,
        content_type=_readable(request.headers.get("Content-Type")),
        body=body,
        limits=limits,
    )
    budget = Budget(records=limits.records_per_notification, field_bytes=limits.field_bytes)
    try:
        parsed = parser_for(source.format)(
            body, request.headers, source=source.name, registry=source.registry, budget=budget
        )
    except PayloadError as exc:
        await events_store.record_rejection(rejected(str(exc)))
        return Summary(rejected=1)
    aliases = services.config.aliases
    events = [replace(e, registry=aliases.canonical(e.registry)) for e in parsed.events]
    rejection = rejected(summary(parsed.problems)) if parsed.problems else None
    try:
        result = await events_store.record_notification(
            events=events, rejection=rejection, recorded_by=services.worker_id
        )
    except DatabaseUnavailable:
        raise
    except StoreError as exc:
        # The database refused these events (not an outage): keep the body for inspection
        # rather than make the registry retry a notification that will never store.
        await events_store.record_rejection(rejected(f"not storable: {exc}"))
        return Summary(ignored=parsed.ignored, rejected=1)
    if source.format == "harbor" and parsed.ignored and _SCANNED.search(body):
        await _wake_scanned(services, body, request.headers)
    return _summary(parsed, result)


async def _wake_scanned(services: Services, body: bytes, headers: Mapping[str, str]) -> None:
    """Harbor says a scan ended: the deploys of that digest held for it are judged now (its
    results are read from Harbor's API then; the notice may come without them)."""
    for notice in scan_notices(body, headers):
        woken = await services.store.deployments.wake_held(notice.digest, now=services.clock.now())
        log.info("scan_ended", repository=notice.repository, digest=notice.digest,
                 status=notice.status, woken=woken)  # fmt: skip


def _summary(parsed: Parsed, result: IngestResult) -> Summary:
    return Summary(
        accepted=result.accepted,
        duplicate=result.duplicate,
        ignored=parsed.ignored,
        rejected=1 if parsed.problems else 0,
    )


def _readable(header: str | None) -> str | None:
    """A header value as text that can be stored: aiohttp keeps the bytes of a value that are
    not UTF-8 as surrogate escapes, which are replaced (U+FFFD) here."""
    if header is None:
        return None
    return header.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _rejection(
    reason: str, *, source: Source, content_type: str | None, body: bytes, limits: Limits
) -> Rejection:
    """What is kept of an unusable ``body``: its reason and a prefix, both capped."""
    return Rejection(
        source=source.name,
        reason=capped(reason, limits.reason_bytes),
        content_type=capped(content_type, limits.field_bytes) if content_type else None,
        prefix=body[: limits.rejected_body_bytes],
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
    )


def routes() -> list[web.RouteDef]:
    return [web.post("/webhooks/{source}", receive)]
