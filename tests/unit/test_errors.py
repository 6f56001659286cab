"""The exception tree: one root, every class drawn in the module docstring where it stands."""

from __future__ import annotations

import re

import pytest

import receiver.errors as errors
from receiver.errors import RegdeployError


def _subclasses(root: type[BaseException]) -> list[type[BaseException]]:
    found = []
    for cls in root.__subclasses__():
        found += [cls, *_subclasses(cls)]
    return found


def _drawn() -> dict[str, int]:
    """Each class named in the docstring's tree, with its depth (the root is 0)."""
    lines = (errors.__doc__ or "").split("\n\n")[1].splitlines()
    drawn = {}
    for line in lines:
        match = re.match(r"[│├└─ ]*([A-Z]\w+)", line)
        assert match, line
        drawn[match[1]] = match.start(1) // 4
    return drawn


@pytest.mark.parametrize("cls", _subclasses(RegdeployError), ids=lambda c: c.__name__)
def test_every_error_is_defined_in_errors_and_drawn_under_its_parent(
    cls: type[BaseException],
) -> None:
    drawn = _drawn()
    assert cls.__module__ == "receiver.errors", f"{cls.__name__} is defined elsewhere"
    assert cls.__name__ in drawn, f"{cls.__name__} is missing from the tree"
    parent = cls.__mro__[1]
    assert drawn[cls.__name__] == drawn[parent.__name__] + 1, (cls.__name__, parent.__name__)


def test_the_tree_names_no_class_that_does_not_exist() -> None:
    names = {cls.__name__ for cls in _subclasses(RegdeployError)} | {"RegdeployError"}
    assert set(_drawn()) == names
