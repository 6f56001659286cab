"""``${VAR}``, ``${VAR:-default}`` and ``$$`` in configuration values."""

from __future__ import annotations

import pytest

from receiver.config.interpolation import Interpolation, interpolate

ENV = {"HOST": "registry.example", "PORT": "5000", "EMPTY": "", "TOKEN": "s3cret"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        ("${HOST}", "registry.example"),
        ("${HOST}:${PORT}", "registry.example:5000"),
        ("https://${HOST}/v2", "https://registry.example/v2"),
        ("${HOST:-fallback}", "registry.example"),
        ("${UNSET:-fallback}", "fallback"),
        ("${UNSET:-}", ""),
        ("${UNSET:-with spaces and : colons}", "with spaces and : colons"),
        ("${EMPTY}", ""),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY:-}", ""),
        ("$$", "$"),
        ("pa$$word", "pa$word"),
        ("$${HOST}", "${HOST}"),
        ("$$$${HOST}", "$${HOST}"),
        ("$$${HOST}", "$registry.example"),
        ("cost: $5", "cost: $5"),
        ("$HOST", "$HOST"),
        ("${not-a-name}", "${not-a-name}"),
    ],
)
def test_strings_are_substituted(text: str, expected: str) -> None:
    result = Interpolation()
    assert interpolate({"key": text}, ENV, result) == {"key": expected}
    assert result.problems == []


@pytest.mark.parametrize(
    ("tree", "problems"),
    [
        ({"token": "${UNSET}"}, ["token: environment variable UNSET is not set"]),
        (
            {"server": {"host": "${A}:${B}"}},
            [
                "server.host: environment variable A is not set",
                "server.host: environment variable B is not set",
            ],
        ),
        (
            {"sources": [{"token": "ok"}, {"token": "${UNSET}"}]},
            ["sources[1].token: environment variable UNSET is not set"],
        ),
        (
            {"api": {"tokens": [{"token": "${X}"}, {"token": "${Y}"}]}},
            [
                "api.tokens[0].token: environment variable X is not set",
                "api.tokens[1].token: environment variable Y is not set",
            ],
        ),
        ({"matrix": [["a", "${UNSET}"]]}, ["matrix[0][1]: environment variable UNSET is not set"]),
        (["${UNSET}"], ["[0]: environment variable UNSET is not set"]),
        # Set but empty, without ``:-``: the empty value is used, as a shell would.
        ({"token": "${EMPTY}"}, []),
        ({"token": "$${UNSET}"}, []),
    ],
)
def test_unset_variables_without_default_are_problems_at_their_key_path(
    tree: object, problems: list[str]
) -> None:
    result = Interpolation()
    interpolate(tree, ENV, result)
    assert result.problems == problems


def test_an_unset_variable_is_replaced_by_nothing() -> None:
    result = Interpolation()
    assert interpolate({"url": "http://${UNSET}/x"}, {}, result) == {"url": "http:///x"}


def test_nested_lists_and_dicts_keep_their_shape() -> None:
    tree = {
        "server": {"host": "${HOST}", "port": 8080},
        "sources": [
            {"name": "a", "token": "${TOKEN}"},
            {"name": "b", "token": "${UNSET:-dev}", "tags": ["${PORT}", 1]},
        ],
    }
    result = Interpolation()
    assert interpolate(tree, ENV, result) == {
        "server": {"host": "registry.example", "port": 8080},
        "sources": [
            {"name": "a", "token": "s3cret"},
            {"name": "b", "token": "dev", "tags": ["5000", 1]},
        ],
    }
    assert result.defaulted == {"sources[1].token"}


@pytest.mark.parametrize("value", [8080, 1.5, True, False, None, b"${HOST}"])
def test_non_string_values_are_untouched(value: object) -> None:
    result = Interpolation()
    assert interpolate({"key": value, "list": [value]}, ENV, result) == {
        "key": value,
        "list": [value],
    }
    assert result.problems == []
    assert result.defaulted == set()


def test_keys_are_not_substituted_and_non_string_keys_name_the_path() -> None:
    result = Interpolation()
    tree = interpolate({"${HOST}": "x", 1: "${UNSET}"}, ENV, result)
    assert tree == {"${HOST}": "x", 1: ""}
    assert result.problems == ["1: environment variable UNSET is not set"]


def test_the_input_tree_is_not_modified() -> None:
    tree = {"sources": [{"token": "${TOKEN}"}]}
    interpolate(tree, ENV, Interpolation())
    assert tree == {"sources": [{"token": "${TOKEN}"}]}


@pytest.mark.parametrize(
    ("tree", "defaulted"),
    [
        ({"token": "${UNSET:-dev-token}"}, {"token"}),
        ({"token": "${EMPTY:-dev-token}"}, {"token"}),
        ({"token": "prefix-${UNSET:-dev}"}, {"token"}),
        ({"a": {"b": [{"c": "${UNSET:-x}"}]}}, {"a.b[0].c"}),
        # The variable is set: its value wins and nothing came from the file.
        ({"token": "${TOKEN:-dev-token}"}, set()),
        # An empty default supplies nothing worth flagging.
        ({"url": "${UNSET:-}"}, set()),
        ({"url": "${EMPTY:-}"}, set()),
        ({"token": "${TOKEN}"}, set()),
        ({"token": "${UNSET}"}, set()),
        ({"token": "$${UNSET:-dev}"}, set()),
    ],
)
def test_defaulted_paths_are_recorded_only_for_non_empty_defaults(
    tree: object, defaulted: set[str]
) -> None:
    result = Interpolation()
    interpolate(tree, ENV, result)
    assert result.defaulted == defaulted


def test_results_accumulate_over_calls() -> None:
    result = Interpolation()
    interpolate({"a": "${UNSET}", "b": "${UNSET:-x}"}, {}, result)
    interpolate({"c": "${OTHER}"}, {}, result, "root")
    assert result.problems == [
        "a: environment variable UNSET is not set",
        "root.c: environment variable OTHER is not set",
    ]
    assert result.defaulted == {"b"}
