"""Whatever a client sends, to whichever route, the app never answers 5xx.

Requests are generated (hypothesis) for every route of the app's router, so a route added later
is covered without a change here, and for paths no route has: any method; paths with NUL,
%-escapes of any byte (not UTF-8 too), dot segments, raw bytes, very long ones; query strings;
an ``Authorization`` with a valid API, read, registry or Harbor token, a wrong one, one that is
not UTF-8; any ``Content-Type``; a ``Content-Length`` that lies or is not a number, a chunked
body; bodies of JSON of wrong types, huge integers, deep nesting, unicode, recorded
notifications with fields replaced, and random bytes. They are written byte for byte
(``tests/support/raw_http.py``): no client library tidies them up first.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.app import init_app
from tests.support.api import Client, ClientFactory
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.pushes import REGISTRY, push, repository
from tests.support.raw_http import RawRequest, send
from tests.support.settings import API_TOKEN, HARBOR_TOKEN, READ_TOKEN, REGISTRY_TOKEN, make_config

EXAMPLES = 600
_VARIABLE = re.compile(r"\{[^}]*\}")


def routes_of(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route the app's router has; the routes that take a
    body three times, as they have the most to read."""
    found = []
    for resource in app.router.resources():
        info = resource.get_info()
        template = str(info.get("formatter") or info.get("path") or resource.canonical)
        for route in resource:
            found += [(route.method, template)] * (3 if route.method in ("POST", "PATCH") else 1)
    return found


def _percent(data: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte for byte in data)


def _no_line_breaks(data: bytes) -> bytes:
    return data.replace(b"\r", b"").replace(b"\n", b"")


# Numbers as text: any size, more digits than int() converts, and what is almost a number.
NUMBERS = st.one_of(
    st.integers().map(lambda number: str(number).encode()),
    st.integers(4_301, 6_000).map(lambda n: b"9" * n),
    st.integers(4_301, 6_000).map(lambda n: b"0" * n + b"7"),
    st.sampled_from([b"1e3", b"0x10", b"1.5", b"+3", b" 4", b"%D9%A3", b"%C2%B2", b"NaN"]),
)
# Path segments a client means (percent-encoded whatever they hold), and ones that only a
# broken or hostile client sends.
MEANT = NUMBERS | st.one_of(
    st.sampled_from(
        [
            *(b"team/app", b"team%2Fapp", b"registry", b"harbor", b"1", b"0", b"-1", b"1.0.0"),
            *(b"9" * 40, b"latest", b"", b"..", b"%2e%2e", b"//", b"%00", b"%ff%fe", b"%", b"%zz"),
        ]
    ),
    st.text(max_size=30).map(lambda text: quote(text, safe="/:@").encode()),
    st.binary(max_size=30).map(_percent),
)
HOSTILE = st.one_of(
    st.binary(max_size=12).map(_no_line_breaks),
    st.integers(2_000, 12_000).map(lambda n: b"x" * n),
)
SEGMENTS = MEANT | MEANT | MEANT | HOSTILE
QUERY_KEYS = st.sampled_from([b"limit", b"repository", b"source", b"status", b"target", b"tag"])
# What a query parameter usually holds.
QUERY_VALUES = {b"limit": NUMBERS, b"status": st.sampled_from([b"pending", b"done", b"planned"])}
# What a variable of a route usually holds, for requests that mean to reach the handler.
USUAL = {"source": [b"registry", b"harbor"], "name": [b"team/app"], "id": [b"1", b"2", b"9" * 4400]}


@st.composite
def queries(draw: st.DrawFn, values: st.SearchStrategy[bytes]) -> bytes:
    """A query string: parameters the routes read (``limit`` in every other one), with what
    they usually hold or anything, and parameters no route reads."""
    keys = draw(st.lists(QUERY_KEYS | values, max_size=3))
    if draw(st.booleans()):
        keys.append(b"limit")
    pairs = [key + b"=" + draw(QUERY_VALUES.get(key, values) | values) for key in keys]
    return b"&".join(pairs)


VALID = [f"Bearer {t}".encode() for t in (API_TOKEN, READ_TOKEN, REGISTRY_TOKEN, HARBOR_TOKEN)]
AUTHORIZATIONS = st.one_of(
    st.sampled_from(
        [
            *VALID,
            *(HARBOR_TOKEN.encode(), f"bearer  {API_TOKEN} ".encode(), b"Bearer", b"Basic Og=="),
            *(b"Bearer \xff\xfe\x80", b"Bearer " + API_TOKEN.encode() + b"\xc3", b"Bearer " * 900),
        ]
    ),
    st.binary(max_size=60).map(lambda raw: b"Bearer " + _no_line_breaks(raw)),
)
CONTENT_TYPES = st.sampled_from(
    [
        *(b"application/json", b"application/vnd.docker.distribution.events.v1+json"),
        *(b"application/cloudevents+json", b"text/plain", b"multipart/form-data; boundary=zz"),
        *(b"application/x-www-form-urlencoded", b"application/json; charset=latin-1", b"\xff/\xfe"),
    ]
)
LENGTHS = st.sampled_from([None] * 8 + [b"abc", b"-1", b"99999999999999", b"0", b"1, 2", b""])
HEADER_NAMES = st.sampled_from([b"X-Forwarded-For", b"Accept", b"Cookie", b"X-Csrf-Token", b"Zz"])


def _json(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# Text as JSON may carry it: any character, NUL and lone surrogates (``"\\ud800"``) included.
TEXT = st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@functools.cache
def _recorded() -> tuple[str, ...]:
    """The recorded Distribution and Harbor notifications, as JSON text."""
    paths = sorted((FIXTURES / "distribution").glob("*.json"))
    paths += sorted((FIXTURES / "harbor").glob("*.json"))
    return tuple(load_recorded(path)[1].decode() for path in paths)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A recorded notification or an API body, with fields replaced by any JSON value."""
    api = '{"pinned_tag": "1.0.0", "auto_deploy": true, "policy": "minor", "tag": "1.0.0"}'
    document = json.loads(draw(st.sampled_from([*_recorded(), api])))
    node: Any = document
    for _ in range(draw(st.integers(1, 4))):
        if isinstance(node, list) and node:
            node = node[draw(st.integers(0, len(node) - 1))]
        elif isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if draw(st.booleans()):
                node[key] = draw(JSON_VALUES)
                break
            node = node[key]
    return _json(document, draw(st.booleans()))


BODIES = st.one_of(
    st.just(b""),
    st.builds(_json, JSON_VALUES, st.booleans()),
    documents(),
    st.integers(4_300, 30_000).map(lambda n: b'{"limit": ' + b"9" * n + b', "events": []}'),
    st.integers(500, 100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(500, 50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.binary(max_size=300),
)


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str]]) -> RawRequest:
    """Two in three are what a client means, if not what the app wants: a route's method, a
    meant path, a valid token, a true length. The others may break anything."""
    meant = draw(st.integers(0, 2)) > 0
    if draw(st.integers(0, 9)) == 0:  # a path no route has
        method, path = b"GET", b"/" + draw(MEANT if meant else SEGMENTS)
    else:
        verb, template = draw(st.sampled_from(routes))
        method = verb.encode()
        pieces = _VARIABLE.split(template)
        names = [name.strip("{}").partition(":")[0] for name in _VARIABLE.findall(template)]
        values = [draw(_variable(name, meant)) for name in names]
        path = pieces[0].encode() + b"".join(
            v + p.encode() for v, p in zip(values, pieces[1:], strict=True)
        )
    if not meant and draw(st.booleans()):
        method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"FOO"]))
    query = draw(queries(MEANT if meant else SEGMENTS))
    return RawRequest(
        method=method,
        target=path + (b"?" + query if query else b""),
        headers=draw(_headers(path, meant)),
        body=draw(BODIES),
        content_length=None if meant else draw(LENGTHS),
        chunked=not meant and draw(st.integers(0, 4)) == 0,
    )


def _variable(name: str, meant: bool) -> st.SearchStrategy[bytes]:
    if not meant:
        return SEGMENTS
    usual = USUAL.get(name)
    return MEANT if usual is None else st.sampled_from(usual) | MEANT


@st.composite
def _headers(draw: st.DrawFn, path: bytes, meant: bool) -> list[tuple[bytes, bytes]]:
    if meant:
        webhook = path.startswith(b"/webhooks/")
        token = (REGISTRY_TOKEN if b"registry" in path else HARBOR_TOKEN) if webhook else API_TOKEN
        authorization = draw(st.sampled_from([f"Bearer {token}".encode()] * 4 + VALID))
        headers = [(b"Authorization", authorization)]
        return headers + [(b"Content-Type", t) for t in draw(st.lists(CONTENT_TYPES, max_size=1))]
    headers = [(b"Authorization", a) for a in draw(st.lists(AUTHORIZATIONS, max_size=2))]
    headers += [(b"Content-Type", t) for t in draw(st.lists(CONTENT_TYPES, max_size=1))]
    pairs = st.tuples(HEADER_NAMES, st.binary(max_size=20).map(_no_line_breaks))
    return headers + draw(st.lists(pairs, max_size=3))


@pytest.fixture
async def app_client(aiohttp_client: ClientFactory, db_uri: str) -> Client:
    """The app with a watched repository (policy minor, one target) and a tag it has seen."""
    config = make_config(
        db_uri, registry=REGISTRY, confirm_digests=False, repositories=[repository()]
    )
    client = await aiohttp_client(init_app(config))
    await push(client, "1.0.0", 1)
    return client


@pytest.fixture
def statuses() -> Iterator[Counter[int | None]]:
    """Every answer's status (None: the connection closed without one), reported at the end."""
    seen: Counter[int | None] = Counter()
    yield seen
    shown = ", ".join(f"{status}: {n}" for status, n in sorted(seen.items(), key=str))
    print(f"\nany request: {sum(seen.values())} requests, answers {{{shown}}}")


@pytest.mark.timeout(300)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_no_request_to_any_route_gets_a_5xx(
    app_client: Client, statuses: Counter[int | None], data: st.DataObject
) -> None:
    request = data.draw(requests(routes_of(app_client.app)), label="request")
    assert app_client.port is not None
    status = await send(app_client.port, request)
    statuses[status] += 1
    assert status is None or status < 500, request
