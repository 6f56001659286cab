"""Distinct Docker Distribution push notifications, as a registry sends them.

Each notification holds one tagged manifest push with its own event id, tag and digest, so that
each one is stored as one event row: rows stored must equal pushes answered 2xx. A run id (eight
hex digits) keeps the pushes of different runs apart.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

REGISTRY = "registry.bench:5000"  # the name the source records events under; no such registry
SOURCE = "registry"
SOURCE_TOKEN = "bench-registry-token-0123456789"
API_TOKEN = "bench-api-token-0123456789"
WEBHOOK_PATH = f"/webhooks/{SOURCE}"
CONTENT_TYPE = "application/vnd.docker.distribution.events.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def new_run_id() -> str:
    return secrets.token_hex(4)


def digest(run: str, index: int) -> str:
    """A digest no other push of any run has: the run id, then the index in hex."""
    return f"sha256:{run}{index:056x}"


def push(*, run: str, index: int, repository: str, tag: str, digest_text: str) -> bytes:
    """One notification body: a push of ``repository:tag`` at ``digest_text``."""
    event = {
        "id": f"{run}-{index}",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "action": "push",
        "target": {
            "mediaType": MANIFEST,
            "size": 422,
            "digest": digest_text,
            "repository": repository,
            "url": f"http://{REGISTRY}/v2/{repository}/manifests/{digest_text}",
            "tag": tag,
        },
        "request": {"host": REGISTRY, "method": "PUT", "useragent": "regdeploy-bench"},
        "actor": {},
        "source": {"addr": "bench:5000"},
    }
    return json.dumps({"events": [event]}).encode()


def numbered_push(*, run: str, index: int, prefix: str, repositories: int) -> bytes:
    """Push number ``index`` of a stream spread over ``repositories`` repositories."""
    return push(
        run=run,
        index=index,
        repository=f"{prefix}{index % repositories}",
        tag=f"1.0.{index}",
        digest_text=digest(run, index),
    )


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SOURCE_TOKEN}", "Content-Type": CONTENT_TYPE}
