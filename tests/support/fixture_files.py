"""Where the test fixtures live and how to read them as an HTTP request would carry them."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load_recorded(path: Path) -> tuple[dict[str, str], bytes]:
    """The (headers, body bytes) of a fixture file.

    A recorded request is ``{"headers": {...}, "body": {...}}``: its body is re-encoded as JSON.
    Any other file (an example copied from documentation) is the body itself, sent as
    ``application/json``.
    """
    raw = path.read_bytes()
    document = json.loads(raw)
    if isinstance(document, dict) and set(document) == {"headers", "body"}:
        headers = {str(name): str(value) for name, value in document["headers"].items()}
        return headers, json.dumps(document["body"]).encode()
    return {"Content-Type": "application/json"}, raw
