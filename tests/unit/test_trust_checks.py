"""``TrustChecks``: which checks run, in which order, what a refusal stops, what holds a deploy
back and until when, and what a check that cannot conclude does — against an in-memory registry
(``tests.support.oci_memory``), the recording deployer's nodes and a manual clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from deployers.base import Deployers
from handlers.references import ImageName, ImageRef
from receiver.decide.trust.checks import TrustChecks, TrustVerdict
from receiver.decide.trust.policy import (
    CheckOutcome,
    PlatformPolicy,
    SignaturePolicy,
    TrustPolicy,
)
from receiver.errors import RegistryError, TrustUnavailable
from tests.support.clock import ManualClock
from tests.support.cosign_signer import OCI_INDEX, OCI_MANIFEST, Signer, legacy_layer, push_legacy
from tests.support.oci_memory import MemoryOci
from tests.support.recording import RecordingDeployer
from tests.support.sigstore_pki import ecdsa_key
from tests.support.stack import WEB

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
REGISTRY, REPO = "registry.test", "team/app"
KEY = ecdsa_key("ops-2026")
SIGNED = TrustPolicy(signatures=SignaturePolicy(keys=(KEY.trusted(),)))


def image(oci: MemoryOci, *, arch: str = "amd64", tag: str = "1.0.0") -> ImageRef:
    config = oci.put_blob(REPO, json.dumps({"os": "linux", "architecture": arch}).encode())
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                           "config": {"digest": config, "size": 1}}).encode()  # fmt: skip
    digest = oci.put_manifest(REPO, tag, manifest, OCI_MANIFEST)
    return ImageRef(name=ImageName(registry=REGISTRY, repository=REPO), tag=tag, digest=digest)


def checks(
    oci: MemoryOci,
    policy: TrustPolicy,
    *,
    reads: bool = True,
    nodes: dict[str, int] | None = None,
    clock: ManualClock | None = None,
) -> TrustChecks:
    deployer = RecordingDeployer()
    if nodes is not None:
        deployer.node_platforms = nodes
    return TrustChecks(
        policies={"team/app": policy}, fallback=policy, oci=oci, harbors={},
        deployers=Deployers([deployer]), reads_registry=lambda host: reads,
        canonical=lambda host: host, clock=clock or ManualClock(NOW),
    )  # fmt: skip


async def judged(found: TrustChecks, ref: ImageRef, since: datetime | None = None) -> TrustVerdict:
    return await found.judge(target=WEB, image=ref, repository="team/app", held_since=since)


async def test_a_signed_image_on_covered_nodes_passes_both_checks_in_order() -> None:
    oci = MemoryOci()
    ref = image(oci)
    push_legacy(oci, REPO, ref.digest or "", [legacy_layer(Signer.with_key(KEY), ref.digest or "")])
    verdict = await judged(checks(oci, SIGNED), ref)
    assert [(r.check.value, r.outcome) for r in verdict.results] == [
        ("signature", CheckOutcome.PASSED), ("platform", CheckOutcome.PASSED)]  # fmt: skip
    assert verdict.refusal is None and verdict.hold_until is None


async def test_a_refusal_ends_the_checking() -> None:
    oci = MemoryOci()
    verdict = await judged(checks(oci, SIGNED), image(oci))
    assert [r.reason for r in verdict.results] == ["unsigned"]
    assert verdict.words.startswith("signature: ")


async def test_an_unsigned_image_waits_for_a_signature_within_the_wait_then_is_refused() -> None:
    oci, clock = MemoryOci(), ManualClock(NOW)
    policy = TrustPolicy(
        signatures=SignaturePolicy(keys=(KEY.trusted(),), wait=timedelta(minutes=5))
    )
    found, ref = checks(oci, policy, clock=clock), image(oci)
    first = await judged(found, ref)
    assert [r.outcome for r in first.results] == [CheckOutcome.WAITING]
    assert first.words == "awaiting a signature (waited 0 s of 5 min)"
    assert first.hold_until == NOW + timedelta(seconds=30)  # a tenth of the wait
    clock.advance(minutes=4, seconds=50)
    assert (await judged(found, ref, since=NOW)).hold_until == NOW + timedelta(minutes=5)
    clock.advance(seconds=10)
    assert [r.reason for r in (await judged(found, ref, since=NOW)).results] == ["unsigned"]


async def test_what_the_nodes_lack_is_named() -> None:
    oci = MemoryOci()
    verdict = await judged(checks(oci, TrustPolicy(), nodes={"linux/arm64": 2}), image(oci))
    [result] = verdict.results
    assert result.reason == "platform_missing"
    assert result.words == "image has linux/amd64; 2 nodes are linux/arm64"


async def test_an_explicit_list_needs_no_nodes() -> None:
    oci = MemoryOci()
    wanted = TrustPolicy(platforms=PlatformPolicy(required=("linux/arm64",)))
    [result] = (await judged(checks(oci, wanted, nodes={}), image(oci, arch="arm64"))).results
    assert result.outcome is CheckOutcome.PASSED


async def test_no_ready_node_is_asked_again_never_a_refusal() -> None:
    oci = MemoryOci()
    with pytest.raises(RegistryError, match="no ready node can run recording:web now"):
        await judged(checks(oci, TrustPolicy(), nodes={}), image(oci))


async def test_a_registry_away_is_a_check_that_cannot_conclude() -> None:
    oci = MemoryOci()
    ref = image(oci)
    oci.away = True
    with pytest.raises(TrustUnavailable) as caught:
        await judged(checks(oci, SIGNED), ref)
    assert caught.value.check == "signature"


async def test_what_no_reader_expects_is_refused_not_a_crash() -> None:
    oci = MemoryOci()
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": 5}).encode()
    digest = oci.put_manifest(REPO, "2.0.0", index, OCI_INDEX)
    ref = ImageRef(name=ImageName(registry=REGISTRY, repository=REPO), tag="2.0.0", digest=digest)
    [result] = (await judged(checks(oci, TrustPolicy()), ref)).results
    assert (result.outcome, result.reason) == (CheckOutcome.REFUSED, "platform_missing")
    broken = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": 7}).encode()
    digest = oci.put_manifest(REPO, "3.0.0", broken, OCI_MANIFEST)
    ref = ImageRef(name=ImageName(registry=REGISTRY, repository=REPO), tag="3.0.0", digest=digest)
    with pytest.raises(RegistryError, match="names no config"):
        await judged(checks(oci, TrustPolicy()), ref)
    sig = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": 5}).encode()
    signed = image(oci, tag="4.0.0")
    oci.put_manifest(REPO, (signed.digest or "").replace(":", "-") + ".sig", sig, OCI_MANIFEST)
    assert [r.reason for r in (await judged(checks(oci, SIGNED), signed)).results] == [
        "bad_signature"
    ]


async def test_a_registry_regdeploy_does_not_read_refuses_what_defaults_ask() -> None:
    oci = MemoryOci()
    ref = image(oci)
    assert (await judged(checks(oci, TrustPolicy(), reads=False), ref)).results == ()
    [refused] = (await judged(checks(oci, SIGNED, reads=False), ref)).results
    assert (refused.check.value, refused.reason) == ("signature", "unread")
    assert oci.reads == []
