"""``POST /webhooks/{source}``: authenticate, read, parse and store one registry notification.

Order matters: the source and its secret are checked before a byte of the body is read; the
body is read with a cap; nothing is answered 2xx before the transaction that stores it commits.
An authenticated body that cannot be used is stored as rejected and answered 2xx, because a
registry retries a non-2xx answer forever and every later notification waits behind it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import structlog
from aiohttp import web

from handlers.errors import DatabaseUnavailable, PayloadError, StoreError
from handlers.events import Parsed
from handlers.formats import parser_for
from receiver.config import Source
from receiver.records import IngestResult, Rejection
from receiver.state import CONFIG, STORE

log = structlog.get_logger("regdeploy.webhooks")

RETRY_AFTER_SECONDS = "5"


class BodyTooLarge(Exception):
    """The body is over the configured cap (internal to this module)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    rejected: int = 0

    def as_json(self) -> dict[str, int]:
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
    bearer = offered[7:] if offered[:7].lower() == "bearer " else ""
    as_bearer = source.token.matches(bearer)
    verbatim = source.token.matches(offered)
    return bool(header) and (as_bearer | verbatim)


async def read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body, stopping as soon as it passes ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.Response:
    started = time.monotonic()
    name = request.match_info["source"]
    source = request.app[CONFIG].source(name)
    bound = log.bind(source=name)
    if source is None:
        bound.info("webhook_received", status=404, reason="unknown_source")
        return _answer(404, {"message": f"unknown source {name!r}"})
    if not authorized(source, request.headers.get("Authorization")):
        bound.warning("webhook_received", status=401, reason="bad_token")
        answer = _answer(401, {"message": "missing or wrong token"})
        answer.headers["WWW-Authenticate"] = 'Bearer realm="regdeploy"'
        return _closing(answer)
    limit = request.app[CONFIG].server.max_body_bytes
    try:
        body = await read_capped(request, limit)
    except BodyTooLarge:
        bound.warning("webhook_received", status=413, reason="body_too_large", limit=limit)
        return _closing(_answer(413, {"message": f"body larger than {limit} bytes"}))
    try:
        summary = await _ingest(request, source, body)
    except DatabaseUnavailable:
        bound.error("webhook_received", status=503, reason="database_unavailable", bytes=len(body))
        answer = _answer(503, {"message": "database unavailable, retry later"})
        answer.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return answer
    bound.info(
        "webhook_received",
        status=202,
        bytes=len(body),
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        **summary.as_json(),
    )
    return _answer(202, summary.as_json())


async def _ingest(request: web.Request, source: Source, body: bytes) -> Summary:
    store = request.app[STORE]
    content_type = request.headers.get("Content-Type")
    try:
        parsed = parser_for(source.format)(
            body, request.headers, source=source.name, registry=source.registry
        )
    except PayloadError as exc:
        await store.record_rejection(_rejection(source, str(exc), content_type, body))
        return Summary(rejected=1)
    aliases = request.app[CONFIG].aliases
    events = [replace(e, registry=aliases.canonical(e.registry)) for e in parsed.events]
    rejection = (
        _rejection(source, "; ".join(parsed.problems), content_type, body)
        if parsed.problems
        else None
    )
    try:
        result = await store.record_notification(events=events, rejection=rejection)
    except DatabaseUnavailable:
        raise
    except StoreError as exc:
        # The database refused these events (not an outage): keep the body for inspection
        # rather than make the registry retry a notification that will never store.
        await store.record_rejection(_rejection(source, f"not storable: {exc}", content_type, body))
        return Summary(ignored=parsed.ignored, rejected=1)
    return _summary(parsed, result)


def _summary(parsed: Parsed, result: IngestResult) -> Summary:
    return Summary(
        accepted=result.accepted,
        duplicate=result.duplicate,
        ignored=parsed.ignored,
        rejected=1 if parsed.problems else 0,
    )


def _rejection(source: Source, reason: str, content_type: str | None, body: bytes) -> Rejection:
    return Rejection(source=source.name, reason=reason, content_type=content_type, body=body)


def _answer(status: int, payload: Mapping[str, object]) -> web.Response:
    return web.json_response(payload, status=status)


def _closing(response: web.Response) -> web.Response:
    # The body was not read: close the connection instead of draining whatever follows.
    response.force_close()
    return response
