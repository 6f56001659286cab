"""verify_signatures over an in-memory registry: where cosign's signatures are looked for (the
``.sig`` tag, the referrers API, the referrers tag with its empty artifact types), what is
skipped, capped and refused; with real cosign captures and with signatures made here."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from receiver.decide.trust.cosign import load_public_key
from receiver.decide.trust.policy import (
    CheckOutcome,
    CheckResult,
    SignaturePolicy,
    TrustedKey,
    TrustRoots,
)
from receiver.decide.trust.signatures import MAX_SIGNATURES, verify_signatures
from receiver.errors import RegistryUnavailable
from tests.support.cosign_signer import (
    EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Signer,
    Subject,
    bundle,
    legacy_layer,
    push_bundles,
    push_legacy,
)
from tests.support.fixture_files import FIXTURES
from tests.support.oci_memory import MemoryOci
from tests.support.sigstore_pki import ecdsa_key

TOBBY = FIXTURES / "cosign" / "tobby-fetch"
REKOR_PUB = FIXTURES / "cosign" / "containers-image" / "internal-testdata" / "rekor.pub"
CLASSIC = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268"
BUNDLED = "sha256:d7d5640c741c60b47fa4b5530daa20a6469b55754a89dd42adbadadb59f9093c"
REPO = "lab/subject"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
IMAGE_A = "sha256:" + "a" * 64
IMAGE_B = "sha256:" + "b" * 64
OPS = ecdsa_key("ops")
STRANGER = ecdsa_key("stranger")
BY_OPS = SignaturePolicy(keys=(OPS.trusted(),))


async def verify(oci: MemoryOci, digest: str, policy: SignaturePolicy = BY_OPS) -> CheckResult:
    return await verify_signatures(
        oci, registry="registry.test", repository=REPO, digest=digest, policy=policy, now=NOW
    )


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tobby_policy(*, require_tlog: bool = False) -> SignaturePolicy:
    keys = (
        TrustedKey(name="bundle", key=load_public_key((TOBBY / "bundle-cosign.pub").read_text())),
        TrustedKey(name="classic", key=load_public_key((TOBBY / "classic-cosign.pub").read_text())),
    )
    rekor = TrustRoots(rekor=(load_public_key(REKOR_PUB.read_text()),))
    return SignaturePolicy(keys=keys, roots=rekor, require_tlog=require_tlog)


def tobby_registry() -> MemoryOci:
    """What tobby-fetch captured: a ``.sig`` manifest and its payload; a referrers tag index
    (its entry's artifactType the empty type), the referring manifest and the bundle."""
    oci = MemoryOci()
    oci.put_manifest(REPO, CLASSIC.replace(":", "-") + ".sig",
                     (TOBBY / "classic-sig-manifest.json").read_bytes(), OCI_MANIFEST)  # fmt: skip
    oci.put_blob(REPO, (TOBBY / "classic-payload.json").read_bytes())
    oci.put_manifest(REPO, BUNDLED.replace(":", "-"),
                     (TOBBY / "bundle-referrers-index.json").read_bytes(), OCI_INDEX)  # fmt: skip
    referring = (TOBBY / "bundle-referring-manifest.json").read_bytes()
    oci.put_manifest(REPO, digest_of(referring), referring, OCI_MANIFEST)
    oci.put_blob(REPO, (TOBBY / "bundle-sigstore.json").read_bytes())
    return oci


@pytest.mark.parametrize("require_tlog", [False, True])
async def test_cosign_3_bundle_found_through_the_referrers_tag(require_tlog: bool) -> None:
    oci = tobby_registry()
    result = await verify(oci, BUNDLED, tobby_policy(require_tlog=require_tlog))
    assert (result.outcome, result.words) == (
        CheckOutcome.PASSED, "verified by key bundle (sigstore bundle)")  # fmt: skip
    assert "referrers " + BUNDLED in oci.reads  # asked the API first, which has none


async def test_cosign_3_classic_sig_manifest() -> None:
    result = await verify(tobby_registry(), CLASSIC, tobby_policy())
    assert (result.outcome, result.words) == (
        CheckOutcome.PASSED, "verified by key classic (legacy .sig)")  # fmt: skip


async def test_bundles_from_the_referrers_api() -> None:
    oci = MemoryOci(referrers_api=True)
    subject = Subject(digest=IMAGE_A, media_type=OCI_MANIFEST, size=500)
    push_bundles(oci, REPO, subject, [bundle(Signer.with_key(OPS), IMAGE_A)])
    oci.tags.pop((REPO, IMAGE_A.replace(":", "-")))  # a registry with the API has no such tag
    result = await verify(oci, IMAGE_A)
    assert (result.outcome, result.words) == (
        CheckOutcome.PASSED, "verified by key ops (sigstore bundle)")  # fmt: skip


async def test_nothing_in_either_place_is_unsigned() -> None:
    oci = MemoryOci()
    result = await verify(oci, IMAGE_A)
    assert (result.outcome, result.reason) == (CheckOutcome.REFUSED, "unsigned")
    assert oci.reads == [
        f"manifest {IMAGE_A.replace(':', '-')}.sig",
        f"referrers {IMAGE_A}",
        f"manifest {IMAGE_A.replace(':', '-')}",
    ]


async def test_a_bundle_referrer_of_another_image_never_counts() -> None:
    """A's valid bundle, listed in B's referrers tag: its subject is A."""
    oci = MemoryOci()
    subject = Subject(digest=IMAGE_A, media_type=OCI_MANIFEST, size=500)
    push_bundles(oci, REPO, subject, [bundle(Signer.with_key(OPS), IMAGE_A)])
    index = oci.manifests[oci.tags[REPO, IMAGE_A.replace(":", "-")]][1]
    oci.put_manifest(REPO, IMAGE_B.replace(":", "-"), index, OCI_INDEX)
    result = await verify(oci, IMAGE_B)
    assert (result.outcome, result.reason) == (CheckOutcome.REFUSED, "wrong_digest")
    assert result.words.endswith(f"whose subject is not {IMAGE_B}")


async def test_referrers_that_hold_no_bundle_are_skipped() -> None:
    oci = MemoryOci(referrers_api=True)
    sbom = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": EMPTY, "size": 2, "digest": oci.put_blob(REPO, b"{}")},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "size": 1, "digest": IMAGE_A},
    }
    body = json.dumps(sbom).encode()
    oci.put_manifest(REPO, digest_of(body), body, OCI_MANIFEST)
    result = await verify(oci, IMAGE_A)
    assert result.reason == "unsigned"


async def test_a_sig_layer_that_is_no_signature_is_skipped() -> None:
    oci = MemoryOci()
    layer = legacy_layer(Signer.with_key(OPS), IMAGE_A)
    push_legacy(oci, REPO, IMAGE_A, [layer])
    sig_tag = (REPO, IMAGE_A.replace(":", "-") + ".sig")
    manifest = json.loads(oci.manifests[oci.tags[sig_tag]][1])
    manifest["layers"][0]["mediaType"] = "text/plain"
    oci.put_manifest(REPO, sig_tag[1], json.dumps(manifest).encode(), OCI_MANIFEST)
    assert (await verify(oci, IMAGE_A)).reason == "unsigned"


async def test_a_descriptor_that_lies_about_the_size_refuses_that_signature() -> None:
    oci = MemoryOci()
    push_legacy(oci, REPO, IMAGE_A, [legacy_layer(Signer.with_key(OPS), IMAGE_A)])
    sig_tag = (REPO, IMAGE_A.replace(":", "-") + ".sig")
    manifest = json.loads(oci.manifests[oci.tags[sig_tag]][1])
    manifest["layers"][0]["size"] += 1
    oci.put_manifest(REPO, sig_tag[1], json.dumps(manifest).encode(), OCI_MANIFEST)
    result = await verify(oci, IMAGE_A)
    blob = manifest["layers"][0]["digest"]
    assert (result.reason, result.words) == (
        "bad_signature",
        f"signature material unusable: blob {blob} is not of the size its descriptor says",
    )


async def test_a_tampered_blob_refuses_only_its_own_signature() -> None:
    oci = MemoryOci()
    ops = Signer.with_key(OPS)
    push_legacy(oci, REPO, IMAGE_A, [legacy_layer(ops, IMAGE_A)])
    payload_digest = next(iter(oci.blobs))
    oci.tamper(payload_digest, oci.blobs[payload_digest].replace(b"sha256:a", b"sha256:b"))
    assert (await verify(oci, IMAGE_A)).reason == "bad_signature"
    push_bundles(oci, REPO, Subject(digest=IMAGE_A, media_type=OCI_MANIFEST, size=9),
                 [bundle(ops, IMAGE_A)])  # fmt: skip
    assert (await verify(oci, IMAGE_A)).words == "verified by key ops (sigstore bundle)"


async def test_at_most_so_many_signatures_are_read() -> None:
    oci = MemoryOci()
    stranger = Signer.with_key(STRANGER)
    push_legacy(oci, REPO, IMAGE_A, [legacy_layer(stranger, IMAGE_A)] * (MAX_SIGNATURES + 5))
    result = await verify(oci, IMAGE_A)
    assert result.words == f"{MAX_SIGNATURES} signatures, none by a listed key (keys ops)"
    assert sum(read.startswith("blob ") for read in oci.reads) == MAX_SIGNATURES


async def test_a_registry_away_cannot_conclude() -> None:
    oci = tobby_registry()
    oci.away = True
    with pytest.raises(RegistryUnavailable):
        await verify(oci, BUNDLED, tobby_policy())
