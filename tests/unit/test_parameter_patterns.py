"""The patterns the OpenAPI document gives parameters take exactly what the service takes.

A pattern is read as ECMA-262, the way schemathesis judges requests (``jsonschema_rs``), and
compared with the checks that refuse a request: the routes' repository names, the policy
grammar of ``PATCH /api/v1/repos/{name}`` and the catalog's ``after``. What a pattern cannot
say (a regexp RE2 does not run) is a 400 the document describes.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.references import parse_name
from receiver.decide.rules.policy import parse_policy
from receiver.errors import InvalidReference, PolicyError
from receiver.http.openapi import load_document
from receiver.http.repositories import NAME_PATTERN, POLICY_PATTERN, SUB_RESOURCES

DOCUMENT = load_document()
NAME_SCHEMA = DOCUMENT["components"]["parameters"]["RepositoryName"]["schema"]
POLICY_SCHEMA = DOCUMENT["components"]["schemas"]["Policy"]
AFTER_SCHEMA = next(
    p["schema"]
    for p in DOCUMENT["paths"]["/api/v1/catalog"]["get"]["parameters"]
    if p.get("name") == "after"
)
#: What ``str.strip()`` strips, and a white space it does not (U+FEFF).
WHITE = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\ufeff"
KINDS = ("all", "major", "minor", "patch", "force", "glob", "regexp")


def _valid(schema: dict[str, Any], value: str) -> bool:
    return bool(jsonschema_rs.validator_for(schema).is_valid(value))


def _any_case(word: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from((c, c.upper())) for c in word)).map("".join)


def test_the_document_spells_the_patterns_the_routes_check() -> None:
    assert NAME_SCHEMA["pattern"] == f"^{NAME_PATTERN}$"
    assert POLICY_SCHEMA["pattern"] == f"^{POLICY_PATTERN}$"


bits = st.text(alphabet=WHITE + "\x00:/.abcAB*^$[(", max_size=6)
names = st.one_of(
    st.text(),
    st.builds(
        lambda start, last, end: f"{start}/{last}{end}",
        st.sampled_from(["", "team", "team/app", "a\x00b", "\n"]),
        st.sampled_from([*SUB_RESOURCES, "app", "Deploy", "plans"]),
        st.sampled_from(["", "\n", "/", "x", "\x00"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(name=names)
def test_a_route_takes_the_names_the_document_allows(name: str) -> None:
    assert _valid(NAME_SCHEMA, name) == (re.fullmatch(NAME_PATTERN, name) is not None)


policies = st.one_of(
    st.text(),
    st.builds(
        lambda before, kind, colon, after: before + kind + colon + after,
        bits,
        st.sampled_from(KINDS).flatmap(_any_case),
        st.sampled_from(["", ":", " :", "\t:"]),
        bits,
    ),
)


@settings(max_examples=500, deadline=None)
@given(text=policies)
def test_a_policy_the_document_allows_is_taken_and_one_it_does_not_is_refused(text: str) -> None:
    documented = _valid(POLICY_SCHEMA, text)
    assert documented == (re.fullmatch(POLICY_PATTERN, text) is not None and len(text) <= 1024)
    try:
        parse_policy(text)
        parsed = True
    except PolicyError:
        parsed = False
    kind = text.partition(":")[0]
    if documented:
        assert text == text.strip()  # stored as it was sent
    if documented and kind.lower() != "regexp":
        assert parsed  # only a regexp RE2 does not run is refused beyond the pattern
    # What the pattern refuses that parse_policy would take is white space it would strip, or a
    # NUL, which no field of a body may hold (``receiver.http.inputs``).
    if parsed and not documented:
        assert text != text.strip() or kind != kind.strip() or "\x00" in text


hosts = st.one_of(
    st.sampled_from(["", "localhost", "Localhost", "registry", "docker.io"]),
    st.builds(
        lambda before, mark, after: before + mark + after,
        st.text(alphabet=WHITE + "\x00@aA0-_", max_size=3),
        st.sampled_from([".", ":"]),
        st.text(alphabet=WHITE + "\x00@aA0-_.:", max_size=3),
    ),
)
paths = st.one_of(
    st.sampled_from(["team/app", "app", "a.b", "a__b/c--d", "a-/b", "A", "a//b", "a b"]),
    st.text(alphabet="a0._-/A \n@", max_size=12),
)
after_values = st.one_of(
    st.text(),
    st.builds(lambda host, path: f"{host}/{path}" if host else path, hosts, paths),
)


@settings(max_examples=400, deadline=None)
@given(after=after_values)
def test_the_catalog_takes_the_after_values_the_document_allows(after: str) -> None:
    try:
        parse_name(after)
        taken = "\x00" not in after  # a NUL in a query is refused before (``refuse_nul``)
    except InvalidReference:
        taken = after == ""  # "" is the first page
    assert _valid(AFTER_SCHEMA, after) == taken
