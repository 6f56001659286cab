"""The ``nomad:`` section: where Nomad is and how regdeploy speaks to it.

The Nomad deployer is on when the section is there, and also without it when ``NOMAD_ADDR`` is
set, as the nomad CLI and registrywatcher find Nomad: jobs still opt in by meta, so nothing else
is touched. ``enabled: false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deployers.nomad import NomadSettings
from receiver.config.reader import Reader, Switch

_NOMAD_KEYS = {
    "enabled",
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


def read_nomad(
    r: Reader, root: dict[str, object], env: Mapping[str, str]
) -> tuple[NomadSettings | None, Switch]:
    """The ``nomad:`` section, or ``NOMAD_ADDR`` alone; neither means no Nomad deployer.
    NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION, NOMAD_NAMESPACE, NOMAD_CACERT, NOMAD_CLIENT_CERT,
    NOMAD_CLIENT_KEY and NOMAD_SKIP_VERIFY fill what the section leaves out, as for the nomad
    CLI."""
    if "nomad" in root:
        m = r.mapping({} if root["nomad"] is None else root["nomad"], "nomad")
        r.unknown(m, "nomad", _NOMAD_KEYS)
        if not r.boolean(m, "enabled", "nomad", True):
            return None, Switch(on=False, why="nomad.enabled is false")
        switch = Switch(on=True, why="the nomad section")
    elif env.get("NOMAD_ADDR"):
        m = {}
        switch = Switch(on=True, why=f"NOMAD_ADDR is set ({env['NOMAD_ADDR']})")
    else:
        return None, Switch(on=False, why="no nomad section and NOMAD_ADDR is unset")
    return _settings(r, m, env), switch


def _settings(r: Reader, m: dict[str, object], env: Mapping[str, str]) -> NomadSettings:
    d = NomadSettings()
    token = r.secret(m, "token", "nomad", required=False)

    def path(key: str, variable: str) -> Path | None:
        text = r.text(m, key, "nomad", env.get(variable, ""))
        return Path(text) if text else None

    def secret(key: str) -> str | None:
        value = r.secret(m, key, "nomad", required=False)
        return value.reveal() if value else None

    return NomadSettings(
        address=r.text(m, "address", "nomad", env.get("NOMAD_ADDR") or d.address),
        token=token.reveal() if token else env.get("NOMAD_TOKEN") or None,
        region=r.text(m, "region", "nomad", env.get("NOMAD_REGION", "")) or None,
        namespace=r.text(m, "namespace", "nomad", env.get("NOMAD_NAMESPACE") or d.namespace),
        ca_file=path("ca_file", "NOMAD_CACERT"),
        client_cert=path("client_cert", "NOMAD_CLIENT_CERT"),
        client_key=path("client_key", "NOMAD_CLIENT_KEY"),
        tls_verify=r.boolean(m, "tls_verify", "nomad", not _truthy(env.get("NOMAD_SKIP_VERIFY"))),
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


def _truthy(value: str | None) -> bool:
    """A boolean environment variable as the nomad CLI reads it (``1``, ``true``)."""
    return (value or "").strip().lower() in ("1", "t", "true")
