"""Helpers shared by the payload formats: JSON loading, header lookup, RFC 3339 times and the
sorting of each record's outcome into a ``Parsed``.

The Content-Type a sender uses is not trusted to decide anything: the body's shape does. A
registry sends its own media type, a person trying things with curl sends form encoding, and both
should work when the body is right.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from handlers.events import Budget, Event, Parsed, event_problem, utf8_size
from receiver.bounds import capped
from receiver.errors import PayloadError

_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one record of a relevant kind could not be turned into an event."""

    reason: str


# What one record became: an event, a problem, or None when it is not deploy-relevant.
RecordOutcome = Event | Problem | None


def collect(outcomes: Iterable[RecordOutcome], budget: Budget) -> Parsed:
    """Sort the outcomes of a body's records into a ``Parsed``; an event that names something
    no registry could serve, or holds a field over the ``budget`` (``event_problem``), is a
    problem, not an event; an actor over it is cut."""
    events: list[Event] = []
    problems: list[str] = []
    ignored = 0
    for found in outcomes:
        outcome = _actor_capped(found, budget.field_bytes) if isinstance(found, Event) else found
        if isinstance(outcome, Event):
            if (problem := event_problem(outcome, field_bytes=budget.field_bytes)) is not None:
                problems.append(f"event {outcome.event_id[:100]!r}: {problem}")
            else:
                events.append(outcome)
        elif isinstance(outcome, Problem):
            problems.append(outcome.reason)
        else:
            ignored += 1
    return Parsed(events=tuple(events), ignored=ignored, problems=tuple(problems))


def _actor_capped(event: Event, field_bytes: int) -> Event:
    actor = event.actor
    if actor is None or utf8_size(actor) <= field_bytes:
        return event
    return dataclasses.replace(event, actor=capped(actor, field_bytes))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, whatever the case of the keys in ``headers``."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def content_type(headers: Mapping[str, str]) -> str:
    """The media type of the Content-Type header, lowercased and without parameters."""
    return (header(headers, "Content-Type") or "").partition(";")[0].strip().lower()


def load_object(body: bytes) -> dict[str, object]:
    """The JSON object in ``body``; anything else is a ``PayloadError``."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise PayloadError("body is not valid JSON") from None
    if not isinstance(document, dict):
        raise PayloadError("body is not a JSON object")
    return document


def parse_rfc3339(text: str | None) -> datetime | None:
    """An aware UTC datetime from RFC 3339 text with up to nanoseconds; None if invalid."""
    match = _RFC3339.fullmatch(text or "")
    if match is None:
        return None
    date, time, fraction, offset = match.groups()
    micros = (fraction or "")[:6].ljust(6, "0")  # Python keeps microseconds: truncate
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{time}.{micros}{offset}").astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def url_host(url: str | None) -> str | None:
    """The host (and port) of an absolute URL, without any user information."""
    try:
        netloc = urlsplit(url or "").netloc
    except ValueError:
        return None
    return netloc.rpartition("@")[2] or None


def text(mapping: Mapping[str, object], key: str) -> str | None:
    """``mapping[key]`` if it is a non-empty string, else None."""
    value = mapping.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def child(mapping: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    """``mapping[key]`` if it is a JSON object, else None."""
    value = mapping.get(key)
    return value if isinstance(value, dict) else None
