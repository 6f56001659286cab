"""Users' regular expressions run with RE2: no pattern can stall the event loop, and one RE2
cannot run is refused with a message that says so.

The catastrophic patterns below take Python's ``re`` time exponential in the tag: about 3 s
for ``^([a-z0-9]+-?)+$`` on a 26-character tag that almost matches, twice that per character
more, so far beyond hours at 128 characters (``test_the_inputs_are_catastrophic_for_re`` shows
it in a subprocess). RE2 matches in time linear in the tag, so a bound of 0.2 s per call is
generous by orders of magnitude (a call takes microseconds).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.config import loading as configuration
from receiver.decide.rules.patterns import compile_pattern
from receiver.decide.rules.policy import judge_tag, newest_eligible, parse_filter, parse_policy
from receiver.decide.rules.versions import MAX_TAG
from receiver.errors import ConfigError, PolicyError

BOUND = 0.2  # seconds per call
CATASTROPHIC = ["^([a-z0-9]+-?)+$", "(a|aa)+$", "(a*)*b", "(x+x+)+y", "^(\\w+\\.?)*$"]
ENDINGS = ["!", ".", "_", "-", "b", "y", ""]


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _adversarial(fill: str, length: int, ending: str) -> str:
    """A run of ``fill`` that almost matches, spoiled by ``ending``: ``length`` characters."""
    return (fill * length)[: length - len(ending)] + ending


# Patterns built from pieces that backtrack: groups of quantified groups, overlapping
# alternatives, with and without anchors.
_PIECES = st.sampled_from(["a", "x", "aa", "[a-z0-9]", "[a-z]+-?", ".", "\\w", "a|aa", "x+x+"])


def _nest(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "*", "?"]), st.sampled_from(["(", "(?:"])).map(
            lambda t: f"{t[2]}{t[0]}){t[1]}"
        ),
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map(lambda t: f"(?:{t[0]}|{t[1]})"),
    )


generated = st.tuples(
    st.sampled_from(["", "^"]),
    st.recursive(_PIECES, _nest, max_leaves=6),
    st.sampled_from(["", "$", "b", "y", "!$"]),
).map("".join)
patterns = st.one_of(st.sampled_from(CATASTROPHIC), generated)
adversarial_tags = st.builds(
    _adversarial,
    st.sampled_from(["a", "x", "0", "a-", "ab"]),
    st.integers(min_value=len("a!"), max_value=MAX_TAG),
    st.sampled_from(ENDINGS),
)


@settings(max_examples=150, deadline=None)
@given(pattern=patterns, tag=adversarial_tags, inverted=st.booleans())
def test_no_pattern_takes_long_on_any_tag(pattern: str, tag: str, inverted: bool) -> None:
    policy = f"regexp:{pattern}"
    tag_filter = parse_filter({"regex": f"{'!' if inverted else ''}{pattern}"})
    calls: dict[str, Callable[[], object]] = {
        "judge_tag running latest": lambda: judge_tag(policy, "latest", tag),
        "judge_tag running a version": lambda: judge_tag(policy, "1.0.0", tag),
        "filter allows": lambda: tag_filter.allows(tag),
        "filter describes": lambda: tag_filter.describe(tag),
    }
    for name, call in calls.items():
        seconds = _seconds(call)
        assert seconds < BOUND, f"{name}: {seconds:.3f} s for {pattern!r} on {tag!r}"


@settings(max_examples=40, deadline=None)
@given(
    pattern=patterns,
    fill=st.sampled_from(["a", "x", "0", "a-"]),
    ending=st.sampled_from(ENDINGS),
)
def test_picking_the_newest_of_fifty_adversarial_tags_takes_no_time(
    pattern: str, fill: str, ending: str
) -> None:
    tags = [_adversarial(fill, length, ending) for length in range(MAX_TAG - 49, MAX_TAG + 1)]
    assert len(set(tags)) == 50 and max(map(len, tags)) == MAX_TAG
    filters = [parse_filter({"regex": pattern}), parse_filter({"regex": f"!{pattern}x"})]
    for current in (None, "latest", tags[0]):
        pick = functools.partial(newest_eligible, f"regexp:{pattern}", current, tags)
        seconds = _seconds(functools.partial(pick, filters=filters))
        assert seconds < BOUND, f"{seconds:.3f} s for {pattern!r} over {len(tags)} tags"


def test_the_inputs_are_catastrophic_for_re() -> None:
    """What RE2 answers at once, Python's ``re`` does not answer within a second on a tag of
    only 40 characters (each character more doubles its time)."""
    tag = _adversarial("a", 40, ".")
    assert not judge_tag(f"regexp:{CATASTROPHIC[0]}", "latest", tag).update
    script = f"import re; re.search({CATASTROPHIC[0]!r}, {tag!r})"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", script], timeout=1, check=False)


# --- what RE2 cannot run -----------------------------------------------------------------------

UNSUPPORTED = [
    pytest.param("(a)\\1", "invalid escape sequence: \\1", id="backreference"),
    pytest.param("(?P<n>a)(?P=n)", "invalid perl operator: (?P", id="named-backreference"),
    pytest.param("^(?=v)", "invalid perl operator: (?=", id="lookahead"),
    pytest.param("^(?!x)", "invalid perl operator: (?!", id="negative-lookahead"),
    pytest.param("(?<!x)-debug", "invalid perl operator: (?<!", id="lookbehind"),
    pytest.param("(?>a+)b", "invalid perl operator: (?>", id="atomic-group"),
    pytest.param("a++b", "bad repetition operator: ++", id="possessive"),
    pytest.param("^v\\Z", "invalid escape sequence: \\Z; write $ instead", id="end-of-text"),
    pytest.param(
        "^v{,3}$", "{,3} repeats in Python but is text to RE2: write {0,3}", id="repeat-at-most"
    ),
    pytest.param(
        "[[:alpha:]]",
        "POSIX class [:alpha:], which Python's re does not have: list the characters",
        id="posix",
    ),
]
TAIL = (
    "patterns run on RE2, which has no backreferences, lookahead or lookbehind, atomic groups "
    "or possessive quantifiers"
)


@pytest.mark.parametrize(("pattern", "detail"), UNSUPPORTED)
def test_a_pattern_re2_cannot_run_is_a_policy_error_that_says_so(pattern: str, detail: str) -> None:
    words = "uses a construct RE2 does not support"
    with pytest.raises(PolicyError) as policy:
        parse_policy(f"regexp:{pattern}")
    assert str(policy.value) == f"regexp policy {pattern!r} {words} ({detail}): {TAIL}"
    with pytest.raises(PolicyError) as tag_filter:
        parse_filter({"regex": f"!{pattern}"})
    assert str(tag_filter.value).startswith(f"regex filter {pattern!r} {words} ({detail})")


def test_the_message_for_a_backreference_in_full() -> None:
    with pytest.raises(PolicyError) as caught:
        judge_tag("regexp:^(v)\\1", "v1", "v2")
    assert str(caught.value) == (
        "regexp policy '^(v)\\\\1' uses a construct RE2 does not support (invalid escape "
        "sequence: \\1): patterns run on RE2, which has no backreferences, lookahead or "
        "lookbehind, atomic groups or possessive quantifiers"
    )


def test_a_pattern_python_cannot_read_is_invalid_as_before() -> None:
    with pytest.raises(PolicyError, match=r"^invalid regexp policy 'x\(': missing \)"):
        parse_policy("regexp:x(")
    with pytest.raises(PolicyError, match=r"^invalid regexp policy '\\\\z': bad escape"):
        parse_policy("regexp:\\z")  # RE2's own end of text: not Python's language


def test_the_configuration_names_the_key_of_a_pattern_re2_cannot_run() -> None:
    raw = {
        "database": {"url": "postgresql://localhost/regdeploy"},
        "sources": [{"name": "registry", "format": "distribution", "token": "t"}],
        "repositories": [
            {
                "name": "team/app",
                "image": "reg.test:5000/team/app",
                "policy": "regexp:^(?=v)",
                "filters": [{"regex": "(a)\\1"}],
            }
        ],
    }
    with pytest.raises(ConfigError) as caught:
        configuration.parse(raw, env={})
    unsupported = [p for p in caught.value.problems if "RE2 does not support" in p]
    assert [p.split(" uses ")[0] for p in unsupported] == [
        "repositories[0].policy: regexp policy '^(?=v)'",
        "repositories[0].filters[0]: regex filter '(a)\\\\1'",
    ]


# --- what RE2 keeps of Python's semantics ------------------------------------------------------

valid_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
USUAL = [
    "^v[0-9]", "^v\\d+\\.\\d+$", "alpine", "-debug$", "(?i)RC", "^[0-9]+(\\.[0-9]+){2}$",
    "\\bbeta\\b", "^main-", "\\w+-\\d", "^(?P<major>\\d+)\\.", "[^a-z]", "^$", "a|b.c", "\\.",
    "(?i:Build)-[0-9]{2,}", "\\s", "^[A-Z_]+$", "v1\\.x?", "(?s).", "\\D\\W",
]  # fmt: skip


@given(pattern=st.sampled_from(USUAL), tag=valid_tags)
def test_re2_finds_in_a_tag_what_re_search_finds(pattern: str, tag: str) -> None:
    assert compile_pattern(pattern, what="regexp policy").search(tag) == (
        re.search(pattern, tag) is not None
    )


def test_search_is_search_not_fullmatch() -> None:
    assert judge_tag("regexp:alpine", "1.0-alpine", "1.1-alpine").update
    assert parse_filter({"regex": "rc"}).allows("1.0-rc.1")


def test_text_longer_than_a_tag_never_matches() -> None:
    pattern = compile_pattern("a", what="regex filter")
    assert pattern.search("a" * MAX_TAG)
    assert not pattern.search("a" * (MAX_TAG + 1))


def test_a_pattern_is_compiled_once() -> None:
    first = compile_pattern("^v[0-9]+$", what="regexp policy")
    assert compile_pattern("^v[0-9]+$", what="regexp policy") is first
