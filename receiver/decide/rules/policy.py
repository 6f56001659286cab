"""Update policies: whether a workload running one tag should move to another (pure, no I/O).

``judge_tag`` decides one push and says why, for the audit log; ``parse_filter`` builds tag filters
(``{"semver": ">=1.2 <2"}``, ``{"regex": "!-debug$"}``); ``newest_eligible`` picks the tag to
catch up to when auto-deploy is switched back on or a lost notification is reconciled.

What makes a tag a version, and how tags are ordered, is ``receiver.decide.rules.versions``;
regexp policies and regex filters run with RE2 (``receiver.decide.rules.patterns``), so matching
takes time linear in the tag whatever the pattern.

Glob and regexp policies move forward only: a matching tag must be newer than the running one
(``compare_tags``: as versions, else in natural order), and one that cannot be ordered against
it is a skip. Only a pin goes back.
"""

from __future__ import annotations

import enum
import fnmatch
import re  # for the project's own patterns; users' patterns run with RE2 (``patterns``)
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import semver

from receiver.decide.rules.patterns import compile_pattern
from receiver.decide.rules.versions import (
    compare_tags,
    natural_key,
    parse_version,
    prerelease_label,
    read_version,
)
from receiver.errors import PolicyError

LATEST = "latest"


class PolicyKind(enum.StrEnum):
    ALL = "all"
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"
    FORCE = "force"
    GLOB = "glob"
    REGEXP = "regexp"


_PATTERN_KINDS = frozenset({PolicyKind.GLOB, PolicyKind.REGEXP})
#: The longest policy or tag filter, in characters: what a person writes is far shorter, and
#: every reason that quotes one stays short.
MAX_POLICY = 1024
_EXPECTED = "all, major, minor, patch, force, glob:PATTERN or regexp:PATTERN"
_REGEXP_POLICY = "regexp policy"
_REGEX_FILTER = "regex filter"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A validated policy; ``pattern`` is set for glob and regexp only."""

    kind: PolicyKind
    pattern: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}" if self.kind in _PATTERN_KINDS else str(self.kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyVerdict:
    update: bool
    reason: str


def parse_policy(text: str) -> Policy:
    """Validate a policy: kind names are case-insensitive, the pattern is kept as written; at
    most ``MAX_POLICY`` characters."""
    if len(text) > MAX_POLICY:
        raise PolicyError(f"a policy of {len(text)} characters, more than {MAX_POLICY}")
    name, colon, pattern = text.strip().partition(":")
    try:
        kind = PolicyKind(name.strip().lower())
    except ValueError:
        raise PolicyError(f"unknown policy {text!r} (expected {_EXPECTED})") from None
    if kind not in _PATTERN_KINDS:
        if colon:
            raise PolicyError(f"policy {kind} takes no pattern, got {text!r}")
        return Policy(kind=kind)
    if not pattern:
        raise PolicyError(f"policy {kind} needs a pattern, as in {kind}:PATTERN")
    if kind is PolicyKind.REGEXP:
        compile_pattern(pattern, what=_REGEXP_POLICY)
    return Policy(kind=kind, pattern=pattern)


def should_update(
    policy: str | Policy, current: str, candidate: str, *, match_prerelease: bool = True
) -> bool:
    """Whether a workload running ``current`` moves to ``candidate``; see ``judge_tag``."""
    return judge_tag(policy, current, candidate, match_prerelease=match_prerelease).update


def judge_tag(
    policy: str | Policy, current: str, candidate: str, *, match_prerelease: bool = True
) -> PolicyVerdict:
    """Decide whether a workload running ``current`` moves to ``candidate``, and say why.

    ``match_prerelease`` keeps major/minor/patch workloads on their pre-release track (a release
    never moves to a pre-release or back; pre-releases move only within the same label). The
    ``all`` policy ignores it. Raises ``PolicyError`` when ``policy`` is invalid.
    """
    rule = policy if isinstance(policy, Policy) else parse_policy(policy)
    if rule.kind is PolicyKind.FORCE:
        return _judge_force(current, candidate)
    if rule.kind in _PATTERN_KINDS:
        return _judge_pattern(rule, current, candidate)
    return _judge_version(rule.kind, current, candidate, match_prerelease=match_prerelease)


def _judge_force(current: str, candidate: str) -> PolicyVerdict:
    if candidate == current:
        return PolicyVerdict(
            update=True, reason=f"tag {candidate} is the running tag (policy force)"
        )
    return PolicyVerdict(update=False, reason=f"force follows only tag {current}")


def _judge_pattern(rule: Policy, current: str, candidate: str) -> PolicyVerdict:
    """A matching tag moves a workload forward only: a glob or regexp says which tags are
    candidates, not that an older one may replace a newer one."""
    pattern = f"{rule.kind} {rule.pattern!r}"
    if not _matches(rule, candidate):
        return PolicyVerdict(update=False, reason=f"tag {candidate} does not match {pattern}")
    if current == LATEST:
        return PolicyVerdict(
            update=True, reason=f"running latest: tag {candidate} matches {pattern}"
        )
    order = compare_tags(candidate, current)
    if order is None:
        return PolicyVerdict(
            update=False,
            reason=f"tag {candidate} matches {pattern} but cannot be ordered against "
            f"running {current}",
        )
    if order <= 0:
        return PolicyVerdict(
            update=False,
            reason=f"tag {candidate} matches {pattern} but is not newer than running {current}",
        )
    return PolicyVerdict(
        update=True, reason=f"tag {candidate} matches {pattern} and is newer than running {current}"
    )


def _matches(rule: Policy, tag: str) -> bool:
    if rule.kind is PolicyKind.GLOB:
        return fnmatch.fnmatchcase(tag, rule.pattern)
    return compile_pattern(rule.pattern, what=_REGEXP_POLICY).search(tag)


def _judge_version(
    kind: PolicyKind, current: str, candidate: str, *, match_prerelease: bool
) -> PolicyVerdict:
    if current == LATEST:
        return PolicyVerdict(update=True, reason="running latest: any new image updates")
    problem = _version_problem(kind, current, candidate, match_prerelease=match_prerelease)
    if problem:
        return PolicyVerdict(update=False, reason=problem)
    return PolicyVerdict(update=True, reason=f"{candidate} is newer than running {current}")


def _version_problem(
    kind: PolicyKind, current: str, candidate: str, *, match_prerelease: bool
) -> str:
    """Why a workload running version ``current`` stays put under ``kind``, or ``""``."""
    new, old = parse_version(candidate), parse_version(current)
    if new is None:
        return f"{candidate} is not a version (policy {kind})"
    if old is None:
        return f"running {current} is not a version (policy {kind})"
    if new < old:
        return f"{candidate} is lower than running {current}"
    if new == old and candidate == current:
        return f"{candidate} is the running version"
    if new == old:
        return f"{candidate} is the same version as running {current}"
    if problem := _outside_range(kind, old, new):
        return f"{candidate} is {problem} (policy {kind})"
    if match_prerelease and kind is not PolicyKind.ALL:
        return _off_track(old, new, current=current, candidate=candidate)
    return ""


def _outside_range(kind: PolicyKind, old: semver.Version, new: semver.Version) -> str:
    """Why ``new`` (greater than ``old``) is beyond what ``kind`` allows, or ``""``."""
    if kind in (PolicyKind.MINOR, PolicyKind.PATCH) and new.major != old.major:
        return "a new major version"
    if kind is PolicyKind.PATCH and new.minor != old.minor:
        return "a new minor version"
    return ""


def _off_track(old: semver.Version, new: semver.Version, *, current: str, candidate: str) -> str:
    """Why moving from ``old`` to ``new`` leaves the pre-release track, or ``""``."""
    if new.prerelease and not old.prerelease:
        return f"tag {candidate} is a pre-release"
    if old.prerelease and not new.prerelease:
        return f"{candidate} is a release and running {current} is a pre-release"
    if new.prerelease and old.prerelease:
        new_label, old_label = prerelease_label(new), prerelease_label(old)
        if new_label != old_label:
            return (
                f"{candidate} is on pre-release track {new_label!r}, "
                f"running {current} on {old_label!r}"
            )
    return ""


# --- tag filters -------------------------------------------------------------------------------


class FilterKind(enum.StrEnum):
    SEMVER = "semver"
    REGEX = "regex"


# The orders (``Version.compare``: -1, 0, 1) each comparison operator accepts.
_OPERATORS: dict[str, frozenset[int]] = {
    ">=": frozenset({0, 1}), "<=": frozenset({-1, 0}), ">": frozenset({1}), "<": frozenset({-1}),
    "==": frozenset({0}), "=": frozenset({0}), "!=": frozenset({-1, 1}),
}  # fmt: skip
_COMPARATOR = re.compile(r"(?P<op>>=|<=|==|!=|>|<|=)?(?P<version>.+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparator:
    """One bound of a semver filter, such as ``>=1.2.0``."""

    operator: str
    version: semver.Version

    def holds(self, version: semver.Version) -> bool:
        return version.compare(self.version) in _OPERATORS[self.operator]


@dataclass(frozen=True, slots=True, kw_only=True)
class TagFilter:
    """A filter on tags: all ``comparators`` hold (semver), or ``pattern`` is found (regex).

    An ``inverted`` regex filter allows the tags the pattern is *not* found in. A tag that is not
    a version never passes a semver filter. ``spec`` is the text as configured.
    """

    kind: FilterKind
    spec: str
    comparators: tuple[Comparator, ...] = ()
    pattern: str = ""
    inverted: bool = False

    def allows(self, tag: str) -> bool:
        if self.kind is FilterKind.REGEX:
            return self._found(tag) != self.inverted
        version = parse_version(tag)
        return version is not None and all(bound.holds(version) for bound in self.comparators)

    def describe(self, tag: str) -> str:
        """A sentence for the audit log saying whether and why ``tag`` passes this filter."""
        if self.kind is FilterKind.SEMVER:
            if parse_version(tag) is None:
                return f"tag {tag} is not a version ({self})"
            return f"tag {tag} is {'within' if self.allows(tag) else 'outside'} {self}"
        found = self._found(tag)
        excluded = "excluded " if self.inverted else ""
        verb = "matches" if found else "does not match"
        return f"tag {tag} {verb} {excluded}regex {self.pattern!r}"

    def _found(self, tag: str) -> bool:
        return compile_pattern(self.pattern, what=_REGEX_FILTER).search(tag)

    def __str__(self) -> str:
        return f"{self.kind} {self.spec}"


def parse_filter(spec: Mapping[str, str]) -> TagFilter:
    """Validate a filter given as ``{"semver": ">=1.2 <2"}`` or ``{"regex": "[!]PATTERN"}``.

    Semver comparators are separated by spaces or commas; a bare version means ``==``. Bounds
    may be one-part (``<2`` is ``<2.0.0``), unlike tags.
    """
    if len(spec) != 1:
        keys = ", ".join(map(repr, spec)) or "none"
        raise PolicyError(f"a tag filter needs exactly one of semver, regex; got {keys}")
    [(key, value)] = spec.items()
    try:
        kind = FilterKind(key)
    except ValueError:
        raise PolicyError(f"unknown tag filter {key!r} (expected semver or regex)") from None
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"tag filter {key} needs a non-empty string, got {reprlib.repr(value)}")
    if len(value) > MAX_POLICY:
        raise PolicyError(f"tag filter {key} of {len(value)} characters, more than {MAX_POLICY}")
    if kind is FilterKind.SEMVER:
        return TagFilter(kind=kind, spec=value.strip(), comparators=_parse_range(value))
    inverted = value.startswith("!")
    pattern = value[1:] if inverted else value
    if not pattern:
        raise PolicyError(f"tag filter regex {value!r} has an empty pattern")
    compile_pattern(pattern, what=_REGEX_FILTER)
    return TagFilter(kind=kind, spec=value, pattern=pattern, inverted=inverted)


def _parse_range(text: str) -> tuple[Comparator, ...]:
    joined = re.sub(r"(>=|<=|==|!=|>|<|=)\s+", r"\1", text.strip())
    return tuple(_parse_comparator(token, text) for token in re.split(r"[\s,]+", joined) if token)


def _parse_comparator(token: str, text: str) -> Comparator:
    match = _COMPARATOR.fullmatch(token)
    version = read_version(match["version"], one_part=True) if match else None
    if match is None or version is None:
        raise PolicyError(f"semver filter {text!r}: {token!r} is not a version comparator")
    return Comparator(operator=match["op"] or "==", version=version)


# --- catching up -------------------------------------------------------------------------------


def newest_eligible(
    policy: str | Policy,
    current: str | None,
    tags: Iterable[str],
    *,
    filters: Sequence[TagFilter] = (),
    match_prerelease: bool = True,
) -> str | None:
    """The newest tag a workload running ``current`` should run, among ``tags``.

    Eligible are ``current`` itself (if among ``tags``; filters do not apply to staying put) and
    every tag that passes all ``filters`` and that ``should_update`` allows. When ``current`` is
    a version, eligible versions lower than it are dropped whatever the policy. ``current``
    None (nothing runs) is for glob and regexp: every matching tag that passes the filters is
    eligible. Among the eligible tags, versions rank above other tags; the greatest version
    wins, ties between equal versions (``1.4``, ``1.4.0``) go to ``current``, else to the
    lexicographically smallest tag; with no versions the newest tag in natural order wins
    (``build-10`` over ``build-9``). None when nothing is eligible.
    """
    if isinstance(tags, str):
        raise TypeError("tags must be a collection of tags, not one string")
    rule = policy if isinstance(policy, Policy) else parse_policy(policy)
    if current is None:
        if rule.kind not in _PATTERN_KINDS:
            raise ValueError(f"policy {rule} needs the running tag to pick the newest")
        passing = (tag for tag in tags if all(f.allows(tag) for f in filters))
        return _newest({tag for tag in passing if _matches(rule, tag)}, current=None)
    floor = parse_version(current)
    eligible = {
        tag
        for tag in tags
        if tag == current
        or (
            all(tag_filter.allows(tag) for tag_filter in filters)
            and should_update(rule, current, tag, match_prerelease=match_prerelease)
        )
    }
    if floor is not None:
        eligible = {tag for tag in eligible if not _below(tag, floor)}
    return _newest(eligible, current=current)


def _below(tag: str, floor: semver.Version) -> bool:
    version = parse_version(tag)
    return version is not None and version < floor


def _newest(tags: set[str], *, current: str | None) -> str | None:
    versions = [(version, tag) for tag in tags if (version := parse_version(tag)) is not None]
    if not versions:
        return max(tags, key=natural_key, default=None)
    top = max(version for version, _ in versions)
    tied = {tag for version, tag in versions if version == top}
    return current if current in tied else min(tied)
