"""Read a digest's cosign signatures from its registry and verify them
(``receiver.decide.trust.cosign`` judges; this only reads).

Cosign writes them in two places, and both are read:

- the legacy tag ``sha256-<hex>.sig``: an image manifest with one layer per signature (media
  type ``application/vnd.dev.cosign.simplesigning.v1+json``, annotations on the layer);
- OCI 1.1 referrers of the digest whose artifact type is a Sigstore bundle v0.3: from the
  referrers API, or where the registry has none, from the referrers tag ``sha256-<hex>`` (an
  OCI index). Cosign gives that index's entries the *empty* artifact type
  (``application/vnd.oci.empty.v1+json``), so those entries are not judged by it: each referring
  manifest is fetched and its own ``artifactType`` and layers say what it holds.

Everything is asked by digest and hashed again by the client; its size is checked against the
descriptor here, and a referring manifest's ``subject`` must be the digest. At most
``MAX_SIGNATURES`` signatures are read in each place (so that one filled with junk does not
crowd out the other), at most ``MAX_REFERRERS`` referring manifests, each blob at most
``MAX_BLOB_BYTES``. A multi-platform image is verified on the digest of its index (the
digest given), as cosign signs it.

Errors: ``RegistryUnavailable`` rises (the check cannot conclude: wait and retry). So does a
``RegistryError`` on the lookups themselves (the ``.sig`` tag, the referrers, the referrers
tag: access denied, a malformed answer): the registry failed, nothing was judged. Material of
one signature that cannot be used (a blob or manifest that does not hash to its digest, is
missing or too large) refuses that signature (``bad_signature``) and the others still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from receiver.decide.trust.claims import SignatureLayer
from receiver.decide.trust.cosign import conclude, refused, verify_bundle, verify_legacy
from receiver.decide.trust.policy import CheckResult, SignaturePolicy
from receiver.errors import RegistryError, RegistryUnavailable
from receiver.registry.client import OciObject
from receiver.registry.oci import index_entries

SIMPLE_SIGNING: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_V03: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY: Final = "application/vnd.oci.empty.v1+json"
MAX_SIGNATURES: Final = 20
MAX_REFERRERS: Final = 20
MAX_BLOB_BYTES: Final = 1 << 20
MAX_MANIFEST_BYTES: Final = 4 << 20


class OciReader(Protocol):
    """What signatures are read with (``receiver.registry.client.RegistryClient``)."""

    async def manifest(
        self, registry: str, repository: str, reference: str
    ) -> OciObject | None: ...

    async def blob(
        self, registry: str, repository: str, digest: str, *, max_bytes: int
    ) -> bytes: ...

    async def referrers(
        self, registry: str, repository: str, digest: str
    ) -> list[dict[str, Any]] | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reading:
    """One verification: where, of what, by which policy."""

    oci: OciReader
    registry: str
    repository: str
    digest: str
    policy: SignaturePolicy
    now: datetime

    @property
    def tag(self) -> str:
        """``sha256-<hex>``: the tag cosign derives from the digest."""
        return self.digest.replace(":", "-", 1)


async def verify_signatures(
    oci: OciReader,
    *,
    registry: str,
    repository: str,
    digest: str,
    policy: SignaturePolicy,
    now: datetime,
) -> CheckResult:
    """Whether a signature that ``policy`` accepts names ``digest`` in ``repository``."""
    reading = _Reading(
        oci=oci, registry=registry, repository=repository, digest=digest, policy=policy, now=now
    )
    results = await _legacy(reading) + await _bundles(reading)
    return conclude(results, policy=policy)


async def _legacy(reading: _Reading) -> list[CheckResult]:
    """Each signature layer of the ``.sig`` manifest, judged."""
    found = await reading.oci.manifest(reading.registry, reading.repository, reading.tag + ".sig")
    if found is None:
        return []
    manifest = _object(found.body)
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        return [refused("bad_signature", f"{reading.tag}.sig is not an image manifest")]
    signatures = [d for d in layers if isinstance(d, dict) and d.get("mediaType") == SIMPLE_SIGNING]
    results = []
    for descriptor in signatures[:MAX_SIGNATURES]:
        annotations = descriptor.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(v, str) for v in annotations.values()
        ):
            results.append(refused("bad_signature", "a .sig layer with malformed annotations"))
            continue
        try:
            payload = await _blob(reading, descriptor)
        except RegistryUnavailable:
            raise
        except RegistryError as exc:
            results.append(_unusable(exc))
            continue
        layer = SignatureLayer(payload=payload, annotations=annotations)
        results.append(
            verify_legacy(layer, digest=reading.digest, policy=reading.policy, now=reading.now)
        )
    return results


async def _bundles(reading: _Reading) -> list[CheckResult]:
    """Each Sigstore bundle among the digest's referrers, judged."""
    results: list[CheckResult] = []
    for descriptor in (await _referring(reading))[:MAX_REFERRERS]:
        if len(results) >= MAX_SIGNATURES:
            break
        try:
            manifest = await _manifest(reading, descriptor)
        except RegistryUnavailable:
            raise
        except RegistryError as exc:
            results.append(_unusable(exc))
            continue
        if manifest is None or not _holds_bundle(manifest):
            continue  # an SBOM, an attestation, or gone since it was listed
        subject = manifest.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != reading.digest:
            results.append(
                refused(
                    "wrong_digest",
                    f"a bundle referrer {descriptor['digest']} "
                    f"whose subject is not {reading.digest}",
                )
            )
            continue
        layers = manifest.get("layers")
        for layer in layers if isinstance(layers, list) else ():
            if isinstance(layer, dict) and layer.get("mediaType") == BUNDLE_V03:
                results.append(await _bundle(reading, layer))
    return results[:MAX_SIGNATURES]


async def _referring(reading: _Reading) -> list[dict[str, Any]]:
    """The descriptors of manifests that may hold a bundle for the digest, likeliest first."""
    oci, where = reading.oci, (reading.registry, reading.repository)
    listed = await oci.referrers(*where, reading.digest)
    if listed is not None:  # the API says each manifest's own artifactType: it can be trusted
        return [d for d in listed if d.get("artifactType") == BUNDLE_V03 and _descriptor(d)]
    index = await oci.manifest(*where, reading.tag)
    if index is None:
        return []
    entries = [d for d in index_entries(index.body) or () if _descriptor(d)]
    order = {BUNDLE_V03: 0, EMPTY: 1, None: 1}  # cosign's own entries say "empty"
    return sorted(entries, key=lambda d: order.get(d.get("artifactType"), 2))


async def _manifest(reading: _Reading, descriptor: dict[str, Any]) -> dict[str, Any] | None:
    """The referring manifest ``descriptor`` names, of the size it says (None: gone)."""
    found = await reading.oci.manifest(reading.registry, reading.repository, descriptor["digest"])
    if found is None:
        return None
    if len(found.body) != descriptor["size"]:
        raise RegistryError(
            f"manifest {descriptor['digest']} is not of the size its descriptor says"
        )
    return _object(found.body)


async def _bundle(reading: _Reading, layer: dict[str, Any]) -> CheckResult:
    if not _descriptor(layer):
        return refused("bad_signature", "a bundle layer with a malformed descriptor")
    try:
        data = await _blob(reading, layer)
    except RegistryUnavailable:
        raise
    except RegistryError as exc:
        return _unusable(exc)
    return verify_bundle(data, digest=reading.digest, policy=reading.policy, now=reading.now)


async def _blob(reading: _Reading, descriptor: dict[str, Any]) -> bytes:
    """The blob ``descriptor`` names, of the size it says (RegistryError otherwise)."""
    if not _descriptor(descriptor, limit=MAX_BLOB_BYTES):
        raise RegistryError(f"a descriptor without digest and size, or over {MAX_BLOB_BYTES} B")
    data = await reading.oci.blob(
        reading.registry, reading.repository, descriptor["digest"], max_bytes=MAX_BLOB_BYTES
    )
    if len(data) != descriptor["size"]:
        raise RegistryError(f"blob {descriptor['digest']} is not of the size its descriptor says")
    return data


def _descriptor(item: Any, *, limit: int = MAX_MANIFEST_BYTES) -> bool:
    size = item.get("size") if isinstance(item, dict) else None
    return (
        isinstance(item, dict)
        and isinstance(item.get("digest"), str)
        and isinstance(size, int)
        and not isinstance(size, bool)
        and 0 <= size <= limit
    )


def _holds_bundle(manifest: dict[str, Any]) -> bool:
    layers = manifest.get("layers")
    return manifest.get("artifactType") == BUNDLE_V03 or (
        isinstance(layers, list)
        and any(isinstance(d, dict) and d.get("mediaType") == BUNDLE_V03 for d in layers)
    )


def _unusable(exc: RegistryError) -> CheckResult:
    """A refusal of one signature whose material the registry served wrong (or not at all)."""
    return refused("bad_signature", f"signature material unusable: {exc}")


def _object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
