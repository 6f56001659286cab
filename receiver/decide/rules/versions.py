"""Tags as versions, and how tags are ordered (pure, no I/O).

A tag is a version when it parses as semver after an optional ``v``/``V``, with two or three
numeric parts (``1.4`` is ``1.4.0``); build metadata is ignored for ordering; ``1`` and
``01.2.3`` are not versions, nor is anything longer than a tag can be (128 characters) or with
a number of more than 20 digits: parsing stays bounded whatever a stored event holds. Ordering
is plain semver precedence, so ``rc10`` sorts before ``rc9`` (``rc.10`` sorts numerically). A
pre-release's track (label) is the leading letters of its first identifier: ``rc.1`` and
``rc1`` are on ``rc``, ``1`` on ``""``; labels are case-sensitive, as semver identifiers are.

Tags that are not versions are ordered naturally (``compare_tags``): ``build-10`` after
``build-9``.
"""

from __future__ import annotations

import re

import semver

MAX_TAG = 128  # characters in a tag (the distribution reference grammar)
_NUM = r"(?:0|[1-9][0-9]{0,19})"
_IDENT = r"(?:0|[1-9][0-9]{0,19}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_VERSION = re.compile(
    rf"[vV]?(?P<major>{_NUM})(?:\.(?P<minor>{_NUM})(?:\.(?P<patch>{_NUM}))?)?"
    rf"(?:-(?P<prerelease>{_IDENT}(?:\.{_IDENT})*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_LABEL = re.compile(r"[A-Za-z]*")
# A tag in natural order: runs of digits (numbers) and single other characters.
_RUNS = re.compile(r"[0-9]+|[^0-9]")


def parse_version(tag: str) -> semver.Version | None:
    """The version a tag names, or None: ``v1.4``, ``1.4.0-rc.1+build.5``; not ``1``."""
    return read_version(tag, one_part=False)


def compare_tags(a: str, b: str) -> int | None:
    """-1, 0 or 1 as tag ``a`` is older than, as new as, or newer than tag ``b``; None when
    they cannot be ordered.

    Two versions compare as versions. Two other tags compare in natural order: runs of digits
    as numbers, other characters as themselves, the first that differs decides (``build-10``
    is newer than ``build-9``, ``latest.20251321`` than ``latest.20241321``), and a tag that
    extends another is newer. A version and another tag, two tags that first differ where one
    has a number and the other a letter, and anything longer than a tag cannot be ordered.
    """
    if a == b:
        return 0
    if len(a) > MAX_TAG or len(b) > MAX_TAG:
        return None
    va, vb = parse_version(a), parse_version(b)
    if va is not None and vb is not None:
        return va.compare(vb)
    if va is not None or vb is not None:
        return None
    return _natural_order(_RUNS.findall(a), _RUNS.findall(b))


def _natural_order(a: list[str], b: list[str]) -> int | None:
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return _sign(int(x) - int(y)) or _sign(len(y) - len(x))  # "09" before "9"
        if x.isdigit() or y.isdigit():
            return None  # a number against a letter
        return -1 if x < y else 1
    return _sign(len(a) - len(b))


def natural_key(tag: str) -> list[tuple[int, int | str]]:
    """A total order that agrees with ``compare_tags`` wherever two tags can be ordered."""
    return [(0, int(run)) if run.isdigit() else (1, run) for run in _RUNS.findall(tag[:MAX_TAG])]


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def prerelease_label(version: semver.Version) -> str:
    """The track of a pre-release: the leading letters of its first identifier."""
    first = (version.prerelease or "").split(".")[0]
    match = _LABEL.match(first)
    return match.group() if match else ""


def read_version(text: str, *, one_part: bool) -> semver.Version | None:
    """``parse_version``, and with ``one_part`` a bare major (``2``) too, as filter bounds are."""
    if len(text) > MAX_TAG:
        return None
    match = _VERSION.fullmatch(text)
    if match is None or (match["minor"] is None and not one_part):
        return None
    major, minor, patch = (int(match[part] or 0) for part in ("major", "minor", "patch"))
    return semver.Version(major, minor, patch, match["prerelease"], match["build"])
