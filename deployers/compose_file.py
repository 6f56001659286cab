"""A compose file's ``image:`` line rewritten in place (``compose: {rewrite: true}``), every
other byte of the file kept: a pure text function, and an atomic write that keeps the file's
mode."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# A line of a block mapping: its key (plain or quoted), ``:``, and what follows on the line.
_KEY = re.compile(
    r"""
    \ *
    (?: "(?P<double>[^"\\]*)"
      | '(?P<single>[^']*)'
      | (?P<plain>(?:[^\s\#'"{}\[\],&*!|>%@`?:-]|-(?=\S))[^\#:]*?) )
    [\ \t]* : (?: [\ \t]+ (?P<rest>.*) )? [\ \t]*
    """,
    re.VERBOSE,
)
# Where a plain scalar ends: at a comment, or at the trailing blanks of the line.
_PLAIN_END = re.compile(r"[ \t]+#|[ \t]*$")


class RewriteRefused(ValueError):
    """The ``image:`` line of a service cannot be found, or read, beyond doubt."""


def write_atomically(path: Path, text: str) -> None:
    """Replace the file at ``path`` (a link's target) with ``text``: written beside it, given its
    mode (and owner, where allowed), then renamed over it."""
    path = path.resolve()
    before = path.stat()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, stat.S_IMODE(before.st_mode))
        with contextlib.suppress(PermissionError):
            os.chown(temporary, before.st_uid, before.st_gid)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- the image: line of a service ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Line:
    number: int
    indent: int
    key: str
    rest: str


def rewrite_image(text: str, *, service: str, old: str, new: str) -> str:
    """``text`` (a compose file) with the ``image:`` of ``service`` changed from ``old`` to
    ``new``, every other byte as it was: the quoting style, a trailing comment, the line ending.

    It reads the block structure line by line: ``services:`` at the top, the service under it,
    its ``image:`` under that. It refuses (``RewriteRefused``) when one is missing or there
    twice, or the value is not ``old`` (``new``: the text stays) as one plain or quoted scalar.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    lines = text[len(bom) :].splitlines(keepends=True)
    services = _one(_keys(lines, 0, len(lines), indent=0), "services", "the file")
    start, end = _block(lines, services)
    entry = _one(_keys(lines, start, end), service, "services:")
    start, end = _block(lines, entry)
    image = _one(_keys(lines, start, end), "image", f"service {service}")
    body = lines[image.number].rstrip("\r\n")
    ending = lines[image.number][len(body) :]
    value_at = len(body) - len(image.rest)
    value, after = _scalar(image.rest, service)
    if value == new:
        return text
    if value != old:
        raise RewriteRefused(f"service {service} names image {value!r}, not {old!r}")
    quote = image.rest[0] if image.rest[0] in "'\"" else ""
    lines[image.number] = body[:value_at] + quote + new + quote + after + ending
    return bom + "".join(lines)


def _keys(lines: Sequence[str], start: int, end: int, *, indent: int | None = None) -> list[_Line]:
    """The keys of the block mapping in ``lines[start:end]``, at its first line's indent (or
    ``indent``). Blank lines, comments, document markers, sequence entries (``- x`` under a
    key at the same indent) and deeper lines (values, block scalars) are passed over."""
    found = []
    for number in range(start, end):
        body = lines[number].rstrip("\r\n")
        stripped = body.lstrip(" ")
        if not stripped or stripped.startswith("#") or body.startswith(("---", "...", "%")):
            continue
        depth = len(body) - len(stripped)
        indent = depth if indent is None else indent
        if depth != indent or stripped == "-" or stripped.startswith(("- ", "-\t")):
            continue
        match = _KEY.fullmatch(body)
        if match is None:
            raise RewriteRefused(f"line {number + 1} is not a key of a block mapping: {stripped!r}")
        key = next(k for k in match.group("double", "single", "plain") if k is not None)
        found.append(_Line(number=number, indent=depth, key=key, rest=match["rest"] or ""))
    return found


def _one(keys: Sequence[_Line], key: str, where: str) -> _Line:
    matching = [k for k in keys if k.key == key]
    if not matching:
        raise RewriteRefused(f"no {key}: in {where}")
    if len(matching) > 1:
        lines = ", ".join(str(k.number + 1) for k in matching)
        raise RewriteRefused(f"{key}: is in {where} more than once (lines {lines})")
    return matching[0]


def _block(lines: Sequence[str], parent: _Line) -> tuple[int, int]:
    """The lines of ``parent``'s value: after it, until a line as shallow as it (or the end of
    the document)."""
    if parent.rest and not parent.rest.startswith(("#", "&")):
        raise RewriteRefused(f"line {parent.number + 1} holds {parent.key}: on one line")
    end = parent.number + 1
    for number in range(parent.number + 1, len(lines)):
        body = lines[number].rstrip("\r\n")
        stripped = body.lstrip(" ")
        if body.startswith(("---", "...")):
            break
        if stripped and not stripped.startswith("#") and len(body) - len(stripped) <= parent.indent:
            break
        end = number + 1
    return parent.number + 1, end


def _scalar(rest: str, service: str) -> tuple[str, str]:
    """The value written at the start of ``rest`` and what follows it (blanks, a comment)."""
    if not rest or rest.startswith("#"):
        raise RewriteRefused(f"the image of service {service} is not on its image: line")
    first = rest[0]
    if first in "'\"":
        close = rest.find(first, 1)
        value, after = rest[1:close], rest[close + 1 :]
        if close < 0 or "\\" in value or (first == "'" and after.startswith("'")):
            raise RewriteRefused(f"the image of service {service} is quoted with escapes")
    elif first in "&*!|>{[":
        raise RewriteRefused(f"the image of service {service} is not a plain value: {rest!r}")
    else:
        end = _PLAIN_END.search(rest)
        assert end is not None  # it matches at the end of the line at least
        value, after = rest[: end.start()], rest[end.start() :]
    if after.strip() and not after.lstrip().startswith("#"):
        raise RewriteRefused(f"the image of service {service} is followed by {after.strip()!r}")
    if "$" in value:
        raise RewriteRefused(f"the image of service {service} uses a variable: {value!r}")
    return value, after
