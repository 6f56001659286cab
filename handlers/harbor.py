"""Harbor webhooks, in Harbor's default payload format and in its CloudEvents format.

Default format (``application/json``)::

    {"type": "PUSH_ARTIFACT", "occur_at": <epoch seconds>, "operator": "...",
     "event_data": {"resources": [{"digest", "tag", "resource_url"}, ...],
                    "repository": {"repo_full_name": "ns/name", ...}}}

Harbor 1.x/2.0 ``pushImage``/``deleteImage`` have the same shape. The format has no event id, so
the id is the SHA-256 of the raw body.

CloudEvents 1.0, structured mode (``application/cloudevents+json``, Harbor 2.8 and later, also
recognised by a ``specversion`` key): ``id``, ``time`` (RFC 3339), ``type``
(``harbor.artifact.pushed`` / ``harbor.artifact.deleted``), ``operator`` and ``data`` holding the
same ``resources`` and ``repository`` as ``event_data`` above.

Each resource of a push or delete is one record; with more than one resource its event id is
``f"{id}/{index}"``. A pushed resource without a real tag (Harbor puts the digest in ``tag`` for a
push by digest) is ignored; a delete keeps the tag when it is a real one and always the digest.
Counting: a notification of any other type (pulls, scans, quotas, replication, retention, ...)
counts as *one* ignored record, whatever it lists, as their shapes vary and are not read; an
untagged pushed resource counts as one ignored record each.

Scan notices (``scan_notices``, apart from ``parse``): a ``SCANNING_COMPLETED`` /
``SCANNING_FAILED`` / ``SCANNING_STOPPED`` notification (CloudEvents: ``harbor.scan.completed`` /
``.failed`` / ``.stopped``) says that the scan of each resource's digest ended. Its
``scan_overview`` is not read: Harbor may send the event without one (harbor#21005, #22212) or
with a summary still ``Running`` (harbor#14585), so a notice only says "ask Harbor again about
this digest". One of an SBOM scan (``scan.scan_type`` ``sbom``) is no notice.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from handlers.events import DEFAULT_BUDGET, Action, Budget, Event, Parsed, utf8_size
from handlers.payload import (
    Problem,
    RecordOutcome,
    child,
    collect,
    content_type,
    load_object,
    parse_rfc3339,
    text,
)
from handlers.references import is_digest, is_repository
from receiver.errors import PayloadError

CLOUDEVENTS = "application/cloudevents+json"


class ScanEnd(enum.StrEnum):
    """How a scan ended, as a scan notification says."""

    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanNotice:
    """Harbor's scan of ``digest`` in ``repository`` (its full name, ``project/name``) ended:
    ask Harbor again what it found. Never a verdict: the notification may hold no result."""

    repository: str
    digest: str
    status: ScanEnd


@dataclass(frozen=True, slots=True, kw_only=True)
class _Shape:
    """Where one of Harbor's two payload formats keeps things."""

    data_key: str
    time_key: str
    actions: Mapping[str, Action]
    scans: Mapping[str, ScanEnd]


_DEFAULT = _Shape(
    data_key="event_data",
    time_key="occur_at",
    actions={
        "PUSH_ARTIFACT": Action.PUSH,
        "pushImage": Action.PUSH,
        "DELETE_ARTIFACT": Action.DELETE,
        "deleteImage": Action.DELETE,
    },
    scans={
        "SCANNING_COMPLETED": ScanEnd.COMPLETED,
        "SCANNING_FAILED": ScanEnd.FAILED,
        "SCANNING_STOPPED": ScanEnd.STOPPED,
    },
)
_CLOUDEVENTS = _Shape(
    data_key="data",
    time_key="time",
    actions={"harbor.artifact.pushed": Action.PUSH, "harbor.artifact.deleted": Action.DELETE},
    scans={
        "harbor.scan.completed": ScanEnd.COMPLETED,
        "harbor.scan.failed": ScanEnd.FAILED,
        "harbor.scan.stopped": ScanEnd.STOPPED,
    },
)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resource:
    tag: str | None
    digest: str | None
    host: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Notification:
    """A push or delete notification, read out of the raw JSON."""

    type_name: str
    action: Action
    shape: _Shape
    event_id: str | None
    occurred_at: datetime | None
    actor: str | None
    repository: str | None
    resources: tuple[_Resource | None, ...]  # None: the entry is not a JSON object


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    source: str,
    registry: str | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> Parsed:
    """Turn one Harbor webhook body into events; see the module docstring."""
    document = load_object(body)
    is_cloudevent = content_type(headers) == CLOUDEVENTS or "specversion" in document
    shape = _CLOUDEVENTS if is_cloudevent else _DEFAULT
    type_name = text(document, "type")
    if type_name is None:
        raise PayloadError("body has no 'type'")
    action = shape.actions.get(type_name)
    if action is None:
        return Parsed(ignored=1)
    notification = _read(
        document, body, shape=shape, type_name=type_name, action=action, budget=budget
    )
    return collect(
        (
            _outcome(notification, index, resource, source=source, registry=registry)
            for index, resource in enumerate(notification.resources)
        ),
        budget,
    )


def scan_notices(
    body: bytes, headers: Mapping[str, str], *, budget: Budget = DEFAULT_BUDGET
) -> tuple[ScanNotice, ...]:
    """The digests whose scan a Harbor notification says ended, each once; ``()`` for any
    other notification and for anything malformed or over ``budget``. Never raises."""
    try:
        document = load_object(body)
    except PayloadError:
        return ()
    is_cloudevent = content_type(headers) == CLOUDEVENTS or "specversion" in document
    shape = _CLOUDEVENTS if is_cloudevent else _DEFAULT
    status = shape.scans.get(text(document, "type") or "")
    data = child(document, shape.data_key)
    if status is None or data is None or _scan_type(data) not in (None, "vulnerability"):
        return ()
    repository = _repository(child(data, "repository") or {})
    resources = data.get("resources")
    if repository is None or not is_repository(repository) or not isinstance(resources, list):
        return ()
    if len(resources) > budget.records or utf8_size(repository) > budget.field_bytes:
        return ()
    digests = (text(raw, "digest") if isinstance(raw, dict) else None for raw in resources)
    notices = (
        ScanNotice(repository=repository, digest=digest, status=status)
        for digest in digests
        if digest is not None and is_digest(digest) and utf8_size(digest) <= budget.field_bytes
    )
    return tuple(dict.fromkeys(notices))


def _scan_type(data: Mapping[str, object]) -> str | None:
    """The ``scan.scan_type`` of a scan notification; older Harbors send no ``scan``, and a
    scheduled scan's may be ``{}``."""
    return text(child(data, "scan") or {}, "scan_type")


def _read(
    document: Mapping[str, object],
    body: bytes,
    *,
    shape: _Shape,
    type_name: str,
    action: Action,
    budget: Budget,
) -> _Notification:
    data = child(document, shape.data_key) or {}
    resources = data.get("resources")
    if not isinstance(resources, list) or not resources:
        raise PayloadError(f"'{shape.data_key}.resources' is not a non-empty list")
    budget.check_count(len(resources))
    if shape is _CLOUDEVENTS:
        event_id = text(document, "id")
        occurred_at = parse_rfc3339(text(document, "time"))
    else:
        event_id = hashlib.sha256(body).hexdigest()
        occurred_at = _from_epoch(document.get("occur_at"))
    return _Notification(
        type_name=type_name,
        action=action,
        shape=shape,
        event_id=event_id,
        occurred_at=occurred_at,
        actor=text(document, "operator"),
        repository=_repository(child(data, "repository") or {}),
        resources=tuple(_resource(raw) for raw in resources),
    )


def _repository(repository: Mapping[str, object]) -> str | None:
    full_name = text(repository, "repo_full_name")
    if full_name is not None:
        return full_name
    namespace, name = text(repository, "namespace"), text(repository, "name")
    return f"{namespace}/{name}" if namespace and name else None


def _resource(raw: object) -> _Resource | None:
    if not isinstance(raw, dict):
        return None
    return _Resource(
        tag=text(raw, "tag"),
        digest=text(raw, "digest"),
        host=_registry_host(text(raw, "resource_url")),
    )


def _outcome(
    notification: _Notification,
    index: int,
    resource: _Resource | None,
    *,
    source: str,
    registry: str | None,
) -> RecordOutcome:
    where = f"resources[{index}]"
    if resource is None:
        return Problem(f"{where}: not a JSON object")
    tag = resource.tag if _is_real_tag(resource.tag, resource.digest) else None
    if notification.action is Action.PUSH and tag is None:
        return None  # pushed by digest only: nothing a deployment can follow
    return _event(notification, index, resource, tag, where, source, registry)


def _event(
    notification: _Notification,
    index: int,
    resource: _Resource,
    tag: str | None,
    where: str,
    source: str,
    registry: str | None,
) -> Event | Problem:
    shape = notification.shape
    host = registry or resource.host
    required: dict[str, object] = {
        "id": notification.event_id,
        f"{shape.data_key}.repository.repo_full_name": notification.repository,
        "a registry host in resource_url": host,
        f"a valid {shape.time_key}": notification.occurred_at,
    }
    if notification.action is Action.PUSH:
        required["digest"] = resource.digest
    else:
        required["tag or digest"] = tag or resource.digest
    missing = [name for name, value in required.items() if value is None]
    event_id, repository = notification.event_id, notification.repository
    occurred_at = notification.occurred_at
    if missing or not (event_id and repository and host and occurred_at):
        return Problem(f"{where}: {notification.type_name} without {', '.join(missing)}")
    if len(notification.resources) > 1:
        event_id = f"{event_id}/{index}"
    return Event(
        source=source,
        event_id=event_id,
        action=notification.action,
        registry=host.lower(),
        repository=repository,
        tag=tag,
        digest=resource.digest,
        media_type=None,  # Harbor does not say
        actor=notification.actor,
        occurred_at=occurred_at,
    )


def _is_real_tag(tag: str | None, digest: str | None) -> bool:
    """False for a missing tag and for the digest Harbor puts in ``tag`` for untagged pushes."""
    return bool(tag) and tag != digest and ":" not in (tag or "")


def _registry_host(resource_url: str | None) -> str | None:
    """``harbor.example.com`` from ``harbor.example.com/ns/name:tag``; None without a host."""
    if not resource_url:
        return None
    rest = resource_url.partition("://")[2] if "://" in resource_url else resource_url
    first, slash, _ = rest.partition("/")
    if slash and first and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def _from_epoch(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None
