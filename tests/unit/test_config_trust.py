"""The ``trust:`` section in the configuration: keys as PEM text, files or ${ENV}, identities,
roots, scan rules that need Harbor, platforms, ``defaults.trust``, and every problem with its
key path."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.config import loading as configuration
from receiver.decide.trust.policy import PlatformPolicy, Severity, TrustPolicy
from receiver.errors import ConfigError
from tests.support.fixture_files import FIXTURES
from tests.support.sigstore_pki import ecdsa_key, ed25519_key, rsa_key

KEY = ecdsa_key("ops-2026")
HARBOR = {"url": "https://harbor.test", "username": "robot$regdeploy", "password": "p"}


def config_with(trust: Any, *, harbor: bool = False, **top: Any) -> dict[str, Any]:
    registry: dict[str, Any] = {"host": "reg.test:5000"}
    if harbor:
        registry["harbor"] = HARBOR
    repository: dict[str, Any] = {"name": "team/app", "image": "reg.test:5000/team/app"}
    if trust is not None:
        repository["trust"] = trust
    return {
        "database": {"url": "postgresql://localhost/regdeploy"},
        "sources": [{"name": "registry", "format": "distribution", "token": "t"}],
        "api": {"tokens": [{"name": "admin", "token": "a", "scope": "write"}]},
        "repositories": [repository, {"name": "other/app", "image": "reg.test:5000/other/app"}],
        "registries": [registry],
        **top,
    }


def parsed(raw: dict[str, Any], env: dict[str, str] | None = None) -> TrustPolicy:
    return configuration.parse(raw, env=env or {}).repositories[0].trust


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        configuration.parse(raw, env={})
    return list(caught.value.problems)


def test_without_a_trust_section_only_the_platforms_are_checked() -> None:
    assert parsed(config_with(None)) == TrustPolicy(platforms=PlatformPolicy())


def test_keys_are_pem_text_a_file_or_an_environment_variable(tmp_path: Path) -> None:
    file = tmp_path / "cosign.pub"
    file.write_bytes(ed25519_key("old").public_pem)
    trust = {
        "signatures": {
            "keys": [
                {"name": "inline", "key": KEY.public_pem.decode()},
                {"name": "file", "key": str(file)},
                {"name": "env", "key": "${COSIGN_KEY}"},
            ],
            "annotations": {"env": "prod"},
        }
    }
    policy = parsed(config_with(trust), env={"COSIGN_KEY": rsa_key("rsa").public_pem.decode()})
    assert policy.signatures is not None
    assert [k.name for k in policy.signatures.keys] == ["inline", "file", "env"]
    assert dict(policy.signatures.annotations) == {"env": "prod"}
    assert policy.signatures.require_tlog is False


def test_identities_need_roots_and_read_a_trusted_root() -> None:
    identity = {"issuer": "https://token.actions.githubusercontent.com",
                "subject": "regexp:^https://github.com/acme/"}  # fmt: skip
    said = problems(config_with({"signatures": {"identities": [identity]}}))
    assert said[0].startswith("repositories[0].trust.signatures: identities need the Fulcio")
    root = FIXTURES / "cosign/sigstore-go/trusted-root-public-good.json"
    trust = {"signatures": {"identities": [identity], "trusted_root": str(root)}}
    policy = parsed(config_with(trust))
    assert policy.signatures is not None
    assert policy.signatures.roots.fulcio and policy.signatures.roots.rekor
    [found] = policy.signatures.identities
    assert found.subject.matches("https://github.com/acme/app/.github/workflows/r.yml@refs/tags/v1")
    assert not found.subject.matches("https://github.com/evil/app")


@pytest.mark.parametrize(
    ("trust", "said"),
    [
        ({"signatures": {}}, "repositories[0].trust.signatures: expected keys or identities"),
        ({"signatures": {"keys": [{"name": "a", "key": "/nowhere.pub"}]}},
         "repositories[0].trust.signatures.keys[0].key: cannot read /nowhere.pub"),
        ({"signatures": {"keys": [{"name": "a", "key": "-----BEGIN PUBLIC KEY-----\nxx\n"}]}},
         "repositories[0].trust.signatures.keys[0].key: "),
        ({"scan": {"max_severity": "severe"}}, "repositories[0].trust.scan.max_severity: expected"),
        ({"scan": {"wait": "soon"}}, "repositories[0].trust.scan.wait: "),
        ({"scan": {"on_timeout": "deploy"}}, "repositories[0].trust.scan.on_timeout: expected"),
        ({"scan": {"allow": [{"cve": "CVE-2026-1", "until": "someday"}]}},
         "repositories[0].trust.scan.allow[0].until: expected a date"),
        ({"platforms": ["x86"]}, "repositories[0].trust.platforms: expected os/arch"),
        ({"platforms": "sometimes"}, "repositories[0].trust.platforms: expected auto, off"),
        ({"signature": {}}, "repositories[0].trust.signature: unknown key"),
    ],
)  # fmt: skip
def test_each_problem_names_its_key(trust: dict[str, Any], said: str) -> None:
    found = problems(config_with(trust, harbor=True))
    assert any(p.startswith(said) for p in found), found


def test_a_scan_rule_needs_harbors_api_for_the_registry() -> None:
    said = problems(config_with({"scan": {"max_severity": "high"}}))
    assert said == [
        "repositories[0].trust.scan: registry reg.test:5000 has no harbor: section under "
        "registries (scan results are read from Harbor's API)"
    ]
    policy = parsed(config_with({"scan": {"max_severity": "critical", "wait": "30m", "allow": [
        {"cve": "CVE-2026-1234", "until": "2027-01-31"}]}}, harbor=True))  # fmt: skip
    assert policy.scan is not None
    assert (policy.scan.max_severity, policy.scan.wait) == (
        Severity.CRITICAL,
        timedelta(minutes=30),
    )
    assert policy.scan.allow[0].until == date(2027, 1, 31)


def test_a_registry_regdeploy_does_not_read_takes_no_check() -> None:
    raw = config_with({"signatures": {"keys": [{"name": "k", "key": KEY.public_pem.decode()}]}})
    raw["sources"][0] |= {"registry": "reg.test:5000", "confirm_digests": False}
    [said] = problems(raw)
    assert said == (
        "repositories[0].trust: checks read registry reg.test:5000, but source registry has "
        "confirm_digests: false for it"
    )
    raw["repositories"][0].pop("trust")
    assert parsed(raw).platforms == PlatformPolicy()  # auto: nothing is read, nothing is said


def test_defaults_apply_to_every_repository_without_its_own() -> None:
    raw = config_with({"platforms": "off"}, defaults={"trust": {"platforms": ["linux/arm64"]}})
    config = configuration.parse(raw, env={})
    own, other = (r.trust for r in config.repositories)
    assert own.platforms is None
    assert other.platforms == PlatformPolicy(required=("linux/arm64",))
    assert config.default_trust == other


def test_keys_count_in_the_fingerprint() -> None:
    one = config_with({"signatures": {"keys": [{"name": "k", "key": KEY.public_pem.decode()}]}})
    other_key = ecdsa_key("other").public_pem.decode()
    two = config_with({"signatures": {"keys": [{"name": "k", "key": other_key}]}})
    first = configuration.parse(one, env={}).fingerprint
    assert first == configuration.parse(one, env={}).fingerprint
    assert first != configuration.parse(two, env={}).fingerprint


def test_a_signature_wait_tlog_without_rekor_and_annotations_as_cosign_writes_them() -> None:
    signed = {"keys": [{"name": "k", "key": KEY.public_pem.decode()}]}
    said = problems(config_with({"signatures": {**signed, "require_tlog": True}}))
    assert said[0].startswith("repositories[0].trust.signatures.require_tlog: true needs the Rekor")
    policy = parsed(config_with({"signatures": {**signed, "wait": "5m",
                                                "annotations": {"ci": True, "n": 2}}}))  # fmt: skip
    assert policy.signatures is not None
    assert policy.signatures.wait == timedelta(minutes=5)
    assert dict(policy.signatures.annotations) == {"ci": "true", "n": "2"}
