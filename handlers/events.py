"""The common event every payload format is turned into."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from handlers.references import is_digest, is_registry, is_repository, is_tag
from receiver.errors import PayloadError

# Media types of the manifests a registry serves today, indexes first (the ``Accept`` of a
# manifest request, in order of preference).
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
# Media types of manifests that name an image (single or multi-platform), the retired schema 1
# included. A tagged push of one of these is deploy-relevant; everything else (blobs, configs,
# layers) is not.
MANIFEST_MEDIA_TYPES = frozenset(
    {
        *MANIFEST_TYPES,
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)


#: The source of the events the reconciler records from what a registry serves: when such a
#: tag was pushed is not known.
RECONCILER = "reconciler"


class Action(enum.StrEnum):
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One deploy-relevant registry event: a tagged manifest push, or a delete.

    ``event_id`` is unique per source: the format's own id, or a hash of the body where the
    format has none. A delete carries a tag, a digest, or both.
    """

    source: str
    event_id: str
    action: Action
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    media_type: str | None
    actor: str | None
    occurred_at: datetime

    def fields(self) -> dict[str, object]:
        """Every field by name, the action as its text (a shallow copy, unlike ``asdict``)."""
        return {
            "source": self.source,
            "event_id": self.event_id,
            "action": self.action.value,
            "registry": self.registry,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "media_type": self.media_type,
            "actor": self.actor,
            "occurred_at": self.occurred_at,
        }


#: The longest repository path the distribution specification lets a registry serve.
MAX_REPOSITORY = 255


def event_problem(event: Event, *, field_bytes: int = 1024) -> str | None:
    """Why an event names nothing a registry could serve (a tag, digest or repository outside
    the reference grammar), or holds an id, media type or actor longer than ``field_bytes``;
    None when it is well formed."""
    if len(event.repository) > MAX_REPOSITORY:
        return f"a repository name of {len(event.repository)} characters, over {MAX_REPOSITORY}"
    if not is_repository(event.repository):
        return f"invalid repository name {event.repository[:200]!r}"
    if event.tag is not None and not is_tag(event.tag):
        return f"invalid tag {event.tag[:200]!r}"
    if event.digest is not None and not is_digest(event.digest):
        return f"invalid digest {event.digest[:200]!r}"
    if not is_registry(event.registry):
        return f"invalid registry host {event.registry[:200]!r}"
    texts = (event.source, event.event_id, event.media_type or "", event.actor or "")
    if any("\x00" in text for text in texts):
        return "a NUL character in its id, media type or actor"
    for what, text in (("an id", event.event_id), ("a media type", event.media_type or "")):
        if utf8_size(text) > field_bytes:
            return f"{what} longer than {field_bytes} bytes"
    return None


def utf8_size(text: str) -> int:
    """How many bytes ``text`` takes as UTF-8 (a lone surrogate as three)."""
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What one notification may hold (``limits:``): at most ``records`` records (a body with
    more is rejected whole, before any record is read), and ids, media types and actors of at
    most ``field_bytes`` bytes (a longer actor is cut; a longer id or media type makes its
    record a problem)."""

    records: int = 500
    field_bytes: int = 1024

    def check_count(self, count: int) -> None:
        """Raise ``PayloadError`` when a body holds more than ``records`` records."""
        if count > self.records:
            raise PayloadError(
                f"{count} records, more than the {self.records} one notification may hold "
                "(limits.records_per_notification)"
            )


#: The budget of ``limits:``'s defaults.
DEFAULT_BUDGET = Budget()


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """What one notification body held.

    ``events`` are the deploy-relevant events. ``ignored`` counts records that are valid but not
    deploy-relevant (blob pushes, pulls, mounts, untagged child manifests, scans, ...).
    ``problems`` describes records of a relevant kind that could not be used; the receiver stores
    them as rejected while keeping the good events of the same body.
    """

    events: tuple[Event, ...] = ()
    ignored: int = 0
    problems: tuple[str, ...] = ()
