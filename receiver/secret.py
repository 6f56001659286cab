"""A string that never shows itself in a repr, a log line or an API answer."""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Secret:
    value: str

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def reveal(self) -> str:
        return self.value

    def matches(self, offered: str) -> bool:
        """Compare with ``offered`` in time that does not depend on where they differ.

        ``offered`` may hold any bytes a client sent (aiohttp keeps the ones that are not UTF-8
        as surrogate escapes): they are compared as sent, and simply do not match.
        """
        return hmac.compare_digest(
            self.value.encode(), offered.encode("utf-8", errors="surrogateescape")
        )

    def masked(self) -> str:
        """A hint for humans: the length and the last two characters at most."""
        if len(self.value) < 12:
            return "***"
        return f"***{self.value[-2:]}"
