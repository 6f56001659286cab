"""Reading what a request carries: JSON bodies, query parameters and ids in a path, with a clear
400 naming the field for every way they can be wrong (404 for an id that names nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from receiver.errors import InvalidRequest, NotFound, UnknownDeployment

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_MAX_ID = 2**63 - 1  # a bigint, as deployment ids are


async def json_object(
    request: web.Request, *, fields: Mapping[str, type | tuple[type, ...]], required: int = 1
) -> dict[str, Any]:
    """The body as an object with only ``fields`` (name -> accepted types); at least
    ``required`` of them must be present."""
    try:
        body = await request.json()
    except LookupError:  # Content-Type names a charset Python does not know
        raise InvalidRequest(f"unknown charset {request.charset!r}") from None
    except (ValueError, RecursionError):
        # ValueError: not JSON, not text in its charset, or an integer of more digits than
        # Python converts; RecursionError: nesting deeper than the parser can follow.
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(fields))})",
            field=unknown[0],
        )
    for name, value in body.items():
        expected = fields[name]
        # JSON true/false are bool, which Python also counts as int: keep them apart.
        wrong_bool = isinstance(value, bool) and bool not in _as_tuple(expected)
        if wrong_bool or not isinstance(value, expected):
            raise InvalidRequest(f"field {name!r} must be {_describe(expected)}", field=name)
        if isinstance(value, str) and not _storable(value):
            raise InvalidRequest(
                f"field {name!r} must be Unicode text without NUL characters", field=name
            )
    if len(body) < required:
        raise InvalidRequest(f"give at least one of: {', '.join(sorted(fields))}")
    return body


def whole_number(raw: str, *, at_most: int) -> int | None:
    """``raw`` as a whole number (ASCII digits, leading zeros allowed) up to ``at_most``, or
    None. A string of more digits than ``at_most`` has is refused before ``int()``, which
    raises on more than 4,300 digits."""
    # isdigit() alone also accepts digits int() refuses, such as "²".
    if not (raw.isascii() and raw.isdigit()):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(at_most)):
        return None
    number = int(digits)
    return number if number <= at_most else None


def record_id(raw: str, *, unknown: type[NotFound], what: str) -> int:
    """The id of a stored record (a deployment, a rejection) a path or a form names, the API's
    and the console's alike; ``unknown`` (a 404) when it names none: not a whole number, or
    beyond a bigint."""
    number = whole_number(raw, at_most=_MAX_ID)
    if number is None:
        raise unknown(f"no {what} {raw[:40]}")
    return number


def deployment_id(raw: str) -> int:
    """The deployment a path or a form names (``record_id``)."""
    return record_id(raw, unknown=UnknownDeployment, what="deployment")


def query_limit(request: web.Request) -> int:
    """The ``limit`` query parameter: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent."""
    limit = whole_number(request.query.get("limit", str(DEFAULT_LIMIT)), at_most=MAX_LIMIT)
    if limit is None or limit < 1:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return limit


def query_before(request: web.Request) -> int | None:
    """The ``before`` query parameter of a paged list: only what is older than that id (the
    last id of the page before); None when absent or empty."""
    raw = request.query.get("before") or None
    if raw is None:
        return None
    number = whole_number(raw, at_most=_MAX_ID)
    if number is None or number < 1:
        raise InvalidRequest("before must be an id: a whole number from 1", field="before")
    return number


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    """The query parameter ``name``, one of ``choices``, or None when absent or empty."""
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise InvalidRequest(f"{name} must be one of {', '.join(choices)}", field=name)
    return value


def _storable(text: str) -> bool:
    """Text PostgreSQL can store: no NUL, no lone surrogate (``"\\ud800"`` in JSON)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _describe(expected: type | tuple[type, ...]) -> str:
    names = {bool: "a boolean", str: "a string", int: "a whole number", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in _as_tuple(expected))
