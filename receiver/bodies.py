"""Reading JSON request bodies: a clear 400 naming the field, for every way a body can be wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def json_error(kind: type[web.HTTPError], message: str) -> web.HTTPError:
    """An HTTP error answered as ``{"message": ...}``."""
    return kind(text=json.dumps({"message": message}), content_type="application/json")


def bad_request(message: str) -> web.HTTPError:
    return json_error(web.HTTPBadRequest, message)


async def json_object(
    request: web.Request, *, fields: Mapping[str, type | tuple[type, ...]], required: int = 1
) -> dict[str, Any]:
    """The body as an object with only ``fields`` (name -> accepted types); at least
    ``required`` of them must be present."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the parser can follow ("[[[[...").
        raise bad_request("the body is not valid JSON") from None
    except LookupError:  # Content-Type names a charset Python does not know
        raise bad_request(f"unknown charset {request.charset!r}") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(fields))})")
    for name, value in body.items():
        expected = fields[name]
        # JSON true/false are bool, which Python also counts as int: keep them apart.
        wrong_bool = isinstance(value, bool) and bool not in _as_tuple(expected)
        if wrong_bool or not isinstance(value, expected):
            raise bad_request(f"field {name!r} must be {_describe(expected)}")
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL cannot store it
            raise bad_request(f"field {name!r} must not contain a NUL character")
    if len(body) < required:
        raise bad_request(f"give at least one of: {', '.join(sorted(fields))}")
    return body


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _describe(expected: type | tuple[type, ...]) -> str:
    names = {bool: "a boolean", str: "a string", int: "a whole number"}
    return " or ".join(names.get(t, t.__name__) for t in _as_tuple(expected))
