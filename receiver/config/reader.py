"""Reading typed values out of a YAML tree, collecting every problem with its key path."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from receiver.secret import Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class Switch:
    """Whether a part the configuration may leave out (a deployer) is on, and why: the start-up
    log and ``/api/v1/status`` say it in these words."""

    on: bool
    why: str


class Reader:
    """Reads typed values out of the YAML tree, collecting problems instead of stopping."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def mapping(self, value: object, path: str) -> dict[str, object]:
        if isinstance(value, dict):
            return value
        self.problems.append(f"{path or '<top>'}: expected a mapping")
        return {}

    def text(self, m: dict[str, object], key: str, path: str, default: str | None = None) -> str:
        value = m.get(key, default)
        if value is None or value == "":
            if default is None:
                self.problems.append(f"{at(path, key)}: missing")
            return default or ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problems.append(f"{at(path, key)}: expected a string")
            return default or ""
        return str(value)

    def number(self, m: dict[str, object], key: str, path: str, default: float) -> float:
        value = m.get(key, default)
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.problems.append(f"{at(path, key)}: expected a number, got {value!r}")
            return default
        if not (number > 0 and math.isfinite(number)) or isinstance(value, bool):
            self.problems.append(f"{at(path, key)}: expected a positive number, got {value!r}")
            return default
        return number

    def integer(self, m: dict[str, object], key: str, path: str, default: int) -> int:
        number = self.number(m, key, path, default)
        if number != int(number):
            self.problems.append(f"{at(path, key)}: expected a whole number")
        return int(number)

    def secret(self, m: dict[str, object], key: str, path: str, *, required: bool) -> Secret | None:
        """``key`` inline, or ``key_file`` naming a file holding it (trailing newline dropped)."""
        inline, file_key = m.get(key), f"{key}_file"
        if inline not in (None, "") and m.get(file_key):
            self.problems.append(f"{at(path, key)}: give either {key} or {file_key}, not both")
            return None
        if m.get(file_key):
            file_name = self.text(m, file_key, path)
            try:
                value = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                self.problems.append(
                    f"{at(path, file_key)}: cannot read {file_name}: {exc.strerror}"
                )
                return None
        else:
            value = "" if inline is None else str(inline)
        if not value:
            if required:
                self.problems.append(f"{at(path, key)}: missing")
            return None
        return Secret(value)

    def unknown(self, m: dict[str, object], path: str, known: set[str]) -> None:
        for key in sorted(set(m) - known, key=str):
            self.problems.append(f"{at(path, key)}: unknown key")

    def boolean(self, m: dict[str, object], key: str, path: str, default: bool) -> bool:
        value = m.get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.problems.append(f"{at(path, key)}: expected true or false, got {value!r}")
        return default

    def items(self, value: object, path: str) -> list[dict[str, object]]:
        """A list of mappings (absent = empty); each entry checked to be a mapping."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.append(f"{path}: expected a list")
            return []
        return [self.mapping(item, f"{path}[{i}]") for i, item in enumerate(value)]


def at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
