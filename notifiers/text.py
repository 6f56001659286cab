"""What every channel does to text from outside before its own escaping.

Every field of a ``Notice`` comes from outside the project: a registry (repository names,
tags, image references), an orchestrator (its messages) or a person (a vote's comment, a
freeze's reason, who acted). Each channel escapes it in one place: ``escape`` in
``notifiers.slack`` and in ``notifiers.teams``; ``header_text`` and ``html_text`` in
``notifiers.email``. They build on the two steps here:

- ``displayable``: a character that would act rather than show becomes U+FFFD (REPLACEMENT
  CHARACTER): C0 and C1 controls other than tab and line breaks (a terminal's escape
  sequences), and the bidirectional embeddings, overrides and isolates, which can make the rest
  of a line read backwards ("Trojan Source"). Zero-width characters stay: they cannot act, and
  the escaping below never counts them as part of a word.
- ``look_alikes``: chat Markdown has no escape for its emphasis and code characters that every
  client honours, so ``*``, ``_``, ``~`` and the backtick become characters that look the same
  and mean nothing: U+2217 ASTERISK OPERATOR, U+02CD MODIFIER LETTER LOW MACRON, U+223C TILDE
  OPERATOR and U+02CB MODIFIER LETTER GRAVE ACCENT (the choice jsx-slack's ``<Escape>`` makes).
  A run a channel names may stay where it stands between two ASCII letters or digits
  (``team_app``): no parser emphasises there, and names stay copyable.

The signed webhook sends every field untouched: JSON is its only encoding.
"""

from __future__ import annotations

import re
from typing import Final

WORD_JOINER: Final = "\u2060"  # invisible, and no line may break at it

LOOK_ALIKES: Final = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_FORMATTING: Final = re.compile(r"\*+|_+|~+|`+")
_ASCII_WORD: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_BIDI_CONTROLS: Final = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_ACTING: Final = {
    **{code: "\ufffd" for code in [*range(0x20), *range(0x7F, 0xA0)] if chr(code) not in "\t\n\r"},
    **{ord(char): "\ufffd" for char in _BIDI_CONTROLS},
}


def displayable(text: str) -> str:
    """``text`` with every character that would act rather than show replaced by U+FFFD."""
    return text.translate(_ACTING)


def look_alikes(text: str, *, kept_in_words: str) -> str:
    """``text`` with ``*``, ``_``, ``~`` and backticks as look-alikes; a run of one of
    ``kept_in_words`` between two ASCII letters or digits stays as it is."""

    def replace(run: re.Match[str]) -> str:
        start, end = run.span()
        in_word = (
            run[0][0] in kept_in_words
            and start > 0
            and end < len(text)
            and text[start - 1] in _ASCII_WORD
            and text[end] in _ASCII_WORD
        )
        return run[0] if in_word else "".join(LOOK_ALIKES[char] for char in run[0])

    return _FORMATTING.sub(replace, text)
