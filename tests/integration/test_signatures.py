"""verify_signatures end to end: images in a real docker-registry (Distribution 2.8, which has
no referrers API, so bundles are found through cosign's referrers tag), signed in both formats
cosign writes, read back through RegistryClient.

One registry for the module: one image pushed with skopeo, every other one a variant of it (its
own config blob) pushed through the HTTP API, each signed as its case needs.

Tampered material (a payload blob or a referring manifest that the registry serves changed, so
that it no longer hashes to its digest) refuses that signature as ``bad_signature``: the client
raises RegistryError for it, and the other signatures still count.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from receiver.decide.rules.patterns import compile_pattern
from receiver.decide.trust.policy import (
    CheckOutcome,
    CheckResult,
    Identity,
    SignaturePolicy,
    TextMatch,
    TrustRoots,
)
from receiver.decide.trust.signatures import verify_signatures
from receiver.errors import RegistryUnavailable
from receiver.registry.client import RegistryAuth, RegistryClient
from tests.support.cosign_signer import (
    OCI_CONFIG,
    OCI_MANIFEST,
    Signer,
    Subject,
    bundle,
    legacy_layer,
    push_bundles,
    push_legacy,
)
from tests.support.oci import build_image, build_index
from tests.support.registry import Registry, running_registry
from tests.support.sigstore_pki import (
    LocalFulcio,
    LocalRekor,
    SigningKey,
    ecdsa_key,
    ed25519_key,
    rsa_key,
)

REPO = "team/app"
NOW = datetime.now(UTC).replace(microsecond=0)
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
ACTIONS = "https://token.actions.githubusercontent.com"


@dataclass
class Signed:
    """The registry, the digest of each case's image, and the keys and Sigstores at hand."""

    registry: Registry
    keys: dict[str, SigningKey]
    fulcio: LocalFulcio
    rekor: LocalRekor
    other_fulcio: LocalFulcio
    digests: dict[str, str] = field(default_factory=dict)
    layers: list[dict[str, object]] = field(default_factory=list)

    def image(self, case: str) -> str:
        """Push a variant of the base image (its own config) tagged ``case``; its digest."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "env": [case]}).encode()
        digest = self.registry.put_blob(REPO, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "layers": self.layers,
            "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": digest},
        }
        body = json.dumps(manifest).encode()
        self.digests[case] = self.registry.put_manifest(REPO, case, body, OCI_MANIFEST)
        return self.digests[case]

    def legacy(
        self, case: str, *signers: Signer, annotations: Mapping[str, str] | None = None
    ) -> None:
        digest = self.digests.get(case) or self.image(case)
        layers = [legacy_layer(s, digest, annotations=annotations) for s in signers]
        push_legacy(self.registry, REPO, digest, layers)

    def bundles(
        self, case: str, *signers: Signer, annotations: Mapping[str, str] | None = None
    ) -> None:
        digest = self.digests.get(case) or self.image(case)
        media_type, body = self.registry.raw_manifest(REPO, digest)
        subject = Subject(digest=digest, media_type=media_type, size=len(body))
        datas = [bundle(s, digest, annotations=annotations) for s in signers]
        push_bundles(self.registry, REPO, subject, datas)

    def keyless(
        self,
        *,
        fulcio: LocalFulcio | None = None,
        rekor: LocalRekor | None = None,
        subject: str = WORKFLOW,
        logged_at: datetime | None = None,
    ) -> Signer:
        """A keyless signer with a certificate issued half an hour ago."""
        return Signer.keyless(
            fulcio or self.fulcio,
            rekor or self.rekor,
            subject=subject,
            issuer=ACTIONS,
            at=NOW - timedelta(minutes=30),
            logged_at=logged_at,
        )


@pytest.fixture(scope="module")
def signed(registry_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    tmp = tmp_path_factory.mktemp("signatures")
    with running_registry(tmp / "registry") as reg:
        made = [ecdsa_key("ops-2025"), ed25519_key("ops-2026"), rsa_key("ops-rsa")]
        keys = {k.name: k for k in [*made, ecdsa_key("stranger")]}
        at = NOW - timedelta(hours=1)
        found = Signed(
            registry=reg,
            keys=keys,
            fulcio=LocalFulcio.create(at=at),
            rekor=LocalRekor(),
            other_fulcio=LocalFulcio.create("other", at=at),
        )
        layout = tmp / "layout"
        build_image(layout, tag="base")
        found.digests["multi"] = build_index(layout, tag="multi", platforms=("amd64", "arm64"))
        reg.push(layout, "base", REPO)
        reg.push(layout, "multi", REPO)
        found.layers = reg.manifest(REPO, "base")[1]["layers"]
        _sign_cases(found)
        yield found


def _sign_cases(s: Signed) -> None:
    """Each case's image (a tag named after it), signed as it needs."""
    s.image("unsigned")
    old, new = Signer.with_key(s.keys["ops-2025"]), Signer.with_key(s.keys["ops-2026"])
    stranger = Signer.with_key(s.keys["stranger"])
    s.legacy("old", old)
    s.bundles("new", new)
    s.legacy("both", old)
    s.bundles("both", new)
    s.legacy("rsa", Signer.with_key(s.keys["ops-rsa"]))
    s.legacy("stranger", stranger)
    s.bundles("stranger", stranger)
    # A valid signature of "old", copied to where cosign would look for those of "replay".
    push_legacy(s.registry, REPO, s.image("replay"), [legacy_layer(old, s.digests["old"])])
    s.legacy("tampered-payload", old)
    s.bundles("tampered-manifest", new)
    s.legacy("staging", old, annotations={"env": "staging"})
    s.bundles("staging", new, annotations={"env": "staging"})
    s.legacy("prod", old, annotations={"env": "prod", "team": "a"})
    s.legacy("logged", Signer.with_key(s.keys["ops-2025"], rekor=s.rekor, at=NOW))
    s.legacy("multi", old)
    s.legacy("keyless", s.keyless())
    s.bundles("keyless-bundle", s.keyless())
    s.legacy("other-identity", s.keyless(subject="https://github.com/evil/app/.github/x.yml@main"))
    s.legacy("other-root", s.keyless(fulcio=s.other_fulcio))
    s.legacy("bad-set", s.keyless(rekor=LocalRekor()))
    s.bundles("expired", s.keyless(logged_at=NOW - timedelta(minutes=15)))
    _tamper(s, _sig_layer(s, "tampered-payload"), _referring(s, "tampered-manifest"))


def _sig_layer(s: Signed, case: str) -> str:
    _, manifest = s.registry.manifest(REPO, s.digests[case].replace(":", "-") + ".sig")
    digest: str = manifest["layers"][0]["digest"]
    return digest


def _referring(s: Signed, case: str) -> str:
    _, index = s.registry.manifest(REPO, s.digests[case].replace(":", "-"))
    digest: str = index["manifests"][0]["digest"]
    return digest


def _tamper(s: Signed, *digests: str) -> None:
    """Change one byte of what the registry serves under each digest (of the same size)."""
    for digest in digests:
        data = bytearray(s.registry.stored_blob(digest).read_bytes())
        data[data.index(b"sha256:") + 7] ^= 0x01  # a hex digit of a digest it names
        s.registry.overwrite_blob(digest, bytes(data))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def verify(
    signed: Signed, session: aiohttp.ClientSession, case: str, policy: SignaturePolicy
) -> CheckResult:
    host = signed.registry.host
    client = RegistryClient(session, auth={host: RegistryAuth(insecure=True)})
    digest = signed.digests.get(case, case)
    return await verify_signatures(
        client, registry=host, repository=REPO, digest=digest, policy=policy, now=NOW
    )


def by_keys(
    signed: Signed, names: tuple[str, ...], *, require_tlog: bool = False, **annotations: str
) -> SignaturePolicy:
    return SignaturePolicy(
        keys=tuple(signed.keys[n].trusted() for n in names),
        annotations=annotations,
        require_tlog=require_tlog,
        roots=TrustRoots(rekor=(signed.rekor.key.public,)),
    )


def short(digest: str) -> str:
    return digest[:19] + "…"


BOTH = ("ops-2025", "ops-2026")

# (case, listed keys, annotations the policy wants, require_tlog, outcome, reason, words)
KEY_CASES = [
    ("old", BOTH, {}, False, "passed", "", "verified by key ops-2025 (legacy .sig)"),
    ("new", BOTH, {}, False, "passed", "", "verified by key ops-2026 (sigstore bundle)"),
    ("both", ("ops-2026",), {}, False, "passed", "", "verified by key ops-2026 (sigstore bundle)"),
    ("both", ("ops-2025",), {}, False, "passed", "", "verified by key ops-2025 (legacy .sig)"),
    # rotation: the old key removed, what only it signed is refused
    ("old", ("ops-2026",), {}, False, "refused", "unknown_key",
     "signed (legacy .sig), but not by a listed key (keys ops-2026)"),
    ("new", ("ops-2026",), {}, False, "passed", "", "verified by key ops-2026 (sigstore bundle)"),
    ("rsa", ("ops-rsa",), {}, False, "passed", "", "verified by key ops-rsa (legacy .sig)"),
    ("unsigned", BOTH, {}, False, "refused", "unsigned",
     "not signed: no cosign signature (legacy .sig or sigstore bundle) for this digest"),
    ("stranger", BOTH, {}, False, "refused", "unknown_key",
     "2 signatures, none by a listed key (keys ops-2025, ops-2026)"),
    ("replay", BOTH, {}, False, "refused", "wrong_digest",
     "signature by key ops-2025 (legacy .sig) is for {old}, not {replay}"),
    ("staging", BOTH, {"env": "prod"}, False, "refused", "annotation",
     "2 signatures, none accepted; the nearest: signature by key ops-2025 (legacy .sig) "
     "has annotation env='staging', not 'prod'"),
    ("prod", BOTH, {"env": "prod"}, False, "passed", "", "verified by key ops-2025 (legacy .sig)"),
    ("prod", BOTH, {"env": "prod", "team": "b"}, False, "refused", "annotation",
     "signature by key ops-2025 (legacy .sig) has annotation team='a', not 'b'"),
    ("old", BOTH, {"env": "prod"}, False, "refused", "annotation",
     "signature by key ops-2025 (legacy .sig) lacks annotation env='prod'"),
    ("logged", BOTH, {}, True, "passed", "", "verified by key ops-2025 (legacy .sig)"),
    ("old", BOTH, {}, True, "refused", "tlog",
     "signature by key ops-2025 (legacy .sig): no transparency-log (Rekor) entry"),
    ("multi", BOTH, {}, False, "passed", "", "verified by key ops-2025 (legacy .sig)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "names", "annotations", "require_tlog", "outcome", "reason", "words"), KEY_CASES
)
async def test_key_signatures(
    signed: Signed,
    session: aiohttp.ClientSession,
    case: str,
    names: tuple[str, ...],
    annotations: dict[str, str],
    require_tlog: bool,
    outcome: str,
    reason: str,
    words: str,
) -> None:
    policy = by_keys(signed, names, require_tlog=require_tlog, **annotations)
    result = await verify(signed, session, case, policy)
    shorts = {k.replace("-", "_"): short(v) for k, v in signed.digests.items()}
    assert (result.outcome, result.reason, result.words) == (
        CheckOutcome(outcome),
        reason,
        words.format(**shorts),
    )


async def test_a_multi_platform_image_is_signed_on_its_index_not_its_children(
    signed: Signed, session: aiohttp.ClientSession
) -> None:
    _, index = signed.registry.manifest(REPO, "multi")
    child = index["manifests"][0]["digest"]
    result = await verify(signed, session, child, by_keys(signed, BOTH))
    assert (result.outcome, result.reason) == (CheckOutcome.REFUSED, "unsigned")


@pytest.mark.parametrize("case", ["tampered-payload", "tampered-manifest"])
async def test_material_the_registry_serves_changed_refuses_the_signature(
    signed: Signed, session: aiohttp.ClientSession, case: str
) -> None:
    result = await verify(signed, session, case, by_keys(signed, BOTH))
    assert (result.outcome, result.reason) == (CheckOutcome.REFUSED, "bad_signature")
    assert result.words.startswith("signature material unusable: ")
    assert "the registry served bytes that hash to sha256:" in result.words


def by_identity(
    signed: Signed, *, subject: str = WORKFLOW, roots: TrustRoots | None = None
) -> SignaturePolicy:
    text = TextMatch(source=subject)
    if subject.startswith("regexp:"):
        text = TextMatch(source=subject, pattern=compile_pattern(subject[7:], what="identity"))
    identity = Identity(issuer=TextMatch(source=ACTIONS), subject=text)
    return SignaturePolicy(identities=(identity,), roots=roots or signed.fulcio.roots(signed.rekor))


SIGNER = f"{WORKFLOW} (issuer {ACTIONS})"
EVIL = f"https://github.com/evil/app/.github/x.yml@main (issuer {ACTIONS})"

# (case, policy's subject, roots: "own", "other" (another Sigstore's) or "root-only",
#  outcome, reason, words)
KEYLESS_CASES = [
    ("keyless", WORKFLOW, "own", "passed", "",
     f"verified keyless: {WORKFLOW} (issuer {ACTIONS}, legacy .sig)"),
    ("keyless-bundle", WORKFLOW, "own", "passed", "",
     f"verified keyless: {WORKFLOW} (issuer {ACTIONS}, sigstore bundle)"),
    ("keyless", "regexp:^https://github\\.com/acme/", "own", "passed", "",
     f"verified keyless: {WORKFLOW} (issuer {ACTIONS}, legacy .sig)"),
    ("keyless", "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1", "own",
     "refused", "identity",
     f"keyless signature (legacy .sig) by {SIGNER}: not a listed identity (https://github.com/"
     f"acme/other/.github/workflows/release.yml@refs/tags/v1 (issuer {ACTIONS}))"),
    ("other-identity", WORKFLOW, "own", "refused", "identity",
     f"keyless signature (legacy .sig) by {EVIL}: not a listed identity ({SIGNER})"),
    ("other-root", WORKFLOW, "own", "refused", "untrusted_certificate",
     f"keyless signature (legacy .sig) by {SIGNER}: its certificate does not chain to a listed "
     "Fulcio root"),
    ("keyless-bundle", WORKFLOW, "other", "refused", "untrusted_certificate",
     f"keyless signature (sigstore bundle) by {SIGNER}: its certificate does not chain to a "
     "listed Fulcio root (it comes without intermediates: list them too)"),
    # A legacy signature carries its chain; a bundle only its leaf
    ("keyless", WORKFLOW, "root-only", "passed", "",
     f"verified keyless: {WORKFLOW} (issuer {ACTIONS}, legacy .sig)"),
    ("keyless-bundle", WORKFLOW, "root-only", "refused", "untrusted_certificate",
     f"keyless signature (sigstore bundle) by {SIGNER}: its certificate does not chain to a "
     "listed Fulcio root (it comes without intermediates: list them too)"),
    ("bad-set", WORKFLOW, "own", "refused", "tlog",
     f"keyless signature (legacy .sig) by {SIGNER}: its log entry is not signed by a listed "
     "Rekor key"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "subject", "roots", "outcome", "reason", "words"), KEYLESS_CASES)
async def test_keyless_signatures(
    signed: Signed,
    session: aiohttp.ClientSession,
    case: str,
    subject: str,
    roots: str,
    outcome: str,
    reason: str,
    words: str,
) -> None:
    chosen = {
        "own": signed.fulcio.roots(signed.rekor),
        "other": signed.other_fulcio.roots(signed.rekor),
        "root-only": signed.fulcio.roots(signed.rekor, intermediate=False),
    }[roots]
    result = await verify(signed, session, case, by_identity(signed, subject=subject, roots=chosen))
    assert (result.outcome, result.reason, result.words) == (CheckOutcome(outcome), reason, words)


async def test_keyless_signature_logged_after_its_certificate_expired_is_refused(
    signed: Signed, session: aiohttp.ClientSession
) -> None:
    result = await verify(signed, session, "expired", by_identity(signed))
    assert (result.outcome, result.reason) == (CheckOutcome.REFUSED, "tlog")
    assert "outside its certificate's validity" in result.words


async def test_keyless_signature_when_only_keys_are_listed(
    signed: Signed, session: aiohttp.ClientSession
) -> None:
    result = await verify(signed, session, "keyless", by_keys(signed, BOTH))
    assert (result.outcome, result.reason, result.words) == (
        CheckOutcome.REFUSED,
        "identity",
        f"keyless signature (legacy .sig) by {SIGNER}: no identities are listed",
    )


async def test_a_stopped_registry_cannot_conclude(
    registry_tools: None, tmp_path: Path, session: aiohttp.ClientSession, signed: Signed
) -> None:
    with running_registry(tmp_path / "registry") as reg:
        host = reg.host
    client = RegistryClient(session, auth={host: RegistryAuth(insecure=True)})
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await verify_signatures(
            client,
            registry=host,
            repository=REPO,
            digest=signed.digests["old"],
            policy=by_keys(signed, BOTH),
            now=NOW,
        )
