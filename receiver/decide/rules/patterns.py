"""Regular expressions that users write (``regexp:`` policies, ``regex`` tag filters), run with
RE2 so that a match takes time linear in the tag whatever the pattern (pure, no I/O).

Python's ``re`` backtracks: a pattern such as ``^([a-z0-9]+-?)+$`` takes time exponential in
the length of a tag it almost matches, and a policy may come from an API token or a workload's
label. RE2 does not backtrack, and so has none of the constructs that need it: a pattern with a
backreference, a lookahead or lookbehind, an atomic group or a possessive quantifier is refused.
A pattern must be valid for Python's ``re`` too, so the language stays the one users know, and
one that the two read differently (``x{,3}``, ``[[:alpha:]]``) is refused rather than matched
otherwise than written. Every other pattern finds what ``re.search`` finds in every tag; they
differ only on text no tag holds (non-ASCII ``\\d``, ``\\w``, ``\\s``, ``\\b``; ``$`` before a
final newline).

A pattern is compiled once per process (``compile_pattern`` is cached): policies and filters
travel as text and are parsed again where they are applied.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import re2

from receiver.decide.rules.versions import MAX_TAG
from receiver.errors import PolicyError

# The patterns of the policies and filters in use; each RE2 program is capped at RE2's default
# of 8 MiB (a tag pattern needs a few kB).
_CACHED_PATTERNS = 256
# Valid for both, read differently: Python repeats ``x{,3}`` (0 to 3) and ``x{,}`` where RE2
# reads text; RE2 reads ``[[:alpha:]]`` as the letters where Python reads a set of ``[:alph``
# and then ``]``. Refused too, though both read them alike: an escaped ``\{,3}`` (text, and no
# tag holds a brace), and ``[:alpha:]`` outside brackets (a set of ``:alph``, which nobody means).
_READ_OTHERWISE = re.compile(r"\{,[0-9]*\}|\[:\^?[A-Za-z]+:\]")
_WITHOUT = (
    "patterns run on RE2, which has no backreferences, lookahead or lookbehind, atomic groups "
    "or possessive quantifiers"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TagPattern:
    """A user's regular expression compiled with RE2; ``source`` is the text as written."""

    source: str
    program: Any  # a compiled ``re2`` expression (the package has no type information)

    def search(self, tag: str) -> bool:
        """Whether the pattern is found anywhere in ``tag``, as ``re.search`` finds it; never
        in text longer than a tag can be (128 characters), whatever a registry lists."""
        return len(tag) <= MAX_TAG and self.program.search(tag) is not None


@functools.lru_cache(maxsize=_CACHED_PATTERNS)
def compile_pattern(source: str, *, what: str) -> TagPattern:
    """Compile ``source``, or raise a ``PolicyError`` naming it as ``what`` (``"regexp
    policy"``): it is not a valid pattern, or it uses a construct RE2 does not support."""
    if found := _READ_OTHERWISE.search(source):
        raise PolicyError(_unsupported(what, source, _read_otherwise(found[0])))
    try:
        re.compile(source)
    except re.error as exc:
        raise PolicyError(f"invalid {what} {source!r}: {exc}") from None
    options = re2.Options()
    options.log_errors = False  # the PolicyError says it; nothing goes to stderr
    options.never_capture = True  # only whether it is found counts: no groups to fill
    try:
        program = re2.compile(source, options)
    except re2.error as exc:
        raise PolicyError(_unsupported(what, source, _re2_words(exc))) from None
    return TagPattern(source=source, program=program)


def _unsupported(what: str, source: str, detail: str) -> str:
    return f"{what} {source!r} uses a construct RE2 does not support ({detail}): {_WITHOUT}"


def _read_otherwise(construct: str) -> str:
    if construct.startswith("{"):
        return f"{construct} repeats in Python but is text to RE2: write {{0{construct[1:]}"
    return f"POSIX class {construct}, which Python's re does not have: list the characters"


def _re2_words(exc: Exception) -> str:
    """RE2's own reason (``invalid perl operator: (?=``), which it gives as bytes."""
    detail = exc.args[0] if exc.args else ""
    words = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
    return f"{words}; write $ instead" if words.endswith("\\Z") else words  # no tag holds a newline
