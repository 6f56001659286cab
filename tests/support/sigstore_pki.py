"""A Sigstore of our own for tests: signing keys, a Fulcio-like CA and a Rekor log key.

The CA is a root and an intermediate, as Fulcio's are; a leaf certificate lives ten minutes,
has no subject, names its signer in a critical SAN (a URI, or an e-mail address), is for code
signing and carries the OIDC issuer both as Fulcio writes it now (1.3.6.1.4.1.57264.1.8, a DER
UTF8String) and as it did before (…1.1, raw text). ``LocalRekor.log`` makes an entry and its
signed entry timestamp (SET) as Rekor does: ECDSA P-256 over the canonical JSON of
``{body, integratedTime, logID, logIndex}``, ``logID`` being the hex SHA-256 of its key.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from receiver.decide.trust.policy import TrustedKey, TrustRoots

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

OIDC_ISSUER = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
LEAF_LIFETIME = timedelta(minutes=10)
_LOG_INDEX = itertools.count(1000)


@dataclass(frozen=True)
class SigningKey:
    """A signing key pair named as the configuration would name it."""

    name: str
    private: PrivateKey

    @property
    def public(self) -> PublicKeyTypes:
        return self.private.public_key()

    @property
    def public_pem(self) -> bytes:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def trusted(self, name: str | None = None) -> TrustedKey:
        return TrustedKey(name=name or self.name, key=self.public)

    def sign(self, data: bytes) -> bytes:
        return sign(self.private, data)


def sign(private: PrivateKey, data: bytes) -> bytes:
    """As cosign signs: ECDSA over SHA-256 (DER), Ed25519, RSA PKCS #1 v1.5 over SHA-256."""
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return private.sign(data)


def ecdsa_key(name: str) -> SigningKey:
    return SigningKey(name=name, private=ec.generate_private_key(ec.SECP256R1()))


def ed25519_key(name: str) -> SigningKey:
    return SigningKey(name=name, private=ed25519.Ed25519PrivateKey.generate())


def rsa_key(name: str) -> SigningKey:
    return SigningKey(
        name=name, private=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


@dataclass(frozen=True)
class LocalRekor:
    key: SigningKey = field(default_factory=lambda: ecdsa_key("rekor"))

    @property
    def log_id(self) -> str:
        der = self.key.public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def log(self, body: dict[str, Any], *, at: datetime) -> dict[str, Any]:
        """``{"body", "integratedTime", "logID", "logIndex", "set"}`` for ``body`` logged ``at``."""
        entry = {
            "body": base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode(),
            "integratedTime": int(at.timestamp()),
            "logID": self.log_id,
            "logIndex": next(_LOG_INDEX),
        }
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        return {**entry, "set": base64.b64encode(self.key.sign(canonical)).decode()}


@dataclass(frozen=True)
class LocalFulcio:
    """A root and an intermediate; ``issue`` gives a leaf for an identity."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate

    @classmethod
    def create(cls, name: str = "test-sigstore", *, at: datetime) -> LocalFulcio:
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = _name(name)
        root = _ca(root_name, root_key.public_key(), root_name, root_key, at=at, path_length=1)
        inter_key = ec.generate_private_key(ec.SECP384R1())
        inter_name = _name(f"{name}-intermediate")
        inter = _ca(inter_name, inter_key.public_key(), root_name, root_key, at=at, path_length=0)
        return cls(root_key=root_key, root=root, intermediate_key=inter_key, intermediate=inter)

    def roots(self, rekor: LocalRekor, *, intermediate: bool = True) -> TrustRoots:
        """What a configuration trusting this Sigstore lists: the root and the intermediate
        (as ``trusted_root.json`` does; a bundle carries only the leaf), and Rekor's key."""
        fulcio = (self.root, self.intermediate) if intermediate else (self.root,)
        return TrustRoots(fulcio=fulcio, rekor=(rekor.key.public,))

    def issue(
        self, *, subject: str, issuer: str, at: datetime
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A key and its leaf certificate for ``subject`` (a URI, or an e-mail address with
        an ``@`` and no ``:``), valid from ``at`` for ten minutes."""
        key = ec.generate_private_key(ec.SECP256R1())
        san: x509.GeneralName = (
            x509.RFC822Name(subject)
            if "@" in subject and ":" not in subject
            else x509.UniformResourceIdentifier(subject)
        )
        raw = issuer.encode()
        cert = (
            _builder(x509.Name([]), key.public_key(), self.intermediate.subject, at=at)
            .not_valid_after(at + LEAF_LIFETIME)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(_usage(digital_signature=True), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1, raw), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER, bytes([0x0C, len(raw)]) + raw), False
            )
            .sign(self.intermediate_key, hashes.SHA384())
        )
        return key, cert


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "regdeploy tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, key: PublicKeyTypes, issuer: x509.Name, *, at: datetime
) -> x509.CertificateBuilder:
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(at)
    )


def _ca(
    subject: x509.Name,
    key: PublicKeyTypes,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    at: datetime,
    path_length: int,
) -> x509.Certificate:
    return (
        _builder(subject, key, issuer, at=at - timedelta(days=1))
        .not_valid_after(at + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_usage(key_cert_sign=True), critical=True)
        .sign(issuer_key, hashes.SHA384())
    )


def _usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
