"""The two forms cosign stores an image signature in, read into one ``SignedClaim`` (pure; read,
not believed: ``receiver.decide.trust.cosign`` judges it).

Legacy "simple signing" (cosign 1 and 2, the ``sha256-<hex>.sig`` tag): one manifest layer per
signature, the payload blob ``{"critical": {"identity": …, "image": {"docker-manifest-digest":
…}, "type": "cosign container image signature"}, "optional": {…-a annotations…}}`` and, on the
layer, the annotations ``dev.cosignproject.cosign/signature`` (base64, over the payload's exact
bytes), maybe ``dev.sigstore.cosign/certificate`` and ``…/chain`` (PEM, keyless) and
``dev.sigstore.cosign/bundle`` (the Rekor entry with its SET).

Sigstore bundle v0.3 (cosign 3, an OCI 1.1 referrer): a DSSE envelope of an in-toto statement
whose ``predicateType`` is ``https://sigstore.dev/cosign/sign/v1``; each ``subject`` names a
digest, and cosign puts the ``-a`` annotations in that subject's ``annotations`` (as
``cosign verify -a`` reads them back). The signature is over DSSE's pre-authentication encoding
(PAE) of the payload, not the payload itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from cryptography import x509

from receiver.decide.trust.rekor import TlogEntry, entry_from_annotation, entry_from_bundle

LEGACY: Final = "legacy .sig"
BUNDLE: Final = "sigstore bundle"
SIMPLE_SIGNING_TYPE: Final = "cosign container image signature"
SIGN_PREDICATE: Final = "https://sigstore.dev/cosign/sign/v1"
IN_TOTO: Final = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPES: Final = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)
SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION: Final = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION: Final = "dev.sigstore.cosign/chain"
REKOR_ANNOTATION: Final = "dev.sigstore.cosign/bundle"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureLayer:
    """One layer of a legacy ``.sig`` manifest: the payload blob and the layer's annotations."""

    payload: bytes
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedClaim:
    """What one stored signature claims, in either form."""

    form: str  # LEGACY or BUNDLE, as the words name it
    signed: bytes  # the exact bytes the signature is over (the payload, or DSSE's PAE)
    signatures: tuple[bytes, ...]
    payload: bytes  # what a Rekor entry hashes
    subjects: Mapping[str, Mapping[str, object]]  # each digest named -> its annotations
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    key_hint: str | None = None
    tlog: tuple[TlogEntry, ...] = ()
    tlog_problem: str = ""  # why the log entry it carries could not be read


@contextmanager
def _parsing(what: str) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ValueError(f"{what}: {type(exc).__name__} {exc}") from None


def legacy_claim(layer: SignatureLayer) -> SignedClaim:
    """The claim of a legacy layer; ValueError when it is not a cosign image signature."""
    with _parsing("malformed simple-signing payload"):
        document = json.loads(layer.payload)
        critical, optional = document["critical"], document.get("optional") or {}
        kind, digest = critical["type"], critical["image"]["docker-manifest-digest"]
        if not isinstance(digest, str) or not isinstance(optional, dict):
            raise TypeError("docker-manifest-digest or optional of the wrong type")
    if kind != SIMPLE_SIGNING_TYPE:
        raise ValueError(f"payload of type {kind!r}, not a cosign image signature")
    annotations = layer.annotations
    with _parsing("malformed signature annotation"):
        signature = base64.b64decode(annotations[SIGNATURE_ANNOTATION], validate=True)
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    if CERTIFICATE_ANNOTATION in annotations:
        with _parsing("malformed certificate annotation"):
            certificate = x509.load_pem_x509_certificate(
                annotations[CERTIFICATE_ANNOTATION].encode()
            )
            chain = tuple(_pem_chain(annotations.get(CHAIN_ANNOTATION, "")))
    tlog: tuple[TlogEntry, ...] = ()
    problem = ""
    if REKOR_ANNOTATION in annotations:
        try:
            tlog = (entry_from_annotation(annotations[REKOR_ANNOTATION]),)
        except ValueError as exc:
            problem = str(exc)
    return SignedClaim(
        form=LEGACY,
        signed=layer.payload,
        signatures=(signature,),
        payload=layer.payload,
        subjects=MappingProxyType({digest: MappingProxyType(optional)}),
        certificate=certificate,
        chain=chain,
        tlog=tlog,
        tlog_problem=problem,
    )


def _pem_chain(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode()) if text.strip() else []


def bundle_claim(data: bytes) -> SignedClaim:
    """The claim of a Sigstore bundle (v0.3); ValueError when it is not a cosign image
    signature in one."""
    with _parsing("malformed sigstore bundle"):
        bundle = json.loads(data)
        if bundle["mediaType"] not in BUNDLE_MEDIA_TYPES:
            raise ValueError(f"media type {bundle['mediaType']!r}, not a v0.3 bundle")
        if "dsseEnvelope" not in bundle:
            raise ValueError("no DSSE envelope (a blob signature, not an image signature)")
        envelope, material = bundle["dsseEnvelope"], bundle["verificationMaterial"]
        payload_type = envelope["payloadType"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = tuple(
            base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]
        )
    if payload_type != IN_TOTO:
        raise ValueError(f"DSSE payload of type {payload_type!r}, not an in-toto statement")
    with _parsing("malformed in-toto statement"):
        statement = json.loads(payload)
        if statement["predicateType"] != SIGN_PREDICATE:
            raise ValueError(f"predicate {statement['predicateType']!r}, not a cosign signature")
        subjects = {
            f"sha256:{s['digest']['sha256']}": MappingProxyType(s.get("annotations") or {})
            for s in statement["subject"]
            if "sha256" in s["digest"]
        }
    certificate, chain, hint = _material(material)
    tlog, problem = _tlog(material)
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
    return SignedClaim(
        form=BUNDLE,
        signed=pae,
        signatures=signatures,
        payload=payload,
        subjects=MappingProxyType(subjects),
        certificate=certificate,
        chain=chain,
        key_hint=hint,
        tlog=tlog,
        tlog_problem=problem,
    )


def _material(
    material: Any,
) -> tuple[x509.Certificate | None, tuple[x509.Certificate, ...], str | None]:
    """(leaf certificate, the rest of the chain, public key hint) of ``verificationMaterial``."""
    with _parsing("malformed verification material"):
        if "certificate" in material:
            der = base64.b64decode(material["certificate"]["rawBytes"], validate=True)
            return x509.load_der_x509_certificate(der), (), None
        if "x509CertificateChain" in material:
            chain = [
                x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"], validate=True))
                for c in material["x509CertificateChain"]["certificates"]
            ]
            return chain[0], tuple(chain[1:]), None
        hint = (material.get("publicKey") or {}).get("hint")
        return None, (), hint if isinstance(hint, str) else None


def _tlog(material: Any) -> tuple[tuple[TlogEntry, ...], str]:
    try:
        return tuple(entry_from_bundle(e) for e in material.get("tlogEntries") or ()), ""
    except (ValueError, AttributeError, TypeError) as exc:
        return (), str(exc)
