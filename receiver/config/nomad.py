"""The ``nomad:`` section: where Nomad is and how regdeploy speaks to it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deployers.nomad import NomadSettings
from receiver.config.reader import Reader

_NOMAD_KEYS = {
    "address",
    "token",
    "token_file",
    "region",
    "namespace",
    "ca_file",
    "client_cert",
    "client_key",
    "tls_verify",
    "timeout_seconds",
    "rollout_timeout_seconds",
    "poll_seconds",
    "vault_token",
    "vault_token_file",
    "consul_token",
    "consul_token_file",
    "opt_in_key",
    "policy_key",
    "notify_key",
}


def read_nomad(r: Reader, root: dict[str, object], env: Mapping[str, str]) -> NomadSettings | None:
    """The ``nomad:`` section; absent means no Nomad deployer. NOMAD_ADDR, NOMAD_TOKEN,
    NOMAD_REGION and NOMAD_NAMESPACE fill what the section leaves out."""
    if "nomad" not in root:
        return None
    m = r.mapping({} if root["nomad"] is None else root["nomad"], "nomad")
    r.unknown(m, "nomad", _NOMAD_KEYS)
    d = NomadSettings()
    token = r.secret(m, "token", "nomad", required=False)

    def path(key: str) -> Path | None:
        text = r.text(m, key, "nomad", "")
        return Path(text) if text else None

    def secret(key: str) -> str | None:
        value = r.secret(m, key, "nomad", required=False)
        return value.reveal() if value else None

    return NomadSettings(
        address=r.text(m, "address", "nomad", env.get("NOMAD_ADDR") or d.address),
        token=token.reveal() if token else env.get("NOMAD_TOKEN") or None,
        region=r.text(m, "region", "nomad", env.get("NOMAD_REGION", "")) or None,
        namespace=r.text(m, "namespace", "nomad", env.get("NOMAD_NAMESPACE") or d.namespace),
        ca_file=path("ca_file"),
        client_cert=path("client_cert"),
        client_key=path("client_key"),
        tls_verify=r.boolean(m, "tls_verify", "nomad", True),
        timeout_seconds=r.number(m, "timeout_seconds", "nomad", d.timeout_seconds),
        rollout_timeout_seconds=r.number(
            m, "rollout_timeout_seconds", "nomad", d.rollout_timeout_seconds
        ),
        poll_seconds=r.number(m, "poll_seconds", "nomad", d.poll_seconds),
        vault_token=secret("vault_token"),
        consul_token=secret("consul_token"),
        opt_in_key=r.text(m, "opt_in_key", "nomad", d.opt_in_key),
        policy_key=r.text(m, "policy_key", "nomad", d.policy_key),
        notify_key=r.text(m, "notify_key", "nomad", d.notify_key),
    )
