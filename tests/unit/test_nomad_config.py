"""The `nomad:` configuration section and the Nomad target shorthand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployers.base import Target
from receiver.config import loading as configuration
from receiver.config.reader import Switch
from receiver.errors import ConfigError

BASE: dict[str, Any] = {
    "sources": [{"name": "registry", "format": "distribution", "token": "t0123456789"}],
    "api": {"tokens": [{"name": "admin", "token": "a0123456789"}]},
}


def parse(env: dict[str, str] | None = None, **sections: Any) -> configuration.Config:
    return configuration.parse({**BASE, **sections}, env=env or {})


def test_no_section_and_no_nomad_addr_means_no_nomad_deployer() -> None:
    config = parse()
    assert config.nomad is None
    assert config.nomad_switch == Switch(on=False, why="no nomad section and NOMAD_ADDR is unset")


def test_nomad_addr_alone_turns_the_nomad_deployer_on() -> None:
    config = parse({"NOMAD_ADDR": "http://nomad.internal:4646", "NOMAD_TOKEN": "s3cret"})
    assert config.nomad is not None
    assert (config.nomad.address, config.nomad.token) == ("http://nomad.internal:4646", "s3cret")
    assert config.nomad_switch == Switch(
        on=True, why="NOMAD_ADDR is set (http://nomad.internal:4646)"
    )


@pytest.mark.parametrize("enabled", [False, "false"])
def test_enabled_false_turns_it_off_whatever_the_environment(enabled: object) -> None:
    config = parse({"NOMAD_ADDR": "http://nomad:4646"}, nomad={"enabled": enabled})
    assert config.nomad is None
    assert config.nomad_switch == Switch(on=False, why="nomad.enabled is false")


def test_a_section_turns_it_on_and_says_so() -> None:
    assert parse(nomad={}).nomad_switch == Switch(on=True, why="the nomad section")


def test_the_nomad_clis_tls_variables_fill_what_the_section_leaves_out() -> None:
    env = {
        "NOMAD_ADDR": "https://nomad:4646",
        "NOMAD_CACERT": "/etc/nomad/ca.pem",
        "NOMAD_CLIENT_CERT": "/etc/nomad/cli.pem",
        "NOMAD_CLIENT_KEY": "/etc/nomad/cli-key.pem",
        "NOMAD_SKIP_VERIFY": "1",
    }
    settings = parse(env).nomad
    assert settings is not None
    assert (settings.ca_file, settings.client_cert, settings.client_key) == (
        Path("/etc/nomad/ca.pem"),
        Path("/etc/nomad/cli.pem"),
        Path("/etc/nomad/cli-key.pem"),
    )
    assert settings.tls_verify is False


def test_the_environment_fills_what_the_section_leaves_out() -> None:
    env = {"NOMAD_ADDR": "https://nomad:4646", "NOMAD_TOKEN": "s3cret", "NOMAD_NAMESPACE": "ops"}
    settings = parse(env, nomad={}).nomad
    assert settings is not None
    assert (settings.address, settings.token, settings.namespace) == (
        "https://nomad:4646",
        "s3cret",
        "ops",
    )
    assert settings.tls_verify is True
    assert "s3cret" not in repr(settings)


def test_the_section_wins_and_reads_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    settings = parse(
        {"NOMAD_ADDR": "http://ignored:4646"},
        nomad={
            "address": "https://nomad.internal:4646",
            "token_file": str(tmp_path / "token"),
            "ca_file": "/etc/ca.pem",
            "tls_verify": False,
            "region": "eu",
        },
    ).nomad
    assert settings is not None
    assert (settings.address, settings.token, settings.region) == (
        "https://nomad.internal:4646",
        "from-file",
        "eu",
    )
    assert (settings.ca_file, settings.tls_verify) == (Path("/etc/ca.pem"), False)


def test_nomad_target_shorthand() -> None:
    config = parse(
        repositories=[
            {
                "image": "registry.internal:5000/team/app",
                "targets": [
                    {"nomad": {"job": "app", "group": "web", "namespace": "prod"}},
                    {"nomad": {"job": "other"}},
                ],
            }
        ]
    )
    assert config.repositories[0].targets == (
        Target(kind="nomad", name="app", options={"group": "web", "namespace": "prod"}),
        Target(kind="nomad", name="other"),
    )


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"bogus": 1}, "nomad.bogus: unknown key"),
        ({"timeout_seconds": -1}, "nomad.timeout_seconds: expected a positive number"),
        ({"tls_verify": "maybe"}, "nomad.tls_verify: expected true or false"),
    ],
)
def test_problems_name_their_key(section: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(nomad=section)
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


def test_a_nomad_target_without_a_job_is_a_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(repositories=[{"image": "r.io/a", "targets": [{"nomad": {"group": "web"}}]}])
    assert "repositories[0].targets[0].nomad.job: missing" in raised.value.problems
