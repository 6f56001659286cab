"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of every route, open to all.

The document is ``openapi.yaml`` beside this module (package data), read once when the app is
built and served as JSON. Tests keep it complete (every route of the app is in it) and true
(schemathesis checks the live app against it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

SPEC_FILE = Path(__file__).with_name("openapi.yaml")
PATH = "/api/v1/openapi.json"


def load_document() -> dict[str, Any]:
    """The OpenAPI document, as a JSON-like tree."""
    document: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    return document


def routes() -> list[web.RouteDef]:
    body = json.dumps(load_document(), separators=(",", ":")).encode()

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return [web.get(PATH, openapi, allow_head=False)]
