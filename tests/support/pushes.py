"""The repository team/app on registry.test:5000, watched with one recording target ``web``,
and the registry's push notifications for it as a test sends them to the app."""

from __future__ import annotations

import json
import uuid
from typing import Any

from deployers.base import Target
from tests.support.api import Client
from tests.support.settings import REGISTRY_TOKEN

REGISTRY = "registry.test:5000"
WEB = Target(kind="recording", name="web")
NAME = "team/app"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def ref(tag: str, n: int) -> str:
    return f"{REGISTRY}/{NAME}:{tag}@{digest(n)}"


def repository(**overrides: Any) -> dict[str, Any]:
    """The ``repositories:`` entry of team/app (policy minor, target ``web``)."""
    return {
        "name": NAME,
        "image": f"{REGISTRY}/{NAME}",
        "policy": "minor",
        "targets": [{"kind": "recording", "name": "web"}],
        **overrides,
    }


#: When a test's pushes happened, unless it says.
PUSHED_AT = "2026-11-22T10:00:00.000000Z"


def push_body(tag: str, n: int, repository_path: str = NAME, *, at: str = PUSHED_AT) -> bytes:
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": at,
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(n),
            "repository": repository_path,
            "tag": tag,
        },
        "request": {"host": REGISTRY},
    }
    return json.dumps({"events": [event]}).encode()


async def push(
    client: Client, tag: str, n: int, repository_path: str = NAME, *, at: str = PUSHED_AT
) -> None:
    """Notify the app of a push of ``tag`` (digest ``n``, pushed ``at``, ISO 8601); it must
    accept the event."""
    response = await client.post(
        "/webhooks/registry",
        data=push_body(tag, n, repository_path, at=at),
        headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"},
    )
    assert response.status == 202
    assert (await response.json())["accepted"] == 1
