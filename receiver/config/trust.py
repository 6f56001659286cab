"""The ``trust:`` section of a repository (and of ``defaults:``): which signatures, scan results
and platforms a digest needs before it is deployed.

    trust:
      signatures:
        keys: [{name: ops-2026, key: /etc/regdeploy/cosign.pub}]   # a PEM file, PEM text, ${ENV}
        identities: [{issuer: https://token.actions.githubusercontent.com,
                      subject: "regexp:^https://github.com/acme/app/"}]
        roots: {fulcio: [/etc/regdeploy/fulcio.pem], rekor: [/etc/regdeploy/rekor.pub]}
        trusted_root: /etc/regdeploy/trusted_root.json    # instead of roots: Sigstore's format
        annotations: {env: prod}
        require_tlog: false
      scan: {max_severity: high, wait: 15m, allow: [{cve: CVE-2026-1234, until: 2027-01-31}],
             on_timeout: refuse}
      platforms: auto                                       # or off, or [linux/amd64, ...]

Every problem is collected with its key path, as everywhere in the configuration.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from receiver.config.reader import Reader, at
from receiver.decide.rules.patterns import compile_pattern
from receiver.decide.rules.release import parse_duration
from receiver.decide.trust.cosign import load_public_key, load_trusted_root
from receiver.decide.trust.policy import (
    Allowance,
    Identity,
    PlatformPolicy,
    ScanPolicy,
    Severity,
    SignaturePolicy,
    TextMatch,
    TrustedKey,
    TrustPolicy,
    TrustRoots,
)
from receiver.errors import PolicyError, ReleaseRuleError

PUBLIC_KEY_TYPES = (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)

_TRUST_KEYS = {"signatures", "scan", "platforms"}
_SIGNATURE_KEYS = {
    "keys", "identities", "roots", "trusted_root", "annotations", "require_tlog", "wait"
}  # fmt: skip
_SCAN_KEYS = {"max_severity", "wait", "allow", "on_timeout"}
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")
_CVE = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[0-9]{4}-[0-9]+$")
PEM_MARK = "-----BEGIN"


def read_trust(r: Reader, value: object, path: str) -> TrustPolicy | None:
    """The ``trust:`` mapping at ``path``; None when it is absent (the defaults apply)."""
    if value is None:
        return None
    m = r.mapping(value, path)
    r.unknown(m, path, _TRUST_KEYS)
    signatures = m.get("signatures")
    scan = m.get("scan")
    return TrustPolicy(
        signatures=None
        if signatures is None
        else _signatures(r, signatures, at(path, "signatures")),
        scan=None if scan is None else _scan(r, scan, at(path, "scan")),
        platforms=_platforms(r, m.get("platforms", "auto"), at(path, "platforms")),
    )


def _signatures(r: Reader, value: object, path: str) -> SignaturePolicy:
    m = r.mapping(value, path)
    r.unknown(m, path, _SIGNATURE_KEYS)
    keys = tuple(_key(r, k, f"{at(path, 'keys')}[{i}]") for i, k in enumerate(
        r.items(m.get("keys"), at(path, "keys"))))  # fmt: skip
    identities = tuple(_identity(r, k, f"{at(path, 'identities')}[{i}]") for i, k in enumerate(
        r.items(m.get("identities"), at(path, "identities"))))  # fmt: skip
    names = [k.name for k in keys if k is not None]
    for name in {n for n in names if names.count(n) > 1}:
        r.problems.append(f"{at(path, 'keys')}: the name {name!r} is given to two keys")
    roots = _roots(r, m, path)
    if not keys and not identities:
        r.problems.append(f"{path}: expected keys or identities (or both)")
    if identities and not (roots.fulcio and roots.rekor):
        r.problems.append(
            f"{path}: identities need the Fulcio roots and Rekor keys they chain to "
            "(roots: {fulcio: [...], rekor: [...]} or trusted_root:)"
        )
    annotations = r.mapping(m.get("annotations") or {}, at(path, "annotations"))
    require_tlog = r.boolean(m, "require_tlog", path, False)
    if require_tlog and not roots.rekor:
        r.problems.append(f"{at(path, 'require_tlog')}: true needs the Rekor keys entries are "
                          "checked with (roots: {rekor: [...]} or trusted_root:)")  # fmt: skip
    return SignaturePolicy(
        keys=tuple(k for k in keys if k is not None),
        identities=tuple(i for i in identities if i is not None),
        roots=roots,
        annotations=MappingProxyType({str(k): _annotation(v) for k, v in annotations.items()}),
        require_tlog=require_tlog,
        wait=_wait(r, m, path, timedelta(0)),
    )


def _annotation(value: object) -> str:
    """An annotation's value as cosign writes it (``-a ci=true``): YAML's true is ``true``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _wait(r: Reader, m: dict[str, object], path: str, default: timedelta) -> timedelta:
    if m.get("wait") is None:
        return default
    try:
        return parse_duration(m["wait"])
    except ReleaseRuleError as exc:
        r.problems.append(f"{at(path, 'wait')}: {exc}")
        return default


def _key(r: Reader, m: dict[str, object], path: str) -> TrustedKey | None:
    r.unknown(m, path, {"name", "key"})
    name, text = r.text(m, "name", path), r.text(m, "key", path)
    if not text:
        return None
    pem = _pem(r, text, at(path, "key"))
    if pem is None:
        return None
    try:
        return TrustedKey(name=name, key=load_public_key(pem))
    except ValueError as exc:
        r.problems.append(f"{at(path, 'key')}: {exc}")
        return None


def _identity(r: Reader, m: dict[str, object], path: str) -> Identity | None:
    r.unknown(m, path, {"issuer", "subject"})
    issuer = _match(r, r.text(m, "issuer", path), at(path, "issuer"))
    subject = _match(r, r.text(m, "subject", path), at(path, "subject"))
    if issuer is None or subject is None:
        return None
    return Identity(issuer=issuer, subject=subject)


def _match(r: Reader, text: str, path: str) -> TextMatch | None:
    if not text:
        return None
    if not text.startswith("regexp:"):
        return TextMatch(source=text)
    try:
        return TextMatch(source=text, pattern=compile_pattern(text[7:], what="identity pattern"))
    except PolicyError as exc:
        r.problems.append(f"{path}: {exc}")
        return None


def _roots(r: Reader, m: dict[str, object], path: str) -> TrustRoots:
    given = m.get("roots")
    trusted_root = r.text(m, "trusted_root", path, "")
    if given is not None and trusted_root:
        r.problems.append(f"{path}: give either roots or trusted_root, not both")
    if trusted_root:
        data = _read(r, trusted_root, at(path, "trusted_root"))
        try:
            return load_trusted_root(data) if data is not None else TrustRoots()
        except ValueError as exc:
            r.problems.append(f"{at(path, 'trusted_root')}: {exc}")
            return TrustRoots()
    roots = r.mapping(given or {}, at(path, "roots"))
    r.unknown(roots, at(path, "roots"), {"fulcio", "rekor"})
    fulcio: list[x509.Certificate] = []
    for i, text in enumerate(_texts(r, roots.get("fulcio"), at(path, "roots.fulcio"))):
        where = f"{at(path, 'roots.fulcio')}[{i}]"
        if (pem := _pem(r, text, where)) is not None:
            try:
                fulcio.extend(x509.load_pem_x509_certificates(pem.encode()))
            except ValueError:
                r.problems.append(f"{where}: no PEM certificate in it")
    rekor = []
    for i, text in enumerate(_texts(r, roots.get("rekor"), at(path, "roots.rekor"))):
        where = f"{at(path, 'roots.rekor')}[{i}]"
        if (pem := _pem(r, text, where)) is not None:
            try:
                rekor.append(load_public_key(pem))
            except ValueError as exc:
                r.problems.append(f"{where}: {exc}")
    return TrustRoots(fulcio=tuple(fulcio), rekor=tuple(rekor))


def _scan(r: Reader, value: object, path: str) -> ScanPolicy:
    m = r.mapping(value, path)
    r.unknown(m, path, _SCAN_KEYS)
    word = r.text(m, "max_severity", path, "high").lower()
    try:
        severity = Severity[word.upper()]
    except KeyError:
        r.problems.append(
            f"{at(path, 'max_severity')}: expected none, low, medium, high or critical, "
            f"got {word!r}"
        )
        severity = Severity.HIGH
    wait = _wait(r, m, path, timedelta(minutes=15))
    if r.text(m, "on_timeout", path, "refuse") != "refuse":
        r.problems.append(f"{at(path, 'on_timeout')}: expected refuse (an unscanned image "
                          "is never deployed)")  # fmt: skip
    allow = tuple(
        a
        for i, raw in enumerate(r.items(m.get("allow"), at(path, "allow")))
        if (a := _allowance(r, raw, f"{at(path, 'allow')}[{i}]")) is not None
    )
    return ScanPolicy(max_severity=severity, wait=wait, allow=allow)


def _allowance(r: Reader, m: dict[str, object], path: str) -> Allowance | None:
    r.unknown(m, path, {"cve", "until"})
    cve, until = r.text(m, "cve", path), m.get("until")
    if cve and not _CVE.match(cve):
        r.problems.append(f"{at(path, 'cve')}: expected an id such as CVE-2026-1234, got {cve!r}")
        return None
    if isinstance(until, str):
        with contextlib.suppress(ValueError):
            until = date.fromisoformat(until)
    if not isinstance(until, date):
        r.problems.append(f"{at(path, 'until')}: expected a date (2027-01-31), got {until!r}")
        return None
    return Allowance(cve=cve, until=until) if cve else None


def _platforms(r: Reader, value: object, path: str) -> PlatformPolicy | None:
    if value in ("auto", None):
        return PlatformPolicy()
    if value == "off" or value is False:
        return None
    if not isinstance(value, list) or not value:
        r.problems.append(f"{path}: expected auto, off or a list such as [linux/amd64]")
        return PlatformPolicy()
    wrong = [p for p in value if not isinstance(p, str) or not _PLATFORM.match(p)]
    if wrong:
        r.problems.append(f"{path}: expected os/arch[/variant] such as linux/arm64, got {wrong!r}")
        return PlatformPolicy()
    return PlatformPolicy(required=tuple(value))


def public_der(value: object) -> bytes | None:
    """The DER of a public key or a certificate (for the configuration's fingerprint)."""
    if isinstance(value, x509.Certificate):
        return value.public_bytes(Encoding.DER)
    if isinstance(value, PUBLIC_KEY_TYPES):
        return value.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return None


def _texts(r: Reader, value: object, path: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    r.problems.append(f"{path}: expected a list of PEM files or PEM texts")
    return []


def _pem(r: Reader, text: str, path: str) -> str | None:
    """``text`` itself when it is PEM, else the PEM in the file it names."""
    if PEM_MARK in text:
        return text
    data = _read(r, text, path)
    return None if data is None else data.decode("utf-8", "replace")


def _read(r: Reader, name: str, path: str) -> bytes | None:
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        r.problems.append(f"{path}: cannot read {name}: {exc.strerror}")
        return None
