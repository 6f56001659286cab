"""What a reload compares: the configuration's fingerprint (the same file, the same fingerprint,
in every process) and the keys read only at the start."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from receiver.config import loading as configuration
from receiver.config.loading import Config, fingerprint_of
from receiver.reloading import Reloaded, as_running, restart_needed
from tests.support.settings import config_document, make_config

ROOT = Path(__file__).resolve().parents[2]
DB = "postgresql://regdeploy@127.0.0.1:5432/regdeploy"
PRINT = "from receiver.config import loading; print(loading.load({path!r}).fingerprint)"


def fingerprint_in_a_process(path: Path, seed: str) -> str:
    """The fingerprint another Python process gives ``path`` (its own hash seed: its own order
    of sets and dicts built from strings)."""
    found = subprocess.run(
        [sys.executable, "-c", PRINT.format(path=str(path))],
        cwd=ROOT,
        env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def test_the_same_file_has_the_same_fingerprint_in_every_process() -> None:
    example = ROOT / "config.example.yaml"
    here = configuration.load(example).fingerprint
    assert len(here) == 16 and int(here, 16) >= 0
    assert fingerprint_in_a_process(example, "1") == fingerprint_in_a_process(example, "2")


def test_the_fingerprint_is_of_the_whole_configuration() -> None:
    config = make_config(DB)
    assert config.fingerprint == fingerprint_of(config)
    assert make_config(DB).fingerprint == config.fingerprint
    changes: dict[str, dict[str, Any]] = {
        "a token": {"api": {"tokens": [{"name": "admin", "token": "another", "scope": "write"}]}},
        "a section": {"dry_run": True},
        "the worker": {"worker": {"enabled": True}},
    }
    for what, change in changes.items():
        assert make_config(DB, **change).fingerprint != config.fingerprint, what


def test_a_secret_counts_only_through_a_slow_hash() -> None:
    token = make_config(DB).api_tokens[0].token
    assert token is not None
    said = json.dumps(configuration._plain(token))
    secret = token.reveal()
    assert secret not in said
    assert hashlib.sha256(secret.encode()).hexdigest() not in said
    slow = hashlib.scrypt(
        secret.encode(), salt=b"regdeploy configuration fingerprint", n=2**14, r=8, p=1
    )
    assert said == json.dumps({"secret": slow.hex()})


SECRETS = {
    "api": "api-token-under-test",
    "nomad": "nomad-token-under-test",
    "vault": "vault-token-under-test",
    "consul": "consul-token-under-test",
    "registry": "registry-password-under-test",
    "slack": "https://hooks.slack.com/services/T0/B0/secret-under-test",
}


def test_no_secret_reaches_the_fingerprint_but_through_scrypt() -> None:
    config = make_config(
        DB,
        api={"tokens": [{"name": "admin", "token": SECRETS["api"], "scope": "write"}]},
        nomad={
            "address": "http://nomad.test:4646",
            "token": SECRETS["nomad"],
            "vault_token": SECRETS["vault"],
            "consul_token": SECRETS["consul"],
        },
        registries=[{"host": "r.test", "username": "u", "password": SECRETS["registry"]}],
        notifiers=[{"name": "team", "type": "slack", "url": SECRETS["slack"]}],
    )
    hashed = json.dumps(config, default=configuration._plain, sort_keys=True)
    for what, secret in SECRETS.items():
        assert secret not in hashed, what
        assert hashlib.sha256(secret.encode()).hexdigest() not in hashed, what
        assert configuration._secret_digest(secret) in hashed, what


def server(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, server=dataclasses.replace(config.server, **changes))


@pytest.mark.parametrize(
    ("changes", "keys"),
    [
        ({}, ()),
        ({"port": 9999}, ("server.port",)),
        ({"host": "0.0.0.0", "max_body_bytes": 1}, ("server.host", "server.max_body_bytes")),
        ({"public_url": "https://regdeploy.example.com"}, ()),
    ],
)
def test_the_keys_read_at_the_start_wait_for_a_restart(
    changes: dict[str, Any], keys: tuple[str, ...]
) -> None:
    running = make_config(DB)
    loaded = server(running, **changes)
    assert restart_needed(running, loaded) == keys
    kept = as_running(running, loaded)
    assert (kept.server.host, kept.server.port, kept.server.max_body_bytes) == (
        running.server.host,
        running.server.port,
        running.server.max_body_bytes,
    )
    assert kept.server.public_url == loaded.server.public_url


def test_another_database_waits_for_a_restart() -> None:
    running = make_config(DB)
    loaded = configuration.parse(dict(config_document(DB), database={"url": DB + "2"}), env={})
    assert restart_needed(running, loaded) == ("database.*",)
    assert as_running(running, loaded).database == running.database


@pytest.mark.parametrize(
    ("reloaded", "said"),
    [
        (
            Reloaded(outcome="unchanged", path="c.yaml", fingerprint="a" * 16, previous="a" * 16),
            f"c.yaml: unchanged, configuration {'a' * 16} runs",
        ),
        (
            Reloaded(outcome="reloaded", path="c.yaml", fingerprint="b" * 16, previous="a" * 16),
            f"c.yaml: reloaded, configuration {'a' * 16} → {'b' * 16}",
        ),
        (
            Reloaded(
                outcome="reloaded",
                path="c.yaml",
                fingerprint="b" * 16,
                previous="a" * 16,
                restart_needed=("server.port",),
            ),
            f"c.yaml: reloaded, configuration {'a' * 16} → {'b' * 16}; "
            "server.port takes effect at the next restart",
        ),
        (
            Reloaded(
                outcome="refused",
                path="c.yaml",
                fingerprint="a" * 16,
                previous="a" * 16,
                problems=("x: unknown key",),
            ),
            f"c.yaml: refused, 1 problem; configuration {'a' * 16} still runs",
        ),
    ],
)
def test_what_a_reload_says(reloaded: Reloaded, said: str) -> None:
    assert reloaded.message == said
