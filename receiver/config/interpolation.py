"""``${VAR}`` and ``${VAR:-default}`` substitution in configuration values.

``$$`` stands for a literal ``$``. A variable that is unset (or empty, with ``:-``) and has no
default is a problem reported with the key path where it was used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_PATTERN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(slots=True, kw_only=True)
class Interpolation:
    """Result of substituting one configuration tree."""

    problems: list[str] = field(default_factory=list)
    # Key paths whose value came (at least partly) from a ``:-default`` in the file.
    defaulted: set[str] = field(default_factory=set)


def interpolate(
    tree: object, env: Mapping[str, str], result: Interpolation, path: str = ""
) -> object:
    """Return ``tree`` with every string substituted from ``env``; record problems in ``result``."""
    if isinstance(tree, dict):
        return {
            key: interpolate(value, env, result, _join(path, str(key)))
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [interpolate(item, env, result, f"{path}[{i}]") for i, item in enumerate(tree)]
    if isinstance(tree, str):
        return _substitute(tree, env, result, path)
    return tree


def _substitute(text: str, env: Mapping[str, str], result: Interpolation, path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name, "")
        if value:
            return value
        if default is not None:
            if default:
                result.defaulted.add(path)
            return default
        if name in env:
            return ""
        result.problems.append(f"{path}: environment variable {name} is not set")
        return ""

    return _PATTERN.sub(replace, text)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
