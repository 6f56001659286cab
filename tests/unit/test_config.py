"""Reading and validating the configuration file into frozen records."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from receiver.config import loading as configuration
from receiver.config.loading import Config
from receiver.config.server import DatabaseConfig, Scope, ServerConfig
from receiver.errors import ConfigError
from receiver.secret import Secret

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"

DEV_SECRETS = ("api.tokens[0].token", "sources[0].token", "sources[1].token")

PRODUCTION_ENV = {
    "REGDEPLOY_HOST": "0.0.0.0",
    "REGDEPLOY_PORT": "9090",
    "REGDEPLOY_DATA_DIR": "/var/lib/regdeploy",
    "DATABASE_URL": "postgresql://regdeploy:pw@db:5432/regdeploy",
    "REGDEPLOY_REGISTRY_HOST": "Registry.Example:5000",
    "REGDEPLOY_REGISTRY_TOKEN": "prod-registry-token",
    "REGDEPLOY_HARBOR_TOKEN": "prod-harbor-token",
    "REGDEPLOY_API_TOKEN": "prod-api-token",
}


def valid() -> dict[str, Any]:
    """A small valid configuration to break one piece at a time."""
    return {
        "server": {"host": "127.0.0.1", "port": 8080},
        "database": {"url": "postgresql://localhost/regdeploy"},
        "sources": [
            {"name": "registry", "format": "distribution", "token": "registry-token"},
            {"name": "harbor", "format": "harbor", "token": "harbor-token"},
        ],
        "api": {"tokens": [{"name": "admin", "token": "api-token", "scope": "write"}]},
    }


def problems_of(raw: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        configuration.parse(raw, env=env or {})
    return list(caught.value.problems)


# --- the example file -------------------------------------------------------------------------


def test_the_example_loads_with_an_empty_environment_into_development_defaults() -> None:
    config = configuration.load(EXAMPLE, env={})

    assert config.server == ServerConfig(host="127.0.0.1", port=8080, max_body_bytes=1048576)
    assert config.database.url is None
    assert config.database.data_dir == Path(".regdeploy")
    assert [(s.name, s.format, s.registry) for s in config.sources] == [
        ("registry", "distribution", "localhost:5000"),
        ("harbor", "harbor", None),
    ]
    assert [s.token.reveal() for s in config.sources] == ["dev-registry-token", "dev-harbor-token"]
    assert [(t.name, t.scope, t.token.reveal()) for t in config.api_tokens] == [
        ("admin", Scope.WRITE, "dev-api-token")
    ]
    assert config.development_secrets == DEV_SECRETS


def test_the_example_uses_the_environment_and_then_has_no_development_secrets() -> None:
    config = configuration.load(EXAMPLE, env=PRODUCTION_ENV)

    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9090
    assert config.database.data_dir == Path("/var/lib/regdeploy")
    assert config.database.url is not None
    assert config.database.url.reveal() == "postgresql://regdeploy:pw@db:5432/regdeploy"
    assert config.source("registry") is not None
    assert config.sources[0].registry == "registry.example:5000"
    assert [s.token.reveal() for s in config.sources] == [
        "prod-registry-token",
        "prod-harbor-token",
    ]
    assert config.api_tokens[0].token.reveal() == "prod-api-token"
    assert config.development_secrets == ()


@pytest.mark.parametrize(
    ("variable", "still_development"),
    [
        ("REGDEPLOY_REGISTRY_TOKEN", ("api.tokens[0].token", "sources[1].token")),
        ("REGDEPLOY_HARBOR_TOKEN", ("api.tokens[0].token", "sources[0].token")),
        ("REGDEPLOY_API_TOKEN", ("sources[0].token", "sources[1].token")),
        ("REGDEPLOY_PORT", DEV_SECRETS),
        ("DATABASE_URL", DEV_SECRETS),
    ],
)
def test_each_secret_set_in_the_environment_leaves_the_development_list(
    variable: str, still_development: tuple[str, ...]
) -> None:
    env = {variable: PRODUCTION_ENV[variable]}
    assert configuration.load(EXAMPLE, env=env).development_secrets == still_development


def test_a_variable_set_but_empty_falls_back_to_the_development_default() -> None:
    config = configuration.load(EXAMPLE, env={"REGDEPLOY_REGISTRY_TOKEN": "", "DATABASE_URL": ""})
    assert config.sources[0].token.reveal() == "dev-registry-token"
    assert config.database.url is None
    assert config.development_secrets == DEV_SECRETS


def test_load_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGDEPLOY_PORT", "8181")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert configuration.load(str(EXAMPLE)).server.port == 8181


# --- values -----------------------------------------------------------------------------------


def test_defaults_fill_what_the_file_leaves_out() -> None:
    config = configuration.parse(
        {
            "sources": [{"name": "r", "format": "distribution", "token": "t"}],
            "api": {"tokens": [{"token": "a"}, {"token": "b", "scope": "read"}]},
        },
        env={},
    )
    assert config.server == ServerConfig()
    assert config.database == DatabaseConfig()
    assert [(t.name, t.scope) for t in config.api_tokens] == [
        ("token0", Scope.READ),
        ("token1", Scope.READ),
    ]
    assert config.sources[0].registry is None
    assert config.development_secrets == ()


def test_numbers_may_come_from_the_environment_as_strings() -> None:
    raw = valid()
    raw["server"]["port"] = "${PORT}"
    raw["database"].update(pool_size="4", timeout_seconds="2.5")
    config = configuration.parse(raw, env={"PORT": "9000"})
    assert config.server.port == 9000
    assert config.database.pool_size == 4
    assert config.database.timeout_seconds == 2.5


def test_the_registry_name_is_lowercased() -> None:
    raw = valid()
    raw["sources"][0]["registry"] = "Registry.Example.COM:5000"
    assert configuration.parse(raw, env={}).sources[0].registry == "registry.example.com:5000"


def test_source_looks_up_by_name() -> None:
    config = configuration.parse(valid(), env={})
    harbor = config.source("harbor")
    assert harbor is not None
    assert harbor.format == "harbor"
    assert config.source("missing") is None


def test_records_are_frozen() -> None:
    config = configuration.parse(valid(), env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]


# --- DATABASE_URL -----------------------------------------------------------------------------


def test_database_url_comes_from_the_environment_when_the_file_has_none() -> None:
    raw = valid()
    del raw["database"]["url"]
    config = configuration.parse(raw, env={"DATABASE_URL": "postgresql://env/db"})
    assert config.database.url == Secret("postgresql://env/db")


def test_database_url_in_the_file_wins_over_the_environment() -> None:
    config = configuration.parse(valid(), env={"DATABASE_URL": "postgresql://env/db"})
    assert config.database.url == Secret("postgresql://localhost/regdeploy")


def test_without_any_database_url_the_embedded_server_is_used() -> None:
    raw = valid()
    del raw["database"]
    config = configuration.parse(raw, env={"DATABASE_URL": ""})
    assert config.database.url is None
    assert config.database.data_dir == Path(".regdeploy")


# --- secrets from files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", ["file-token\n", "file-token\r\n", "file-token", "file-token\n\n"]
)
def test_token_file_is_read_without_its_trailing_newline(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(content.encode())
    raw = valid()
    raw["sources"][1] = {"name": "harbor", "format": "harbor", "token_file": str(token_file)}
    raw["api"]["tokens"][0] = {"name": "admin", "token_file": str(token_file)}
    config = configuration.parse(raw, env={})
    assert config.sources[1].token.reveal() == "file-token"
    assert config.api_tokens[0].token.reveal() == "file-token"


def test_token_file_keeps_inner_whitespace(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(" spaced token \n", encoding="utf-8")
    raw = valid()
    raw["sources"][0] = {"name": "r", "format": "distribution", "token_file": str(token_file)}
    assert configuration.parse(raw, env={}).sources[0].token.reveal() == " spaced token "


def test_token_file_path_may_come_from_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-env-file\n", encoding="utf-8")
    raw = valid()
    raw["sources"][0] = {"name": "r", "format": "distribution", "token_file": "${TOKEN_FILE}"}
    config = configuration.parse(raw, env={"TOKEN_FILE": str(token_file)})
    assert config.sources[0].token.reveal() == "from-env-file"


def test_database_url_file(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("postgresql://file/db\n", encoding="utf-8")
    raw = valid()
    raw["database"] = {"url_file": str(url_file)}
    config = configuration.parse(raw, env={"DATABASE_URL": "postgresql://env/db"})
    assert config.database.url == Secret("postgresql://file/db")


def test_an_empty_inline_token_beside_a_token_file_is_not_a_conflict(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n", encoding="utf-8")
    raw = valid()
    raw["sources"][0].update(token="${UNSET:-}", token_file=str(token_file))
    assert configuration.parse(raw, env={}).sources[0].token.reveal() == "file-token"


def test_token_and_token_file_together_are_a_problem(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n", encoding="utf-8")
    raw = valid()
    raw["sources"][1]["token_file"] = str(token_file)
    raw["api"]["tokens"][0]["token_file"] = str(token_file)
    assert problems_of(raw) == [
        "sources[1].token: give either token or token_file, not both",
        "api.tokens[0].token: give either token or token_file, not both",
    ]


def test_an_unreadable_token_file_is_a_problem_naming_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    raw = valid()
    raw["sources"][1] = {"name": "harbor", "format": "harbor", "token_file": str(missing)}
    raw["database"] = {"url_file": str(tmp_path)}
    assert sorted(problems_of(raw)) == [
        f"database.url_file: cannot read {tmp_path}: Is a directory",
        f"sources[1].token_file: cannot read {missing}: No such file or directory",
    ]


def test_an_empty_token_file_is_a_missing_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n", encoding="utf-8")
    raw = valid()
    raw["sources"][0] = {"name": "r", "format": "distribution", "token_file": str(token_file)}
    assert problems_of(raw) == ["sources[0].token: missing"]


# --- problems ---------------------------------------------------------------------------------


def with_change(path: str, value: object) -> dict[str, Any]:
    """``valid()`` with the value at dotted ``path`` (list items as numbers) replaced.

    ``...`` as value deletes the key.
    """
    raw = copy.deepcopy(valid())
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("server.port", 0, "server.port: expected a positive number, got 0"),
        ("server.port", -1, "server.port: expected a positive number, got -1"),
        ("server.port", 70000, "server.port: expected 1-65535, got 70000"),
        ("server.port", "http", "server.port: expected a number, got 'http'"),
        ("server.port", 80.5, "server.port: expected a whole number"),
        ("server.port", True, "server.port: expected a positive number, got True"),
        ("server.port", [80], "server.port: expected a number, got [80]"),
        ("server.port", float("nan"), "server.port: expected a positive number, got nan"),
        ("server.port", float("inf"), "server.port: expected a positive number, got inf"),
        ("server.host", ["a"], "server.host: expected a string"),
        ("server.max_body_bytes", 0, "server.max_body_bytes: expected a positive number, got 0"),
        ("server.listen", 1, "server.listen: unknown key"),
        ("server", "8080", "server: expected a mapping"),
        ("database.pool_size", "ten", "database.pool_size: expected a number, got 'ten'"),
        (
            "database.timeout_seconds",
            0,
            "database.timeout_seconds: expected a positive number, got 0",
        ),
        ("database.host", "db", "database.host: unknown key"),
        ("database", [], "database: expected a mapping"),
        ("sources", [], "sources: expected a list of at least one source"),
        ("sources", ..., "sources: expected a list of at least one source"),
        ("sources", {"name": "r"}, "sources: expected a list of at least one source"),
        ("sources.1.token", ..., "sources[1].token: missing"),
        ("sources.1.token", "", "sources[1].token: missing"),
        ("sources.1.name", ..., "sources[1].name: missing"),
        ("sources.1.name", "registry", "sources[1].name: 'registry' is used by an earlier source"),
        ("sources.1.name", "a/b", "sources[1].name: use letters, digits, '.', '_' and '-' only"),
        ("sources.1.name", "-x", "sources[1].name: use letters, digits, '.', '_' and '-' only"),
        ("sources.1.format", ..., "sources[1].format: missing"),
        ("sources.1.format", "quay", "sources[1].format: expected one of distribution, harbor"),
        ("sources.1.secret", "x", "sources[1].secret: unknown key"),
        ("api", ..., "api.tokens: expected a list of at least one token"),
        ("api.tokens", ..., "api.tokens: expected a list of at least one token"),
        ("api.tokens", [], "api.tokens: expected a list of at least one token"),
        ("api.users", [], "api.users: unknown key"),
        ("api.tokens.0.token", ..., "api.tokens[0].token: missing"),
        (
            "api.tokens.0.scope",
            "admin",
            "api.tokens[0].scope: expected read, approve or write, got 'admin'",
        ),
        ("api.tokens.0.role", "x", "api.tokens[0].role: unknown key"),
        ("kubernetes", {}, "kubernetes: unknown key"),
        ("deployers", [], "deployers: expected a mapping"),
    ],
)
def test_each_problem_names_its_key_path(path: str, value: object, problem: str) -> None:
    assert problems_of(with_change(path, value)) == [problem]


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("server.port", "${PORT}", "server.port: environment variable PORT is not set"),
        ("sources.0", "registry", "sources[0]: expected a mapping"),
        ("api.tokens.0", "api-token", "api.tokens[0]: expected a mapping"),
    ],
)
def test_a_problem_comes_first_even_when_others_follow_from_it(
    path: str, value: object, problem: str
) -> None:
    # The value then counts as empty, so ``missing`` or ``expected a number`` may follow,
    # under the same key path.
    problems = problems_of(with_change(path, value))
    assert problems[0] == problem
    key_path = problem.split(":")[0]
    assert all(p.startswith(key_path) for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "server": {"port": "${REGDEPLOY_PORT}", "max_body_bytes": "big", "tls": True},
        "database": {"pool_size": 0},
        "sources": [
            {"name": "registry", "format": "distribution", "token": "t"},
            {"name": "registry", "format": "docker", "token": "${MISSING_TOKEN}"},
            "harbor",
        ],
        "api": {"tokens": [{"name": "admin", "token": "a", "scope": "root"}]},
        "deployers": [],
        "kubernetes": {},
    }
    problems = problems_of(raw)
    expected = [
        "server.port: environment variable REGDEPLOY_PORT is not set",
        "sources[1].token: environment variable MISSING_TOKEN is not set",
        "server.tls: unknown key",
        "server.port: expected a number, got ''",
        "server.max_body_bytes: expected a number, got 'big'",
        "database.pool_size: expected a positive number, got 0",
        "sources[1].name: 'registry' is used by an earlier source",
        "sources[1].format: expected one of distribution, harbor",
        "sources[1].token: missing",
        "sources[2]: expected a mapping",
        "api.tokens[0].scope: expected read, approve or write, got 'root'",
        "deployers: expected a mapping",
        "kubernetes: unknown key",
    ]
    # Follow-on problems (``sources[2].name: missing`` after ``sources[2]: expected a
    # mapping``) may come too, but only under the key paths above.
    assert set(expected) <= set(problems)
    paths = {e.split(": ")[0] for e in expected}
    for problem in problems:
        where = problem.split(": ")[0]
        assert any(where == p or where.startswith(f"{p}.") for p in paths), problem


def test_an_empty_document_reports_what_is_required() -> None:
    expected = [
        "sources: expected a list of at least one source",
        "api.tokens: expected a list of at least one token",
    ]
    assert problems_of(None) == expected
    assert problems_of({}) == expected


def test_a_document_that_is_not_a_mapping_is_a_problem() -> None:
    assert problems_of(["server"]) == [
        "<top>: expected a mapping",
        "sources: expected a list of at least one source",
        "api.tokens: expected a list of at least one token",
    ]


def test_unknown_keys_of_mixed_types_are_all_reported() -> None:
    # YAML allows keys that are not strings (``1:``, ``null:``); they must not crash sorting.
    raw: dict[Any, Any] = {**valid(), 1: "one", "extra": "x", None: "none"}
    assert sorted(problems_of(raw)) == ["1: unknown key", "None: unknown key", "extra: unknown key"]


def test_the_error_message_lists_the_file_and_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        configuration.parse({}, env={}, path="regdeploy.yaml")
    assert caught.value.path == "regdeploy.yaml"
    assert str(caught.value) == (
        "regdeploy.yaml: sources: expected a list of at least one source; "
        "api.tokens: expected a list of at least one token"
    )


# --- the file itself --------------------------------------------------------------------------


def test_load_reports_problems_with_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        configuration.load(path, env={})
    assert caught.value.path == str(path)
    assert "server.port: expected a positive number, got 0" in caught.value.problems


def test_a_yaml_syntax_error_is_a_config_error_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: [8080\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        configuration.load(path, env={})
    assert caught.value.path == str(path)
    [problem] = caught.value.problems
    assert problem.startswith("not valid YAML: ")
    assert str(caught.value).startswith(f"{path}: not valid YAML: ")


def test_a_missing_file_is_a_config_error_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        configuration.load(path, env={})
    assert caught.value.path == str(path)
    assert caught.value.problems == ("cannot read the file: No such file or directory",)


def test_a_file_that_is_not_utf8_text_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"server:\n  host: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        configuration.load(path, env={})
    assert caught.value.path == str(path)
    [problem] = caught.value.problems
    assert problem.startswith("not UTF-8 text")


# --- secrets stay hidden ----------------------------------------------------------------------


def test_secrets_never_show_in_repr_or_str() -> None:
    config: Config = configuration.load(EXAMPLE, env=PRODUCTION_ENV)
    shown = [repr(config), str(config), repr(config.database), repr(config.sources)]
    shown += [repr(config.api_tokens), str(config.sources[0].token), f"{config.api_tokens[0]}"]
    for text in shown:
        for secret in ("prod-registry-token", "prod-harbor-token", "prod-api-token", ":pw@"):
            assert secret not in text
    assert "Secret('***')" in repr(config)


def test_development_secrets_never_show_either() -> None:
    config = configuration.load(EXAMPLE, env={})
    assert "dev-" not in repr(config)


# --- finding the file -----------------------------------------------------------------------------


def test_locate_takes_the_given_file_first(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("{}")
    env = {"REGDEPLOY_CONFIG": "/etc/regdeploy.yaml"}
    assert configuration.locate("mine.yaml", env=env, cwd=tmp_path) == Path("mine.yaml")


def test_then_the_variable_even_when_its_file_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("{}")
    env = {"REGDEPLOY_CONFIG": str(tmp_path / "absent.yaml")}
    assert configuration.locate(None, env=env, cwd=tmp_path) == tmp_path / "absent.yaml"


@pytest.mark.parametrize(
    ("present", "found"),
    [
        (["config.yaml", "config.example.yaml"], "config.yaml"),
        (["config.example.yaml"], "config.example.yaml"),
    ],
)
def test_then_config_yaml_then_the_example(tmp_path: Path, present: list[str], found: str) -> None:
    for name in present:
        (tmp_path / name).write_text("{}")
    assert configuration.locate(None, env={"REGDEPLOY_CONFIG": ""}, cwd=tmp_path) == (
        tmp_path / found
    )


def test_without_any_the_error_names_every_place_tried(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        configuration.locate(None, env={}, cwd=tmp_path)
    assert caught.value.problems == (
        "no configuration file: --config is not given, $REGDEPLOY_CONFIG is unset, and there "
        f"is none of {tmp_path / 'config.yaml'}, {tmp_path / 'config.example.yaml'}",
    )
