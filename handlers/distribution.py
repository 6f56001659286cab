"""Docker Distribution (the reference registry) notifications.

The registry POSTs an envelope ``{"events": [...]}``: Distribution 2.x with Content-Type
``application/vnd.docker.distribution.events.v1+json``, possibly batching several events; newer
releases with ``...events.v2+json`` and one event per request, which may also come as a bare event
object ``{"id": ..., "action": ..., "target": ...}``. Both shapes are accepted whatever the
Content-Type says (see :mod:`handlers.payload`).

Deploy-relevant: a ``push`` of a tagged manifest (the tag is taken from ``target.url`` when an
older registry leaves out ``target.tag``) and every ``delete`` (by digest: digest and no tag; of a
tag: tag and no digest). Pulls, mounts, blob pushes and blob deletes, untagged manifest pushes (the
children of a multi-arch index) and unknown actions are counted as ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from handlers.events import DEFAULT_BUDGET, MANIFEST_MEDIA_TYPES, Action, Budget, Event, Parsed
from handlers.payload import (
    Problem,
    RecordOutcome,
    child,
    collect,
    load_object,
    parse_rfc3339,
    text,
    url_host,
)
from handlers.references import is_tag
from receiver.errors import PayloadError

ENVELOPE_V1 = "application/vnd.docker.distribution.events.v1+json"
ENVELOPE_V2 = "application/vnd.docker.distribution.events.v2+json"

# Substrings of media types that name a blob (layer or config), never a manifest.
_BLOB_MARKERS = ("octet-stream", "rootfs", "layer", "config", "container.image.v1+json", "tar")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Record:
    """The fields of one notification event that matter here, read out of the raw JSON."""

    action: str | None
    event_id: str | None
    timestamp: str | None
    request_host: str | None
    actor: str | None
    has_target: bool
    repository: str | None
    tag: str | None
    digest: str | None
    media_type: str | None
    url: str | None


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    source: str,
    registry: str | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> Parsed:
    """Turn one Distribution notification body into events; see the module docstring."""
    records = _records(load_object(body))
    budget.check_count(len(records))
    return collect(
        (
            _outcome(record, where=f"events[{index}]", source=source, registry=registry)
            for index, record in enumerate(records)
        ),
        budget,
    )


def _records(document: Mapping[str, object]) -> Sequence[object]:
    if "events" in document:
        events = document["events"]
        if not isinstance(events, list):
            raise PayloadError("'events' is not a list")
        return events
    if any(key in document for key in ("id", "action", "target")):
        return [document]  # a single event, as newer releases send
    raise PayloadError("body has neither 'events' nor a single event")


def _read(raw: Mapping[str, object]) -> _Record:
    target = child(raw, "target")
    fields = target or {}
    media_type = text(fields, "mediaType")
    return _Record(
        action=text(raw, "action"),
        event_id=text(raw, "id"),
        timestamp=text(raw, "timestamp"),
        request_host=text(child(raw, "request") or {}, "host"),
        actor=text(child(raw, "actor") or {}, "name"),
        has_target=target is not None,
        repository=text(fields, "repository"),
        tag=text(fields, "tag"),
        digest=text(fields, "digest"),
        media_type=media_type.partition(";")[0].strip().lower() if media_type else None,
        url=text(fields, "url"),
    )


def _outcome(raw: object, *, where: str, source: str, registry: str | None) -> RecordOutcome:
    if not isinstance(raw, dict):
        return Problem(f"{where}: not a JSON object")
    record = _read(raw)
    if record.action not in ("push", "delete"):
        return None  # pull, mount and anything unknown
    if not record.has_target:
        return Problem(f"{where}: {record.action} without target")
    if _is_blob(record):
        return None
    if record.action == "delete":
        return _event(Action.DELETE, record, record.tag, where, source, registry)
    tag = record.tag or _tag_from_url(record.url)
    if tag is None:
        return None  # an untagged manifest: a child of a multi-arch index
    return _event(Action.PUSH, record, tag, where, source, registry)


def _event(
    action: Action,
    record: _Record,
    tag: str | None,
    where: str,
    source: str,
    registry: str | None,
) -> Event | Problem:
    host = registry or record.request_host or url_host(record.url)
    occurred_at = parse_rfc3339(record.timestamp)
    required = {
        "id": record.event_id,
        "target.repository": record.repository,
        "a registry host": host,
        "a valid timestamp": occurred_at,
    }
    if action is Action.PUSH:
        required["target.digest"] = record.digest
    else:
        required["target.tag or target.digest"] = tag or record.digest
    missing = [name for name, value in required.items() if value is None]
    if missing or not (record.event_id and record.repository and host and occurred_at):
        return Problem(f"{where}: {action} without {', '.join(missing)}")
    return Event(
        source=source,
        event_id=record.event_id,
        action=action,
        registry=host.lower(),
        repository=record.repository,
        tag=tag,
        digest=record.digest,
        media_type=record.media_type,
        actor=record.actor,
        occurred_at=occurred_at,
    )


def _is_blob(record: _Record) -> bool:
    """A layer or config by its media type; when the type is unknown, by its URL."""
    media_type = record.media_type
    if media_type in MANIFEST_MEDIA_TYPES:
        return False
    if media_type and any(marker in media_type for marker in _BLOB_MARKERS):
        return True
    return "/blobs/" in _url_path(record.url)


def _tag_from_url(url: str | None) -> str | None:
    """``latest`` from ``.../v2/<name>/manifests/latest``; None for a digest."""
    _, marker, reference = _url_path(url).rpartition("/manifests/")
    # A digest (``sha256:...``) is never a tag.
    return reference if marker and is_tag(reference) else None


def _url_path(url: str | None) -> str:
    try:
        return unquote(urlsplit(url or "").path)
    except ValueError:
        return ""
