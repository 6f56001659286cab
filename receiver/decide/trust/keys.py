"""Public keys as cosign and Sigstore use them (pure): which kinds are accepted, how a signature
is checked with each, and the names a key goes by (Rekor's log id, a bundle's key hint).

Cosign signs with ECDSA (P-256, P-384, P-521), Ed25519 or RSA (PKCS #1 v1.5), always over
SHA-256 for a P-256 or RSA key; for the larger curves newer clients hash with the curve's own
SHA-384 or SHA-512, so both are tried (each is as strong as the curve allows).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

MIN_RSA_BITS: Final = 2048
_CURVE_HASHES: Final[Mapping[str, tuple[hashes.HashAlgorithm, ...]]] = {
    "secp256r1": (hashes.SHA256(),),
    "secp384r1": (hashes.SHA384(), hashes.SHA256()),
    "secp521r1": (hashes.SHA512(), hashes.SHA256()),
}


def refusal(key: PublicKeyTypes) -> str | None:
    """Why ``key`` cannot sign a cosign signature, in words; None when it can."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name in _CURVE_HASHES:
            return None
        return f"an ECDSA key on curve {key.curve.name}: cosign uses P-256, P-384 or P-521"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size >= MIN_RSA_BITS:
            return None
        return f"an RSA key of {key.key_size} bits: at least {MIN_RSA_BITS} are needed"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return None
    return (
        f"a {type(key).__name__.removeprefix('_')} key: cosign keys are ECDSA (P-256, P-384, "
        "P-521), Ed25519 or RSA"
    )


def verifies(key: PublicKeyTypes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over ``data`` (any key of another kind: False)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            return any(
                _ecdsa(key, signature, data, algorithm)
                for algorithm in _CURVE_HASHES.get(key.curve.name, ())
            )
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return False


def _ecdsa(
    key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(algorithm))
    except InvalidSignature:
        return False
    return True


def spki(key: PublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key``: what its fingerprints are taken of."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def log_id(key: PublicKeyTypes) -> str:
    """The id a Rekor log signing with ``key`` goes by: hex SHA-256 of its SPKI."""
    return hashlib.sha256(spki(key)).hexdigest()


def key_hint(key: PublicKeyTypes) -> str:
    """The hint a Sigstore bundle names a key by (cosign's): base64 SHA-256 of its SPKI."""
    return base64.b64encode(hashlib.sha256(spki(key)).digest()).decode()


def verifier_der(pem: bytes) -> bytes | None:
    """What a PEM verifier in a Rekor entry stands for: a certificate's DER, a public key's
    SPKI; None when it is neither."""
    try:
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    except ValueError:
        pass
    try:
        return spki(serialization.load_pem_public_key(pem))
    except (ValueError, UnsupportedAlgorithm):
        return None
