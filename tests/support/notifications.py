"""Notifications shaped as Docker Distribution and Harbor post them, for senders to deliver.

The shapes are those of the recorded payloads in ``tests/fixtures/distribution/`` (a real
``docker-registry`` 2.8 notifying over HTTP: one event per envelope, indented by three spaces as
Go's ``json.MarshalIndent`` writes it) and of Harbor's documented Default format
(``tests/fixtures/harbor/``). Each notification knows the id regdeploy stores its event under,
so that a test finds it in the events table.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.support.settings import HARBOR_TOKEN, REGISTRY_TOKEN

DISTRIBUTION_EVENTS = "application/vnd.docker.distribution.events.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One POST a registry makes: to ``/webhooks/{source}``, with ``headers`` and ``body``.

    ``event_id`` is the id regdeploy stores the event under (Distribution's own id; for
    Harbor's Default format, which has none, the SHA-256 of the body).
    """

    source: str
    event_id: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    repository: str = ""
    tag: str = ""
    digest: str = ""


def digest_of(*parts: object) -> str:
    """A deterministic manifest digest standing for an image built from ``parts``."""
    text = "/".join(str(part) for part in parts)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def distribution_push(
    *, host: str, repository: str, tag: str, digest: str, at: datetime | None = None
) -> Notification:
    """A tagged manifest push as ``docker-registry`` notifies it (one event per envelope)."""
    event_id = str(uuid.uuid4())
    event = {
        "id": event_id,
        "timestamp": _rfc3339(at),
        "action": "push",
        "target": {
            "mediaType": OCI_MANIFEST,
            "size": 422,
            "digest": digest,
            "length": 422,
            "repository": repository,
            "url": f"http://{host}/v2/{repository}/manifests/{digest}",
            "tag": tag,
        },
        "request": {
            "id": str(uuid.uuid4()),
            "addr": "127.0.0.1:51338",
            "host": host,
            "method": "PUT",
            "useragent": "skopeo/1.9.3",
        },
        "actor": {},
        "source": {"addr": "registry:5000", "instanceID": "946ef3d7-8b55-4bbf-80da-bb9c9738f88c"},
    }
    body = json.dumps({"events": [event]}, indent=3).encode()
    headers = {
        "User-Agent": "Go-http-client/1.1",
        "Authorization": f"Bearer {REGISTRY_TOKEN}",
        "Content-Type": DISTRIBUTION_EVENTS,
    }
    return Notification(
        source="registry",
        event_id=event_id,
        body=body,
        headers=headers,
        repository=repository,
        tag=tag,
        digest=digest,
    )


def harbor_push(
    *, host: str, repository: str, tag: str, digest: str, at: datetime | None = None
) -> Notification:
    """An artifact push in Harbor's Default format; the auth header carries the token as is."""
    moment = at or datetime.now(UTC)
    namespace, _, name = repository.rpartition("/")
    document = {
        "type": "PUSH_ARTIFACT",
        "occur_at": int(moment.timestamp()),
        # Harbor names the user who pushed; a unique one keeps two pushes' bodies apart.
        "operator": f"robot${uuid.uuid4().hex[:12]}",
        "event_data": {
            "resources": [
                {"digest": digest, "tag": tag, "resource_url": f"{host}/{repository}:{tag}"}
            ],
            "repository": {
                "date_created": int(moment.timestamp()),
                "name": name,
                "namespace": namespace,
                "repo_full_name": repository,
                "repo_type": "private",
            },
        },
    }
    body = json.dumps(document).encode()
    return Notification(
        source="harbor",
        event_id=hashlib.sha256(body).hexdigest(),
        body=body,
        headers={"Content-Type": "application/json", "Authorization": HARBOR_TOKEN},
        repository=repository,
        tag=tag,
        digest=digest,
    )


def _rfc3339(at: datetime | None) -> str:
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
