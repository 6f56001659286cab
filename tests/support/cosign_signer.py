"""Sign image digests as cosign does, in its published formats, and push what it pushes.

- Legacy (cosign 1 and 2): a simple-signing payload per signature, each a layer of the manifest
  at tag ``sha256-<hex>.sig`` with the annotations cosign writes (signature; certificate, chain
  and the Rekor bundle for keyless). ``push_legacy`` writes every layer into one manifest, as
  cosign does when it signs a digest again.
- Sigstore bundle v0.3 (cosign 3): a DSSE envelope of an in-toto statement, in an OCI 1.1
  referring manifest shaped as cosign's (empty config, one bundle layer, ``subject``,
  ``artifactType``), listed in the referrers tag ``sha256-<hex>`` with the *empty* artifact
  type, as cosign writes that index on a registry without the referrers API.

A ``Signer`` is a listed key, or keyless: a leaf certificate from a ``LocalFulcio`` for an
identity. With ``rekor`` each signature is logged (a ``hashedrekord`` or ``dsse`` entry and its
SET) at ``logged_at``. Pushing goes to anything with ``put_blob``/``put_manifest``: the real
registry (``tests/support/registry.py``) or ``MemoryOci`` (``tests/support/oci_memory.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from receiver.decide.trust.claims import SignatureLayer
from tests.support.sigstore_pki import LocalFulcio, LocalRekor, PrivateKey, SigningKey, sign

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


class OciStore(Protocol):
    def put_blob(self, repository: str, data: bytes) -> str: ...

    def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> str: ...


@dataclass(frozen=True)
class Signer:
    """Who signs: ``key`` (key-based), or ``private`` with its Fulcio ``certificate``."""

    private: PrivateKey
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    rekor: LocalRekor | None = None
    logged_at: datetime | None = None

    @classmethod
    def with_key(
        cls, key: SigningKey, *, rekor: LocalRekor | None = None, at: datetime | None = None
    ) -> Signer:
        return cls(private=key.private, rekor=rekor, logged_at=at)

    @classmethod
    def keyless(
        cls,
        fulcio: LocalFulcio,
        rekor: LocalRekor,
        *,
        subject: str,
        issuer: str,
        at: datetime,
        logged_at: datetime | None = None,
    ) -> Signer:
        """A leaf issued ``at``; logged a minute later unless ``logged_at`` says otherwise."""
        private, cert = fulcio.issue(subject=subject, issuer=issuer, at=at)
        return cls(
            private=private,
            certificate=cert,
            chain=(fulcio.intermediate, fulcio.root),
            rekor=rekor,
            logged_at=logged_at or at + timedelta(minutes=1),
        )

    @property
    def verifier_pem(self) -> bytes:
        """The PEM a Rekor entry names the verifier by: the certificate, or the public key."""
        if self.certificate is not None:
            return self.certificate.public_bytes(serialization.Encoding.PEM)
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def log(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.rekor is None:
            return None
        return self.rekor.log(body, at=self.logged_at or datetime.now().astimezone())


def simple_signing_payload(
    digest: str, *, reference: str, annotations: Mapping[str, str] | None = None
) -> bytes:
    """Cosign's payload (Go's field order, compact, no trailing newline)."""
    critical = {
        "identity": {"docker-reference": reference},
        "image": {"docker-manifest-digest": digest},
        "type": "cosign container image signature",
    }
    document = {"critical": critical, "optional": dict(annotations) if annotations else None}
    return json.dumps(document, separators=(",", ":")).encode()


def legacy_layer(
    signer: Signer,
    digest: str,
    *,
    reference: str = "registry.test/team/app",
    annotations: Mapping[str, str] | None = None,
) -> SignatureLayer:
    """One signature as a ``.sig`` layer: its payload blob and the layer's annotations."""
    payload = simple_signing_payload(digest, reference=reference, annotations=annotations)
    signature = base64.b64encode(sign(signer.private, payload)).decode()
    layer = {"dev.cosignproject.cosign/signature": signature}
    if signer.certificate is not None:
        layer["dev.sigstore.cosign/certificate"] = signer.verifier_pem.decode()
        layer["dev.sigstore.cosign/chain"] = "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in signer.chain
        )
    entry = signer.log(_hashedrekord(payload, signature, signer.verifier_pem))
    if entry is not None:
        payload_part = {k: entry[k] for k in ("body", "integratedTime", "logIndex", "logID")}
        layer["dev.sigstore.cosign/bundle"] = json.dumps(
            {"SignedEntryTimestamp": entry["set"], "Payload": payload_part},
            separators=(",", ":"),
        )
    return SignatureLayer(payload=payload, annotations=layer)


def _hashedrekord(payload: bytes, signature: str, verifier: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
            "signature": {"content": signature, "publicKey": {"content": _b64(verifier)}},
        },
    }


def bundle(signer: Signer, digest: str, *, annotations: Mapping[str, str] | None = None) -> bytes:
    """A Sigstore bundle v0.3 signing ``digest``; ``annotations`` go to the statement's subject
    (where ``cosign sign -a`` puts them)."""
    algorithm, _, value = digest.partition(":")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {algorithm: value}, "annotations": dict(annotations or {})}],
        "predicateType": SIGN_PREDICATE,
        "predicate": {},
    }
    payload = json.dumps(statement, separators=(",", ":")).encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(IN_TOTO), IN_TOTO.encode(), len(payload), payload)
    signature = _b64(sign(signer.private, pae))
    envelope = {
        "payload": _b64(payload),
        "payloadType": IN_TOTO,
        "signatures": [{"sig": signature}],
    }
    material: dict[str, Any]
    if signer.certificate is not None:
        der = signer.certificate.public_bytes(serialization.Encoding.DER)
        material = {"certificate": {"rawBytes": _b64(der)}}
    else:
        spki = signer.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        material = {"publicKey": {"hint": _b64(hashlib.sha256(spki).digest())}}
    entry = signer.log(_dsse(envelope, payload, signer.verifier_pem))
    if entry is not None:
        material["tlogEntries"] = [_tlog_entry(entry)]
    document = {"mediaType": BUNDLE_V03, "verificationMaterial": material, "dsseEnvelope": envelope}
    return json.dumps(document, separators=(",", ":")).encode()


def _dsse(envelope: dict[str, Any], payload: bytes, verifier: bytes) -> dict[str, Any]:
    canonical = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canonical).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [
                {"signature": envelope["signatures"][0]["sig"], "verifier": _b64(verifier)}
            ],
        },
    }


def _tlog_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A bundle's ``tlogEntries`` item (protobuf JSON: int64 as strings)."""
    return {
        "logIndex": str(entry["logIndex"]),
        "logId": {"keyId": _b64(bytes.fromhex(entry["logID"]))},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": str(entry["integratedTime"]),
        "inclusionPromise": {"signedEntryTimestamp": entry["set"]},
        "canonicalizedBody": entry["body"],
    }


def push_legacy(
    store: OciStore, repository: str, digest: str, layers: Sequence[SignatureLayer]
) -> str:
    """Push the ``.sig`` manifest holding ``layers`` (with its config and payload blobs) at
    ``sha256-<hex>.sig``; its digest."""
    descriptors = []
    for layer in layers:
        blob = store.put_blob(repository, layer.payload)
        descriptors.append(
            {
                "mediaType": SIMPLE_SIGNING,
                "size": len(layer.payload),
                "digest": blob,
                "annotations": dict(layer.annotations),
            }
        )
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = store.put_blob(repository, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": config_digest},
        "layers": descriptors,
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    return store.put_manifest(repository, digest.replace(":", "-") + ".sig", body, OCI_MANIFEST)


@dataclass(frozen=True)
class Subject:
    """The descriptor of the signed manifest, as a referrer's ``subject`` names it."""

    digest: str
    media_type: str
    size: int


def push_bundles(
    store: OciStore, repository: str, subject: Subject, bundles: Sequence[bytes]
) -> list[str]:
    """Push each bundle as a referring manifest, then the referrers tag index listing exactly
    them (``artifactType`` empty, as cosign writes it); the manifests' digests."""
    store.put_blob(repository, b"{}")  # the empty config
    entries, digests = [], []
    for data in bundles:
        layer = store.put_blob(repository, data)
        manifest = referring_manifest(subject, bundle_digest=layer, bundle_size=len(data))
        manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        store.put_manifest(repository, manifest_digest, manifest, OCI_MANIFEST)
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "size": len(manifest),
                "digest": manifest_digest,
                "artifactType": EMPTY,
            }
        )
        digests.append(manifest_digest)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    body = json.dumps(index, separators=(",", ":")).encode()
    store.put_manifest(repository, subject.digest.replace(":", "-"), body, OCI_INDEX)
    return digests


def referring_manifest(subject: Subject, *, bundle_digest: str, bundle_size: int) -> bytes:
    """Cosign's referring manifest for one bundle (``WriteAttestationNewBundleFormat``)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": EMPTY,
            "size": 2,
            "artifactType": BUNDLE_V03,
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
        },
        "layers": [{"mediaType": BUNDLE_V03, "size": bundle_size, "digest": bundle_digest}],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": SIGN_PREDICATE,
            "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        },
        "subject": {
            "mediaType": subject.media_type,
            "size": subject.size,
            "digest": subject.digest,
        },
        "artifactType": BUNDLE_V03,
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
