"""A deploy notice for notifier tests, with every field settable."""

from __future__ import annotations

from typing import Any

from notifiers.base import Kind, Notice

DIGEST = "sha256:" + "ab12" * 16


def make_notice(**changes: Any) -> Notice:
    """A succeeded deploy of team/app 1.4.1 to ``web``; ``changes`` replace any field."""
    fields: dict[str, Any] = {
        "deployment_id": 7,
        "kind": Kind.OUTCOME,
        "repository": "team/app",
        "target": "web",
        "from_image": None,
        "to_image": f"team/app@{DIGEST}",
        "tag": "1.4.1",
        "digest": DIGEST,
        "outcome": "succeeded",
        "reason": "semver minor update",
        "message": "",
        "duration_seconds": 12.5,
    }
    return Notice(**(fields | changes))
