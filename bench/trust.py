"""trust: what the signature check costs a deploy, in this process.

Each round times ``verify_signatures`` on one digest signed in each format cosign writes (a
legacy ``.sig`` by a listed key; a v0.3 bundle found through the referrers tag; a keyless
legacy signature whose Fulcio chain and Rekor SET are checked), the registry being an
in-memory store (``tests.support.oci_memory``), so that what is timed is the verification:
parsing, re-hashing every manifest and blob, the signatures. The reference is one bare ECDSA
P-256 verification of the same payload with ``cryptography``, the floor of any check. A figure
is the time of one call.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench.harness import Options, Rounds, run_rounds
from bench.report import Count, Report, Target, ratio_cell, reference_cell, summary_cell
from receiver.decide.rules.patterns import compile_pattern
from receiver.decide.trust.policy import (
    CheckOutcome,
    Identity,
    SignaturePolicy,
    TextMatch,
)
from receiver.decide.trust.signatures import verify_signatures
from tests.support.cosign_signer import (
    OCI_MANIFEST,
    Signer,
    Subject,
    bundle,
    legacy_layer,
    push_bundles,
    push_legacy,
)
from tests.support.oci_memory import MemoryOci
from tests.support.sigstore_pki import LocalFulcio, LocalRekor, ecdsa_key

REGISTRY, REPO = "registry.test", "team/app"
SUBJECT = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
ISSUER = "https://token.actions.githubusercontent.com"
CASES = ("legacy", "bundle", "keyless")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    calls: int  # per case and round

    @classmethod
    def of(cls, options: Options) -> Scale:
        return cls(calls=20 if options.quick else 500)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    """One digest in a memory registry, signed as ``case`` says, and the policy that takes it."""

    oci: MemoryOci
    digest: str
    policy: SignaturePolicy


def _image(oci: MemoryOci, case: str) -> str:
    config = oci.put_blob(REPO, f'{{"os":"linux","architecture":"amd64","case":"{case}"}}'.encode())
    manifest = (
        f'{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":'
        f'"application/vnd.oci.image.config.v1+json","digest":"{config}","size":64}},'
        '"layers":[]}'
    ).encode()
    return oci.put_manifest(REPO, "1.0.0", manifest, OCI_MANIFEST)


def signed(case: str) -> Signed:
    oci, now = MemoryOci(), datetime.now(UTC)
    digest = _image(oci, case)
    key = ecdsa_key("ops")
    if case == "legacy":
        push_legacy(oci, REPO, digest, [legacy_layer(Signer.with_key(key), digest)])
        return Signed(oci=oci, digest=digest, policy=SignaturePolicy(keys=(key.trusted(),)))
    if case == "bundle":
        media_type, body = oci.manifests[digest]
        subject = Subject(digest=digest, media_type=media_type, size=len(body))
        push_bundles(oci, REPO, subject, [bundle(Signer.with_key(key), digest)])
        return Signed(oci=oci, digest=digest, policy=SignaturePolicy(keys=(key.trusted(),)))
    rekor = LocalRekor()
    fulcio = LocalFulcio.create(at=now - timedelta(days=1))
    signer = Signer.keyless(
        fulcio, rekor, subject=SUBJECT, issuer=ISSUER, at=now - timedelta(hours=1)
    )
    push_legacy(oci, REPO, digest, [legacy_layer(signer, digest)])
    identity = Identity(
        issuer=TextMatch(source=ISSUER),
        subject=TextMatch(source=f"regexp:^{SUBJECT[:30]}",
                          pattern=compile_pattern(f"^{SUBJECT[:30]}", what="identity")),
    )  # fmt: skip
    policy = SignaturePolicy(identities=(identity,), roots=fulcio.roots(rekor))
    return Signed(oci=oci, digest=digest, policy=policy)


async def _verify(case: Signed) -> None:
    result = await verify_signatures(
        case.oci, registry=REGISTRY, repository=REPO, digest=case.digest,
        policy=case.policy, now=datetime.now(UTC),
    )  # fmt: skip
    if result.outcome is not CheckOutcome.PASSED:
        raise RuntimeError(f"the benchmark's signature did not verify: {result.words}")


def _per_call_us(call: Callable[[], Awaitable[None]], calls: int) -> float:
    async def timed() -> float:
        await call()  # the first call outside the timing
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        return (time.perf_counter() - started) / calls * 1e6

    return asyncio.run(timed())


def _bare_verify_us(calls: int) -> float:
    key = ecdsa_key("bare")
    payload = b'{"critical":{"image":{"docker-manifest-digest":"sha256:00"}}}'
    signature = key.sign(payload)
    public = key.public
    assert isinstance(public, ec.EllipticCurvePublicKey)

    async def once() -> None:
        public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))

    return _per_call_us(once, calls)


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale = Scale.of(options)
    for case in CASES:
        found = signed(case)
        rounds.add(**{case: _per_call_us(functools.partial(_verify, found), scale.calls)})
    rounds.add(bare=_bare_verify_us(scale.calls))


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "trust", _round)
    names = {
        "legacy": "verify_signatures, legacy .sig by a listed key",
        "bundle": "verify_signatures, sigstore bundle through the referrers tag",
        "keyless": "verify_signatures, keyless (Fulcio chain, Rekor SET)",
    }
    figures = [rounds.figure(names[case], "us", case, "bare") for case in CASES]
    slowest = max(figures, key=lambda figure: figure.measured.median)
    target = Target(
        figure="signature check per deploy",
        measured=f"{summary_cell(slowest)}, ratio {ratio_cell(slowest)}",
        reference=reference_cell(slowest, "one bare ECDSA P-256 verify"),
        target="small beside a deploy (seconds): no target in the issue",
    )
    return Report(
        name="trust",
        title="what the signature check costs a deploy",
        setup=(
            f"{scale.calls:,} calls of verify_signatures per format and round, on one digest "
            "in an in-memory registry (every manifest and blob re-hashed as from a real one); "
            "the reference is one bare ECDSA P-256 verify of a payload. Time per call, in this "
            "process (no service, no network: a real registry adds its round trips)."
        ),
        measured_as="signature check",
        reference_as="bare ECDSA verify",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
        notes=[],
    )
