"""Bounded text: how much of what regdeploy did not write itself (a registry's fields, a
body's problems, an orchestrator's message) it keeps and shows.

``capped`` cuts text to a number of bytes of UTF-8, at a character's boundary, and says so with
an ellipsis; ``excerpt`` is a list's shorter view of a text whose whole (capped) form is on its
item's page; ``summary`` joins a body's problems, the first few of them and how many more.
"""

from __future__ import annotations

from collections.abc import Sequence

#: What ends a text that was cut.
CUT = "…"
#: The problems of one body a stored reason names before it counts the rest.
PROBLEMS_SHOWN = 20
#: The characters of a reason a list shows (the whole, capped reason is on its item's page).
EXCERPT_CHARS = 300


def capped(text: str, max_bytes: int) -> str:
    """``text`` when it takes at most ``max_bytes`` bytes of UTF-8; else as much of it as fits
    with ``…`` after it."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    room = max(0, max_bytes - len(CUT.encode()))
    return encoded[:room].decode("utf-8", "ignore") + CUT


def excerpt(text: str | None, chars: int = EXCERPT_CHARS) -> str | None:
    """The first ``chars`` characters of ``text``, with ``…`` when there was more."""
    if text is None or len(text) <= chars:
        return text
    return text[: chars - 1] + CUT


def summary(problems: Sequence[str], *, shown: int = PROBLEMS_SHOWN) -> str:
    """``problems`` joined with ``; ``, the first ``shown`` of them and then ``and N more``."""
    said = "; ".join(problems[:shown])
    more = len(problems) - shown
    return f"{said}; and {more} more" if more > 0 else said
