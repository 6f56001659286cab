"""The CLI's HTTP client: where its service and its token come from, and which URLs it takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from receiver.cli.api import Api, read_token, repository_api_path, service_url
from receiver.errors import ApiCallFailed


def test_the_token_option_wins_over_everything(tmp_path: Path) -> None:
    env = {"REGDEPLOY_TOKEN": "from-env", "REGDEPLOY_TOKEN_FILE": str(tmp_path / "absent")}
    assert read_token("given", None, env=env, home=tmp_path) == "given"


def test_then_the_variable_then_a_named_file_then_the_default_file(tmp_path: Path) -> None:
    named = tmp_path / "named"
    named.write_text("from-file\n")
    default = tmp_path / ".config" / "regdeploy" / "token"
    default.parent.mkdir(parents=True)
    default.write_text("from-default\n")

    assert read_token(None, None, env={"REGDEPLOY_TOKEN": "env"}, home=tmp_path) == "env"
    assert read_token(None, str(named), env={}, home=tmp_path) == "from-file"
    assert read_token(None, None, env={"REGDEPLOY_TOKEN_FILE": str(named)}, home=tmp_path) == (
        "from-file"
    )
    assert read_token(None, None, env={}, home=tmp_path) == "from-default"
    assert read_token(None, None, env={}, home=tmp_path / "elsewhere") is None


def test_a_named_token_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ApiCallFailed, match=r"cannot read the token file .*absent"):
        read_token(None, str(tmp_path / "absent"), env={}, home=tmp_path)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/", "127.0.0.1:8080"])
def test_only_http_and_https_urls_are_taken(url: str) -> None:
    with pytest.raises(ApiCallFailed, match="is not an http:// or https:// URL"):
        Api(url=url)


def test_repository_names_keep_their_slashes_in_the_path() -> None:
    assert repository_api_path("group/sub app") == "/api/v1/repos/group/sub%20app"
    assert repository_api_path("team/app", "explain") == "/api/v1/repos/team/app/explain"


def test_the_token_is_not_shown() -> None:
    assert "s3cret" not in repr(Api(url="http://h", token="s3cret"))


@pytest.mark.parametrize(
    ("given", "env", "url"),
    [
        (None, {}, "http://127.0.0.1:8080"),
        (None, {"REGDEPLOY_PORT": "18080"}, "http://127.0.0.1:18080"),
        (None, {"REGDEPLOY_PORT": " 18080 "}, "http://127.0.0.1:18080"),
        (None, {"REGDEPLOY_PORT": ""}, "http://127.0.0.1:8080"),
        (None, {"REGDEPLOY_URL": "http://h:1", "REGDEPLOY_PORT": "18080"}, "http://h:1"),
        ("http://g:2", {"REGDEPLOY_URL": "http://h:1", "REGDEPLOY_PORT": "18080"}, "http://g:2"),
    ],
)
def test_the_url_then_the_variable_then_the_port_then_8080(
    given: str | None, env: dict[str, str], url: str
) -> None:
    assert service_url(given, env=env) == url


@pytest.mark.parametrize("port", ["http", "0", "65536", "-1", "80.5"])
def test_a_port_variable_that_names_no_port_is_an_error(port: str) -> None:
    with pytest.raises(
        ApiCallFailed, match=rf"^\$REGDEPLOY_PORT is '{re.escape(port)}', not a port"
    ):
        service_url(None, env={"REGDEPLOY_PORT": port})
