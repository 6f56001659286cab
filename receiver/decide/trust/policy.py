"""What a repository trusts (its ``trust:`` section, read once by ``receiver.config.trust``) and
what each check says of one digest.

Three checks, each fail-closed: ``signature`` (cosign, key-based or keyless, offline), ``scan``
(Harbor's scan results against a severity threshold) and ``platform`` (the image covers every
node a target can be placed on). A check passes, refuses (with its reason) or waits (an image
not scanned yet); one that cannot conclude (the registry or Harbor away) raises
``RegistryUnavailable`` and the deploy is tried again later.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from receiver.decide.rules.patterns import TagPattern

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


class Check(enum.StrEnum):
    SIGNATURE = "signature"
    SCAN = "scan"
    PLATFORM = "platform"


class CheckOutcome(enum.StrEnum):
    PASSED = "passed"
    REFUSED = "refused"
    WAITING = "waiting"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """What one check says of one digest: ``words`` for a person ("verified by key ops-2025
    (legacy .sig)"), ``reason`` a short fixed label for metrics (``unsigned``,
    ``bad_signature``, ``threshold``, ``platform_missing``; empty when it passed)."""

    check: Check
    outcome: CheckOutcome
    words: str
    reason: str = ""

    def as_json(self) -> dict[str, str]:
        return {"check": self.check.value, "outcome": self.outcome.value,
                "words": self.words, "reason": self.reason}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CheckResult:
        return cls(check=Check(raw["check"]), outcome=CheckOutcome(raw["outcome"]),
                   words=str(raw.get("words", "")), reason=str(raw.get("reason", "")))  # fmt: skip

    @property
    def line(self) -> str:
        """``signature: verified by key ops-2025 (legacy .sig)``."""
        return f"{self.check.value}: {self.words}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMatch:
    """An identity's issuer or subject: exact text, or ``regexp:`` (RE2, searched)."""

    source: str
    pattern: TagPattern | None = None

    def matches(self, value: str) -> bool:
        if self.pattern is None:
            return value == self.source
        return self.pattern.program.search(value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedKey:
    """A public key a signature may be made with, by the name the configuration gives it."""

    name: str
    key: PublicKeyTypes


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A keyless signer: the OIDC issuer and the subject (SAN) of its Fulcio certificate."""

    issuer: TextMatch
    subject: TextMatch

    def describe(self) -> str:
        return f"{self.subject.source} (issuer {self.issuer.source})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustRoots:
    """Fulcio's root and intermediate certificates and Rekor's public keys, from the
    configuration (PEM files or Sigstore's ``trusted_root.json``), never fetched."""

    fulcio: tuple[x509.Certificate, ...] = ()
    rekor: tuple[PublicKeyTypes, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignaturePolicy:
    keys: tuple[TrustedKey, ...] = ()
    identities: tuple[Identity, ...] = ()
    roots: TrustRoots = field(default_factory=TrustRoots)
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    require_tlog: bool = False
    # How long an image without any signature waits for one (cosign signs after the push);
    # 0: refused at once.
    wait: timedelta = timedelta(0)


class Severity(enum.IntEnum):
    """Harbor's severities, lowest first; ``NONE`` as a threshold allows no finding at all."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def word(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Allowance:
    """A CVE that does not count against the threshold until (and including) ``until``."""

    cve: str
    until: date


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanPolicy:
    max_severity: Severity = Severity.HIGH
    wait: timedelta = timedelta(minutes=15)
    allow: tuple[Allowance, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformPolicy:
    """``auto``: the platforms of the nodes each target can run on; else exactly these."""

    required: tuple[str, ...] = ()

    @property
    def auto(self) -> bool:
        return not self.required


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustPolicy:
    """A repository's ``trust:`` section; a check that is None is off."""

    signatures: SignaturePolicy | None = None
    scan: ScanPolicy | None = None
    platforms: PlatformPolicy | None = PlatformPolicy()
