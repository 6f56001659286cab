"""The `nomad:` configuration section and the Nomad target shorthand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployers.base import Target
from handlers.errors import ConfigError
from receiver.config import loading as configuration

BASE: dict[str, Any] = {
    "sources": [{"name": "registry", "format": "distribution", "token": "t0123456789"}],
    "api": {"tokens": [{"name": "admin", "token": "a0123456789"}]},
}


def parse(env: dict[str, str] | None = None, **sections: Any) -> configuration.Config:
    return configuration.parse({**BASE, **sections}, env=env or {})


def test_no_section_means_no_nomad_deployer() -> None:
    assert parse().nomad is None


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
