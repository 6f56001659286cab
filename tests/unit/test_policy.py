"""Update policies, tag filters and catching up: tables of decisions, and their properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.decide.rules.policy import (
    Policy,
    PolicyKind,
    PolicyVerdict,
    TagFilter,
    judge_tag,
    newest_eligible,
    parse_filter,
    parse_policy,
    should_update,
)
from receiver.decide.rules.versions import compare_tags, parse_version
from receiver.errors import PolicyError, RegdeployError

# (policy, current, candidate, match_prerelease, expected)
SHOULD_UPDATE = [
    # all: any greater version, pre-releases always eligible
    ("all", "1.4.0", "1.4.1", True, True),
    ("all", "1.4.0", "1.5.0", True, True),
    ("all", "1.4.0", "2.0.0", True, True),
    ("all", "1.4.0", "1.4.0", True, False),
    ("all", "1.4.0", "1.3.9", True, False),
    ("all", "1.4.0", "1.5.0-rc1", True, True),
    ("all", "1.5.0-rc1", "1.5.0", True, True),
    ("all", "1.5.0-rc1", "1.5.0-beta", True, False),
    ("all", "1.5.0-beta", "1.5.0-rc.1", True, True),
    ("all", "1.4.0", "stable", True, False),
    ("all", "stable", "1.4.0", True, False),
    ("all", "1.4", "1.4.0", True, False),
    ("all", "1.4.0", "1.4", True, False),
    ("all", "1.4.0", "v1.4.1", True, True),
    # major: any greater version, pre-release tracks kept
    ("major", "1.4.0", "2.0.0", True, True),
    ("major", "1.4.0", "1.4.1", True, True),
    ("major", "v1.4.0", "V3.0", True, True),
    ("major", "1.4.0", "0.9.0", True, False),
    ("major", "1.4.0", "2.0.0-rc1", True, False),
    ("major", "1.4.0", "2.0.0-rc1", False, True),
    ("major", "2.0.0-rc1", "2.0.0", True, False),
    ("major", "2.0.0-rc1", "2.0.0", False, True),
    ("major", "2.0.0-rc1", "2.0.0-rc2", True, True),
    ("major", "1.4.0", "latest", True, False),
    # minor: greater, same major
    ("minor", "1.4.0", "1.5.0", True, True),
    ("minor", "1.4.0", "1.4.1", True, True),
    ("minor", "1.4.0", "1.99.99", True, True),
    ("minor", "1.4.0", "2.0.0", True, False),
    ("minor", "1.4.0", "2.0.0", False, False),
    ("minor", "1.4.0", "1.3.0", True, False),
    ("minor", "1.4.0", "1.4.0", True, False),
    ("minor", "0.4.0", "0.5.0", True, True),
    ("minor", "0.4.0", "1.0.0", True, False),
    ("minor", "1.4", "1.5", True, True),
    ("minor", "1.4", "1.4.0", True, False),
    ("minor", "1.4", "1.4.1", True, True),
    ("minor", "v1.4.0", "1.5.0", True, True),
    ("minor", "1.4.0", "v1.5.0", True, True),
    ("minor", "V1.4.0", "v1.4.0", True, False),
    ("minor", "1.4.0", "1.5.0+build.5", True, True),
    ("minor", "1.4.0+build.5", "1.4.0+build.6", True, False),
    ("minor", "1.4.0+build.6", "1.4.0+build.5", True, False),
    ("minor", "1.4.0", "1", True, False),
    ("minor", "1", "1.4.0", True, False),
    ("minor", "1.4.0", "01.5.0", True, False),
    ("minor", "1.4.0", "1.05.0", True, False),
    ("minor", "1.4.0", "1.5.0.1", True, False),
    ("minor", "1.4.0", "stable", True, False),
    ("minor", "stable", "1.5.0", True, False),
    ("minor", "stable", "stable", True, False),
    ("minor", "1.4.0", "vv1.5.0", True, False),
    # minor with pre-releases
    ("minor", "1.4.0", "1.5.0-rc1", True, False),
    ("minor", "1.4.0", "1.5.0-rc1", False, True),
    ("minor", "1.5.0-rc1", "1.5.0", True, False),
    ("minor", "1.5.0-rc1", "1.5.0", False, True),
    ("minor", "1.5.0-rc1", "1.5.0-rc2", True, True),
    ("minor", "1.5.0-rc2", "1.5.0-rc1", True, False),
    ("minor", "1.5.0-rc.1", "1.5.0-rc.2", True, True),
    ("minor", "1.5.0-rc.1", "1.6.0-rc.1", True, True),
    ("minor", "1.5.0-rc.1", "2.0.0-rc.1", True, False),
    ("minor", "1.5.0-beta", "1.5.0-rc1", True, False),
    ("minor", "1.5.0-beta", "1.5.0-rc1", False, True),
    ("minor", "1.5.0-beta.1", "1.5.0-beta.2", True, True),
    ("minor", "1.5.0-alpha", "1.5.0-beta", True, False),
    ("minor", "1.5.0-1", "1.5.0-2", True, True),
    ("minor", "1.5.0-1", "1.5.0-rc1", True, False),
    ("minor", "v1.5-rc1", "1.5.0-rc2", True, True),
    ("minor", "1.5.0-rc1", "1.5.0-rc1+build.2", True, False),
    ("minor", "1.4.0", "1.4.1-rc1", False, True),
    # patch: greater, same major and minor
    ("patch", "1.4.0", "1.4.1", True, True),
    ("patch", "1.4.0", "1.4.10", True, True),
    ("patch", "1.4.9", "1.4.10", True, True),
    ("patch", "1.4.0", "1.5.0", True, False),
    ("patch", "1.4.0", "2.4.1", True, False),
    ("patch", "1.4.0", "1.3.9", True, False),
    ("patch", "1.4", "1.4.1", True, True),
    ("patch", "v1.4.0", "v1.4.2", True, True),
    ("patch", "1.4.0", "1.4.1-rc1", True, False),
    ("patch", "1.4.0", "1.4.1-rc1", False, True),
    ("patch", "1.4.1-rc1", "1.4.1-rc2", True, True),
    ("patch", "1.4.1-rc1", "1.5.0-rc2", True, False),
    ("patch", "1.4.0", "1.4.1+build.1", True, True),
    # running latest: any candidate, except force (latest only) and glob/regexp (must match)
    ("all", "latest", "1.0.0", True, True),
    ("major", "latest", "0.1.0", True, True),
    ("minor", "latest", "2.0.0-rc1", True, True),
    ("patch", "latest", "stable", True, True),
    ("minor", "latest", "latest", True, True),
    ("force", "latest", "latest", True, True),
    ("force", "latest", "1.0.0", True, False),
    ("glob:release-*", "latest", "release-2", True, True),
    ("glob:release-*", "latest", "1.0.0", True, False),
    ("regexp:^v[0-9]", "latest", "v2", True, True),
    ("regexp:^v[0-9]", "latest", "2", True, False),
    # force: same tag, new digest
    ("force", "1.4.0", "1.4.0", True, True),
    ("force", "1.4.0", "1.4.1", True, False),
    ("force", "1.4.0", "1.4", True, False),
    ("force", "stable", "stable", True, True),
    ("FORCE", "stable", "edge", True, False),
    # glob: whole tag, case-sensitive; forward only (versions, else natural order)
    ("glob:release-*", "release-1", "release-2", True, True),
    ("glob:release-*", "release-2", "release-1", True, False),
    ("glob:release-*", "release-9", "release-10", True, True),
    ("glob:build-*", "build-10", "build-9", True, False),
    ("glob:latest.*", "latest.20251321", "latest.20241321", True, False),
    ("glob:latest.*", "latest.20241321", "latest.20251321", True, True),
    ("glob:*", "1.4.0", "nightly", True, False),
    ("glob:*", "build-x", "build-10", True, False),
    ("glob:*", "release-1", "release-1a", True, True),
    ("glob:release-*", "1.2.3", "1.2.3", True, False),
    ("glob:release-*", "x", "prerelease-1", True, False),
    ("glob:release-*", "x", "Release-1", True, False),
    ("glob:1.*", "1.4.0", "1.3.0", True, False),
    ("glob:1.*", "1.4.0", "1.5.0", True, True),
    ("glob:1.?.0", "1.4.0", "1.10.0", True, False),
    ("GLOB:*-alpine", "1.0-alpine", "1.1-alpine", True, True),
    # regexp: re.search; forward only
    ("regexp:^v\\d+\\.\\d+$", "v1.0", "v1.1", True, True),
    ("regexp:^v\\d+\\.\\d+$", "v1.0", "v1.1.0", True, False),
    ("regexp:alpine", "1.0", "1.1-alpine", True, True),
    ("regexp:alpine", "1.0", "1.1-debian", True, False),
    ("Regexp:^main-", "main-abc", "main-aaa", True, False),
    ("Regexp:^main-", "main-aaa", "main-abc", True, True),
]


def _case_id(case: tuple[str, str, str, bool, bool]) -> str:
    policy, current, candidate, match, expected = case
    return f"{policy}:{current}->{candidate}{'' if match else ':any-track'}={expected}"


def test_the_table_is_large() -> None:
    assert len(SHOULD_UPDATE) >= 80
    assert len({case[:4] for case in SHOULD_UPDATE}) == len(SHOULD_UPDATE)


@pytest.mark.parametrize("case", SHOULD_UPDATE, ids=_case_id)
def test_should_update(case: tuple[str, str, str, bool, bool]) -> None:
    policy, current, candidate, match_prerelease, expected = case
    assert should_update(policy, current, candidate, match_prerelease=match_prerelease) is expected


@pytest.mark.parametrize("case", SHOULD_UPDATE, ids=_case_id)
def test_a_parsed_policy_decides_the_same(case: tuple[str, str, str, bool, bool]) -> None:
    policy, current, candidate, match_prerelease, expected = case
    verdict = judge_tag(parse_policy(policy), current, candidate, match_prerelease=match_prerelease)
    assert verdict.update is expected
    assert verdict.reason


# (policy, current, candidate, match_prerelease, update, reason)
REASONS = [
    ("minor", "1.4.0", "1.3.0", True, False, "1.3.0 is lower than running 1.4.0"),
    ("minor", "1.4.0", "2.0.0", True, False, "2.0.0 is a new major version (policy minor)"),
    ("patch", "1.4.0", "2.0.0", True, False, "2.0.0 is a new major version (policy patch)"),
    ("patch", "1.4.0", "1.5.0", True, False, "1.5.0 is a new minor version (policy patch)"),
    ("minor", "1.4.0", "1.4.1", True, True, "1.4.1 is newer than running 1.4.0"),
    ("all", "1.4.0", "1.5.0-rc1", True, True, "1.5.0-rc1 is newer than running 1.4.0"),
    ("minor", "1.4.0", "1.5.0-rc1", True, False, "tag 1.5.0-rc1 is a pre-release"),
    (
        "minor",
        "1.5.0-rc1",
        "1.5.0",
        True,
        False,
        "1.5.0 is a release and running 1.5.0-rc1 is a pre-release",
    ),
    (
        "minor",
        "1.5.0-beta",
        "1.5.0-rc1",
        True,
        False,
        "1.5.0-rc1 is on pre-release track 'rc', running 1.5.0-beta on 'beta'",
    ),
    ("major", "latest", "stable", True, True, "running latest: any new image updates"),
    ("minor", "1.4.0", "stable", True, False, "stable is not a version (policy minor)"),
    ("all", "stable", "1.4.0", True, False, "running stable is not a version (policy all)"),
    ("minor", "1.4.0", "1.4.0", True, False, "1.4.0 is the running version"),
    ("minor", "1.4.0", "v1.4", True, False, "v1.4 is the same version as running 1.4.0"),
    ("force", "1.4.0", "1.4.0", True, True, "tag 1.4.0 is the running tag (policy force)"),
    ("force", "1.4.0", "1.4.1", True, False, "force follows only tag 1.4.0"),
    ("glob:release-*", "x", "1.2.3", True, False, "tag 1.2.3 does not match glob 'release-*'"),
    (
        "glob:release-*",
        "release-1",
        "release-2",
        True,
        True,
        "tag release-2 matches glob 'release-*' and is newer than running release-1",
    ),
    (
        "glob:release-*",
        "release-2",
        "release-1",
        True,
        False,
        "tag release-1 matches glob 'release-*' but is not newer than running release-2",
    ),
    (
        "glob:*",
        "1.4.0",
        "nightly",
        True,
        False,
        "tag nightly matches glob '*' but cannot be ordered against running 1.4.0",
    ),
    ("glob:r*", "latest", "r1", True, True, "running latest: tag r1 matches glob 'r*'"),
    ("regexp:^v", "x", "1.2.3", True, False, "tag 1.2.3 does not match regexp '^v'"),
    (
        "regexp:^v",
        "v1.0",
        "v1.2.3",
        True,
        True,
        "tag v1.2.3 matches regexp '^v' and is newer than running v1.0",
    ),
]


@pytest.mark.parametrize(
    ("policy", "current", "candidate", "match_prerelease", "update", "reason"), REASONS
)
def test_judge_says_why(
    policy: str, current: str, candidate: str, match_prerelease: bool, update: bool, reason: str
) -> None:
    assert judge_tag(
        policy, current, candidate, match_prerelease=match_prerelease
    ) == PolicyVerdict(update=update, reason=reason)


# --- versions ----------------------------------------------------------------------------------

VERSIONS = [
    ("1.4.0", (1, 4, 0, None, None)),
    ("1.4", (1, 4, 0, None, None)),
    ("v1.4", (1, 4, 0, None, None)),
    ("V2.0.1", (2, 0, 1, None, None)),
    ("0.0.0", (0, 0, 0, None, None)),
    ("1.5.0-rc.1", (1, 5, 0, "rc.1", None)),
    ("1.5-rc1", (1, 5, 0, "rc1", None)),
    ("1.5.0-beta", (1, 5, 0, "beta", None)),
    ("1.5.0+build.5", (1, 5, 0, None, "build.5")),
    ("v1.5.0-rc.1+build.5", (1, 5, 0, "rc.1", "build.5")),
    ("10.20.30", (10, 20, 30, None, None)),
]
NOT_VERSIONS = [
    "1",
    "v1",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "1.2.3.4",
    "latest",
    "stable",
    "",
    "v",
    "vv1.2.3",
    "1.2.3-",
    "1.2.3-rc..1",
    "1.2.3-01",
    "1.2.3+",
    " 1.2.3",
    "1.2.3\n",
    "\u0661.\u0662.\u0663",
    "1.2.3_rc1",
]


@pytest.mark.parametrize(("tag", "parts"), VERSIONS)
def test_parse_version(tag: str, parts: tuple[int, int, int, str | None, str | None]) -> None:
    version = parse_version(tag)
    assert version is not None
    assert version.to_tuple() == parts


@pytest.mark.parametrize("tag", NOT_VERSIONS)
def test_parse_version_rejects(tag: str) -> None:
    assert parse_version(tag) is None


# --- parse_policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", Policy(kind=PolicyKind.ALL)),
        ("Major", Policy(kind=PolicyKind.MAJOR)),
        (" MINOR ", Policy(kind=PolicyKind.MINOR)),
        ("patch", Policy(kind=PolicyKind.PATCH)),
        ("force", Policy(kind=PolicyKind.FORCE)),
        ("glob:release-*", Policy(kind=PolicyKind.GLOB, pattern="release-*")),
        ("GLOB:Release-*", Policy(kind=PolicyKind.GLOB, pattern="Release-*")),
        ("regexp:^v\\d+:x$", Policy(kind=PolicyKind.REGEXP, pattern="^v\\d+:x$")),
    ],
)
def test_parse_policy(text: str, expected: Policy) -> None:
    assert parse_policy(text) == expected


@pytest.mark.parametrize(
    "text", ["all", "major", "minor", "patch", "force", "glob:release-*", "regexp:^v"]
)
def test_a_policy_reads_back_as_written(text: str) -> None:
    assert str(parse_policy(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unknown policy ''"),
        ("never", "unknown policy 'never'"),
        ("semver", "unknown policy 'semver'"),
        ("minor:1.*", "policy minor takes no pattern"),
        ("force:", "policy force takes no pattern"),
        ("glob:", "policy glob needs a pattern"),
        ("regexp:", "policy regexp needs a pattern"),
        ("regexp:x(", "invalid regexp policy 'x\\('"),
        ("regexp:[a-", "invalid regexp policy '\\[a-'"),
    ],
)
def test_parse_policy_errors(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_policy_errors_share_the_root() -> None:
    assert issubclass(PolicyError, RegdeployError)
    with pytest.raises(PolicyError):
        should_update("nightly", "1.0.0", "1.0.1")
    with pytest.raises(PolicyError):
        newest_eligible("regexp:(", "1.0.0", ["1.0.1"])


# --- tag filters -------------------------------------------------------------------------------

# (spec, tag, allowed)
FILTERS = [
    ({"semver": ">=1.2.0 <2.0.0"}, "1.2.0", True),
    ({"semver": ">=1.2.0 <2.0.0"}, "1.9.9", True),
    ({"semver": ">=1.2.0 <2.0.0"}, "v1.5", True),
    ({"semver": ">=1.2.0 <2.0.0"}, "2.0.0", False),
    ({"semver": ">=1.2.0 <2.0.0"}, "2.1.0", False),
    ({"semver": ">=1.2.0 <2.0.0"}, "1.1.9", False),
    ({"semver": ">=1.2.0 <2.0.0"}, "2.0.0-rc1", True),
    ({"semver": ">=1.2.0 <2.0.0"}, "latest", False),
    ({"semver": ">=1.2.0 <2.0.0"}, "1", False),
    ({"semver": ">=1.2,<2"}, "1.5.0", True),
    ({"semver": ">=1.2, <2"}, "2.0.0", False),
    ({"semver": ">= 1.2 < 2"}, "1.2.0", True),
    ({"semver": ">= 1.2 < 2"}, "1.1.0", False),
    ({"semver": ">v1.2.0"}, "1.2.0", False),
    ({"semver": ">v1.2.0"}, "1.2.1", True),
    ({"semver": "<=1.2.0"}, "1.2.0+build.1", True),
    ({"semver": "<=1.2.0"}, "1.2.1", False),
    ({"semver": "==1.2"}, "1.2.0", True),
    ({"semver": "=1.2.0"}, "v1.2", True),
    ({"semver": "1.2.0"}, "1.2.0", True),
    ({"semver": "1.2.0"}, "1.2.1", False),
    ({"semver": "!=1.3.0"}, "1.3.0", False),
    ({"semver": "!=1.3.0"}, "1.3.1", True),
    ({"semver": "!=1.3.0"}, "stable", False),
    ({"regex": "^v"}, "v1.0", True),
    ({"regex": "^v"}, "1.0", False),
    ({"regex": "alpine"}, "1.0-alpine", True),
    ({"regex": "!alpine"}, "1.0-alpine", False),
    ({"regex": "!alpine"}, "1.0", True),
    ({"regex": "!-debug$"}, "1.0-debug", False),
    ({"regex": "!-debug$"}, "1.0-debug-2", True),
]


@pytest.mark.parametrize(("spec", "tag", "allowed"), FILTERS)
def test_tag_filter_allows(spec: dict[str, str], tag: str, allowed: bool) -> None:
    assert parse_filter(spec).allows(tag) is allowed


@pytest.mark.parametrize(
    ("spec", "tag", "sentence"),
    [
        ({"semver": ">=1.2.0 <2.0.0"}, "2.1.0", "tag 2.1.0 is outside semver >=1.2.0 <2.0.0"),
        ({"semver": ">=1.2.0 <2.0.0"}, "1.3.0", "tag 1.3.0 is within semver >=1.2.0 <2.0.0"),
        ({"semver": " >=1.2 <2 "}, "edge", "tag edge is not a version (semver >=1.2 <2)"),
        ({"regex": "^v"}, "1.0", "tag 1.0 does not match regex '^v'"),
        ({"regex": "^v"}, "v1.0", "tag v1.0 matches regex '^v'"),
        ({"regex": "!-rc"}, "1.0-rc", "tag 1.0-rc matches excluded regex '-rc'"),
        ({"regex": "!-rc"}, "1.0", "tag 1.0 does not match excluded regex '-rc'"),
    ],
)
def test_tag_filter_describe(spec: dict[str, str], tag: str, sentence: str) -> None:
    assert parse_filter(spec).describe(tag) == sentence


def test_parse_filter_keeps_the_spec() -> None:
    semver_filter = parse_filter({"semver": ">=1.2, <2"})
    assert [(bound.operator, str(bound.version)) for bound in semver_filter.comparators] == [
        (">=", "1.2.0"),
        ("<", "2.0.0"),
    ]
    assert str(semver_filter) == "semver >=1.2, <2"
    regex_filter = parse_filter({"regex": "!-debug$"})
    assert (regex_filter.pattern, regex_filter.inverted) == ("-debug$", True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "exactly one of semver, regex; got none"),
        ({"semver": ">=1", "regex": "x"}, "got 'semver', 'regex'"),
        ({"glob": "1.*"}, "unknown tag filter 'glob'"),
        ({"Semver": ">=1"}, "unknown tag filter 'Semver'"),
        ({"semver": ""}, "tag filter semver needs a non-empty string"),
        ({"semver": "  "}, "tag filter semver needs a non-empty string"),
        ({"semver": ">=foo"}, "semver filter '>=foo': '>=foo' is not a version comparator"),
        ({"semver": ">=1.2 <"}, "'<' is not a version comparator"),
        ({"semver": "~1.2"}, "'~1.2' is not a version comparator"),
        ({"semver": "=>1.2"}, "'=>1.2' is not a version comparator"),
        ({"semver": ">=01.2"}, "'>=01.2' is not a version comparator"),
        ({"regex": ""}, "tag filter regex needs a non-empty string"),
        ({"regex": "!"}, "tag filter regex '!' has an empty pattern"),
        ({"regex": "x("}, "invalid regex filter 'x\\('"),
        ({"regex": "!x("}, "invalid regex filter 'x\\('"),
        ({"regex": 5}, "tag filter regex needs a non-empty string, got 5"),
    ],
)
def test_parse_filter_errors(spec: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_filter(spec)


# --- newest_eligible ---------------------------------------------------------------------------

SERIES = ["1.0.0", "1.1.0", "2.0.0", "1.0.1"]

# (policy, current, tags, filters, match_prerelease, expected)
NEWEST = [
    ("minor", "1.0.0", SERIES, [], True, "1.1.0"),
    ("patch", "1.0.0", SERIES, [], True, "1.0.1"),
    ("major", "1.0.0", SERIES, [], True, "2.0.0"),
    ("all", "1.0.0", SERIES, [], True, "2.0.0"),
    ("force", "1.0.0", SERIES, [], True, "1.0.0"),
    ("minor", "1.1.0", SERIES, [], True, "1.1.0"),
    ("minor", "2.0.0", SERIES, [], True, "2.0.0"),
    ("minor", "1.2.0", SERIES, [], True, None),
    ("major", "1.0.0", SERIES, [{"semver": "<2"}], True, "1.1.0"),
    ("major", "1.0.0", SERIES, [{"semver": "<2"}, {"regex": "!^1\\.1"}], True, "1.0.1"),
    ("minor", "1.0.0", [], [], True, None),
    ("minor", "1.0.0", ["1.0.0"], [], True, "1.0.0"),
    # staying put does not have to pass the filters
    ("minor", "1.0.0", ["1.0.0", "1.1.0"], [{"semver": ">=2"}], True, "1.0.0"),
    # pre-release tracks
    ("minor", "1.0.0", ["1.0.0", "1.1.0-rc1", "1.0.1"], [], True, "1.0.1"),
    ("minor", "1.0.0", ["1.0.0", "1.1.0-rc1", "1.0.1"], [], False, "1.1.0-rc1"),
    ("minor", "1.1.0-rc1", ["1.1.0-rc2", "1.1.0", "1.1.0-beta"], [], True, "1.1.0-rc2"),
    ("minor", "1.1.0-rc1", ["1.1.0-rc2", "1.1.0", "1.1.0-beta"], [], False, "1.1.0"),
    ("all", "1.0.0", ["1.1.0-rc1", "1.0.1"], [], True, "1.1.0-rc1"),
    # equal versions: current wins, else the lexicographically smallest tag
    ("minor", "1.4.0", ["1.4", "1.4.0", "v1.4.0"], [], True, "1.4.0"),
    ("minor", "1.4", ["1.4", "1.4.0", "v1.4.0"], [], True, "1.4"),
    ("minor", "1.3.0", ["v1.4.0", "1.4", "1.4.0+b.2", "1.4.0"], [], True, "1.4"),
    # non-versions
    ("minor", "1.0.0", ["1.0.0", "stable", "latest"], [], True, "1.0.0"),
    ("minor", "stable", ["stable", "1.0.0", "2.0.0"], [], True, "stable"),
    ("minor", "stable", ["1.0.0", "2.0.0"], [], True, None),
    ("minor", "latest", ["latest", "1.0.0", "2.0.0-rc1", "edge"], [], True, "2.0.0-rc1"),
    ("minor", "latest", ["latest", "edge"], [], True, "latest"),
    ("force", "latest", ["latest", "1.0.0"], [], True, "latest"),
    # glob/regexp: the greatest newer matching version, else the newest in natural order
    ("glob:release-*", "release-1", ["release-1", "release-2", "other-9"], [], True, "release-2"),
    ("glob:release-*", "release-1", ["release-9", "release-10"], [], True, "release-10"),
    ("glob:release-*", "release-11", ["release-9", "release-10"], [], True, None),
    ("glob:release-*", None, ["release-9", "release-10", "other-11"], [], True, "release-10"),
    ("glob:*", None, ["nightly", "1.0.0", "0.9.0"], [], True, "1.0.0"),
    ("regexp:^b-", None, ["b-2", "b-10", "a-99"], [{"regex": "!10"}], True, "b-2"),
    ("glob:v*", "latest", ["v1.2.0", "v1.10.0", "v1.9.0", "1.11.0"], [], True, "v1.10.0"),
    ("glob:*", "latest", ["nightly", "1.0.0"], [], True, "1.0.0"),
    ("glob:1.*", "1.4.0", ["1.3.0", "1.2.0"], [], True, None),
    ("glob:1.*", "1.4.0", ["1.3.0", "1.4.0"], [], True, "1.4.0"),
    ("glob:*", "1.4.0", ["nightly"], [], True, None),
    ("regexp:-alpine$", "1.0-alpine", ["1.0-alpine", "1.2-alpine", "1.3"], [], True, "1.2-alpine"),
    ("regexp:^main-", "main-aaa", ["main-bbb", "main-ccc", "dev-zzz"], [], True, "main-ccc"),
]


@pytest.mark.parametrize(
    ("policy", "current", "tags", "specs", "match_prerelease", "expected"), NEWEST
)
def test_newest_eligible(
    policy: str,
    current: str | None,
    tags: list[str],
    specs: list[dict[str, str]],
    match_prerelease: bool,
    expected: str | None,
) -> None:
    filters = [parse_filter(spec) for spec in specs]
    found = newest_eligible(
        policy, current, tags, filters=filters, match_prerelease=match_prerelease
    )
    assert found == expected
    assert newest_eligible(
        policy, current, reversed(tags), filters=filters, match_prerelease=match_prerelease
    ) == (expected)


def test_newest_eligible_refuses_one_string() -> None:
    with pytest.raises(TypeError):
        newest_eligible("minor", "1.0.0", "1.1.0")


# --- properties --------------------------------------------------------------------------------

VERSION_POLICIES = ["all", "major", "minor", "patch"]
POLICIES = [*VERSION_POLICIES, "force", "glob:*", "glob:1.*", "glob:v*", "regexp:rc", "regexp:^2"]
PRERELEASES = ["rc1", "rc2", "rc.1", "rc.2", "beta", "beta.2", "alpha", "1", "2"]

versions = st.builds(
    lambda prefix, major, minor, patch, pre, build: (
        f"{prefix}{major}.{minor}{'' if patch is None else f'.{patch}'}"
        f"{f'-{pre}' if pre else ''}{f'+{build}' if build else ''}"
    ),
    st.sampled_from(["", "v", "V"]),
    st.integers(0, 3),
    st.integers(0, 3),
    st.none() | st.integers(0, 3),
    st.none() | st.sampled_from(PRERELEASES),
    st.none() | st.sampled_from(["build.5", "b1"]),
)
tags = versions | st.sampled_from(["latest", "stable", "edge", "1", "01.2.3", "release-1"])
filter_specs = st.lists(
    st.sampled_from(
        [{"semver": ">=1.1 <3"}, {"semver": "!=2.0.0"}, {"regex": "!rc"}, {"regex": "^v"}]
    ),
    max_size=2,
)


def _filters(specs: list[dict[str, str]]) -> list[TagFilter]:
    return [parse_filter(spec) for spec in specs]


@given(
    policy=st.sampled_from(POLICIES),
    current=versions,
    candidates=st.lists(tags, max_size=8),
    specs=filter_specs,
    match_prerelease=st.booleans(),
)
def test_newest_eligible_never_goes_below_a_version(
    policy: str,
    current: str,
    candidates: list[str],
    specs: list[dict[str, str]],
    match_prerelease: bool,
) -> None:
    found = newest_eligible(
        policy, current, candidates, filters=_filters(specs), match_prerelease=match_prerelease
    )
    floor = parse_version(current)
    assert floor is not None
    version = None if found is None else parse_version(found)
    assert version is None or version >= floor
    assert found is None or found in candidates
    if current in candidates:
        assert found is not None


@given(
    policy=st.sampled_from(POLICIES),
    current=tags,
    candidates=st.lists(tags, max_size=8),
    specs=filter_specs,
    match_prerelease=st.booleans(),
    data=st.data(),
)
def test_newest_eligible_ignores_the_order_of_tags(
    policy: str,
    current: str,
    candidates: list[str],
    specs: list[dict[str, str]],
    match_prerelease: bool,
    data: st.DataObject,
) -> None:
    filters = _filters(specs)
    shuffled = data.draw(st.permutations(candidates))
    found = newest_eligible(
        policy, current, candidates, filters=filters, match_prerelease=match_prerelease
    )
    assert found == newest_eligible(
        policy, current, shuffled, filters=filters, match_prerelease=match_prerelease
    )
    assert found is None or found in candidates


@given(
    policy=st.sampled_from(VERSION_POLICIES),
    tag=versions,
    match_prerelease=st.booleans(),
)
def test_a_version_never_updates_to_itself(policy: str, tag: str, match_prerelease: bool) -> None:
    assert not should_update(policy, tag, tag, match_prerelease=match_prerelease)


@given(
    policy=st.sampled_from(VERSION_POLICIES),
    current=versions,
    candidate=versions,
    match_prerelease=st.booleans(),
)
def test_version_policies_only_move_up(
    policy: str, current: str, candidate: str, match_prerelease: bool
) -> None:
    if should_update(policy, current, candidate, match_prerelease=match_prerelease):
        old, new = parse_version(current), parse_version(candidate)
        assert old is not None and new is not None
        assert new > old
        assert should_update("all", current, candidate)


# --- ordering tags, and what no stored tag can do ----------------------------------------------

tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
run_tags = st.builds(
    "".join,
    st.lists(st.sampled_from(["build", "-", ".", "rc", "0", "9", "10", "2025"]), max_size=6),
).filter(bool)


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("build-10", "build-9", 1),
        ("build-9", "build-10", -1),
        ("latest.20251321", "latest.20241321", 1),
        ("1.10.0", "1.9.0", 1),
        ("v1.4", "1.4.0", 0),
        ("main-abc", "main-aaa", 1),
        ("release-1a", "release-1", 1),
        ("build-09", "build-9", -1),
        ("1.4.0", "nightly", None),
        ("build-x", "build-10", None),
        ("1.0." + "9" * 5000, "1.0.0", None),
    ],
)
def test_compare_tags(a: str, b: str, order: int | None) -> None:
    assert compare_tags(a, b) == order
    assert compare_tags(b, a) == (None if order is None else -order)


@given(a=st.one_of(tags, run_tags), b=st.one_of(tags, run_tags), c=st.one_of(tags, run_tags))
def test_compare_tags_is_an_order_where_it_orders(a: str, b: str, c: str) -> None:
    ab, ba = compare_tags(a, b), compare_tags(b, a)
    assert (ab is None) == (ba is None)
    if ab is not None and ba is not None:
        assert ab == -ba
    if compare_tags(a, b) == 1 and compare_tags(b, c) == 1:
        assert compare_tags(a, c) in (1, None)


@given(
    policy=st.sampled_from(["glob:*", "glob:build*", "regexp:.", "regexp:^[0-9]"]),
    current=st.one_of(tags, run_tags),
    candidate=st.one_of(tags, run_tags),
)
def test_glob_and_regexp_never_move_backwards(policy: str, current: str, candidate: str) -> None:
    verdict = judge_tag(policy, current, candidate)
    if verdict.update and current != "latest":
        assert compare_tags(candidate, current) == 1, verdict.reason


@pytest.mark.parametrize(
    "policy", ["all", "major", "minor", "patch", "force", "glob:*", "regexp:1"]
)
def test_a_tag_of_thousands_of_digits_is_simply_not_a_version(policy: str) -> None:
    poison = "1.0." + "7" * 5000
    assert parse_version(poison) is None
    assert not judge_tag(policy, "1.0.0", poison).update
    assert newest_eligible(policy, "1.0.0", [poison, "1.0.0"]) == "1.0.0"
