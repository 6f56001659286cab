"""Fulcio certificates (pure): whether a signing certificate chains to a configured root, and
whom it names (its SAN: a URI or an e-mail address) as issued by which OIDC issuer.

The path is built from the certificates the signature carries (untrusted: they only help to get
there) and the configured ones, and it ends at a configured certificate (a root, or an
intermediate that was configured as trusted). Every link is checked with the issuer's key
(``verify_directly_issued_by``); an issuer must be a CA allowed to sign certificates, within its
path length; the leaf must be for code signing. Validity in time is judged at the moment Rekor
logged the signature (``valid_at``), as Fulcio's certificates live ten minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID

# The OIDC issuer: 1.8 a DER UTF8String (Fulcio since 2023), 1.1 the raw text (before).
OIDC_ISSUER: Final = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OIDC_ISSUER_V1: Final = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
MAX_PATH: Final = 5  # certificates above the leaf
_UTF8_STRING: Final = 0x0C


@dataclass(frozen=True, slots=True, kw_only=True)
class CertIdentity:
    """Whom a certificate names: its SAN URIs and e-mail addresses, and the OIDC issuer."""

    subjects: tuple[str, ...]
    issuer: str | None

    def describe(self) -> str:
        subject = self.subjects[0] if self.subjects else "(no URI or e-mail subject)"
        return f"{subject} (issuer {self.issuer or 'unknown'})"


def identity_of(cert: x509.Certificate) -> CertIdentity:
    subjects: list[str] = []
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        subjects += names.get_values_for_type(x509.UniformResourceIdentifier)
        subjects += names.get_values_for_type(x509.RFC822Name)
    return CertIdentity(subjects=tuple(subjects), issuer=_issuer(cert))


def _issuer(cert: x509.Certificate) -> str | None:
    for oid in (OIDC_ISSUER, OIDC_ISSUER_V1):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        text = _utf8_string(raw) if oid == OIDC_ISSUER else raw
        try:
            return text.decode() if text else None
        except UnicodeDecodeError:
            return None
    return None


def _utf8_string(der: bytes) -> bytes | None:
    """The content of a DER UTF8String (short or long length form); None if it is not one."""
    if len(der) < 2 or der[0] != _UTF8_STRING:
        return None
    length, start = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or len(der) < 2 + count:
            return None
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    return der[start:] if len(der) - start == length else None


def certificate_path(
    leaf: x509.Certificate,
    *,
    supplied: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, ...] | None:
    """The issuers of ``leaf`` up to (and including) a ``trusted`` certificate, each signed by
    the next; None when there is no such path."""
    if not is_code_signing(leaf):
        return None
    candidates = list(dict.fromkeys([*trusted, *supplied]))
    return _climb(leaf, (), candidates=candidates, trusted=set(trusted))


def _climb(
    cert: x509.Certificate,
    path: tuple[x509.Certificate, ...],
    *,
    candidates: Sequence[x509.Certificate],
    trusted: set[x509.Certificate],
) -> tuple[x509.Certificate, ...] | None:
    if len(path) >= MAX_PATH:
        return None
    for issuer in candidates:
        if issuer in path or issuer == cert or not _issued(cert, issuer, below=len(path)):
            continue
        if issuer in trusted:
            return (*path, issuer)
        found = _climb(issuer, (*path, issuer), candidates=candidates, trusted=trusted)
        if found is not None:
            return found
    return None


def _issued(cert: x509.Certificate, issuer: x509.Certificate, *, below: int) -> bool:
    """Whether ``issuer`` is a CA that signed ``cert`` with ``below`` CAs under it."""
    if cert.issuer != issuer.subject:
        return False
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca or (
        constraints.path_length is not None and constraints.path_length < below
    ):
        return False
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_code_signing(cert: x509.Certificate) -> bool:
    """Whether ``cert`` is an end entity for code signing (as every Fulcio certificate is)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        pass
    return ExtendedKeyUsageOID.CODE_SIGNING in usages


def valid_at(certificates: Sequence[x509.Certificate], moment: datetime) -> bool:
    """Whether every certificate was within its validity at ``moment``."""
    return all(c.not_valid_before_utc <= moment <= c.not_valid_after_utc for c in certificates)
