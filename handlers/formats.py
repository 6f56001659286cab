"""The payload formats regdeploy understands: the one place they are listed.

A format is a module with a ``parse`` function of the ``Parser`` shape; the configuration names
each webhook's format by its key in ``PARSERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from handlers import distribution, harbor
from handlers.events import Budget, Parsed
from receiver.errors import UnknownFormat


class Parser(Protocol):
    """Turns one authenticated notification body into events.

    Raises ``receiver.errors.PayloadError`` when the body cannot be used at all; records of a
    relevant kind that cannot be used are reported in ``Parsed.problems`` instead.
    """

    def __call__(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        source: str,
        registry: str | None = None,
        budget: Budget = ...,
    ) -> Parsed: ...


PARSERS: Mapping[str, Parser] = MappingProxyType(
    {
        "distribution": distribution.parse,
        "harbor": harbor.parse,
    }
)


def parser_for(format_name: str) -> Parser:
    """The parser of ``format_name``; ``UnknownFormat`` naming the known formats if none."""
    try:
        return PARSERS[format_name]
    except KeyError:
        known = ", ".join(sorted(PARSERS))
        raise UnknownFormat(f"unknown payload format {format_name!r} (known: {known})") from None
