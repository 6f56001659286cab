"""Cosign verification (pure) against real cosign-made signatures (``tests/fixtures/cosign``,
see its README) and the loaders of keys, certificates and Sigstore's trusted_root.json."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.decide.trust import rekor
from receiver.decide.trust.claims import SignatureLayer, bundle_claim
from receiver.decide.trust.cosign import (
    conclude,
    load_certificates,
    load_public_key,
    load_trusted_root,
    refused,
    verify_bundle,
    verify_legacy,
)
from receiver.decide.trust.fulcio import identity_of
from receiver.decide.trust.keys import verifies
from receiver.decide.trust.policy import (
    CheckOutcome,
    CheckResult,
    Identity,
    SignaturePolicy,
    TextMatch,
    TrustedKey,
    TrustRoots,
)
from tests.support.fixture_files import FIXTURES
from tests.support.sigstore_pki import LocalFulcio, LocalRekor

COSIGN = FIXTURES / "cosign"
IMAGE = COSIGN / "containers-image"
TOBBY = COSIGN / "tobby-fetch"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
SIGNED = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
REKOR_SIGNED = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
CLASSIC = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268"
BUNDLED = "sha256:d7d5640c741c60b47fa4b5530daa20a6469b55754a89dd42adbadadb59f9093c"
GITHUB_LOGIN = "https://github.com/login/oauth"


def key(name: str, path: Path) -> TrustedKey:
    return TrustedKey(name=name, key=load_public_key(path.read_text()))


KEYS = {
    "cosign": key("cosign", IMAGE / "cosign.pub"),
    "cosign2": key("cosign2", IMAGE / "cosign2.pub"),
    "classic": key("classic", TOBBY / "classic-cosign.pub"),
    "bundle": key("bundle", TOBBY / "bundle-cosign.pub"),
}
REKOR_KEY = load_public_key((IMAGE / "internal-testdata" / "rekor.pub").read_text())
FULCIO_ROOT = load_certificates((IMAGE / "fulcio_v1.crt.pem").read_bytes())


def stored(path: Path) -> SignatureLayer:
    """A signature as containers/image's ``dir:`` transport stores one layer of a ``.sig``
    manifest: ``\\x00sigstore-json\\n`` and JSON with the payload (base64) and annotations."""
    document = json.loads(path.read_bytes().removeprefix(b"\x00sigstore-json\n"))
    return SignatureLayer(
        payload=base64.b64decode(document["payload"]), annotations=document["annotations"]
    )


def classic() -> SignatureLayer:
    manifest = json.loads((TOBBY / "classic-sig-manifest.json").read_bytes())
    payload = (TOBBY / "classic-payload.json").read_bytes()
    layer = manifest["layers"][0]
    assert layer["digest"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    return SignatureLayer(payload=payload, annotations=layer["annotations"])


def manifest_digest(folder: str) -> str:
    return "sha256:" + hashlib.sha256((IMAGE / folder / "manifest.json").read_bytes()).hexdigest()


def by_keys(*names: str, require_tlog: bool = False, rekor_keys: bool = True) -> SignaturePolicy:
    roots = TrustRoots(rekor=(REKOR_KEY,) if rekor_keys else ())
    return SignaturePolicy(keys=tuple(KEYS[n] for n in names), roots=roots,
                           require_tlog=require_tlog)  # fmt: skip


# (signature file, digest, listed keys, require_tlog, outcome, reason, words)
LEGACY_CASES = [
    ("dir-img-cosign-valid/signature-1", SIGNED, ("cosign",), False, "passed", "",
     "verified by key cosign (legacy .sig)"),
    ("dir-img-cosign-valid/signature-1", SIGNED, ("cosign2",), False, "refused", "unknown_key",
     "signed (legacy .sig), but not by a listed key (keys cosign2)"),
    ("dir-img-cosign-valid-2/signature-1", SIGNED, ("cosign2", "cosign"), False, "passed", "",
     "verified by key cosign (legacy .sig)"),
    ("dir-img-cosign-valid-2/signature-2", SIGNED, ("cosign",), False, "passed", "",
     "verified by key cosign (legacy .sig)"),
    ("dir-img-cosign-mixed/signature-1", SIGNED, ("cosign", "cosign2"), False, "refused",
     "unknown_key", "signed (legacy .sig), but not by a listed key (keys cosign, cosign2)"),
    ("dir-img-cosign-mixed/signature-2", SIGNED, ("cosign",), False, "passed", "",
     "verified by key cosign (legacy .sig)"),
    # the image's manifest was modified: its digest is not the signed one
    ("dir-img-cosign-modified-manifest/signature-1", manifest_digest(
        "dir-img-cosign-modified-manifest"), ("cosign",), False, "refused", "wrong_digest",
     "signature by key cosign (legacy .sig) is for sha256:634a8f35b5f1…, not "
     "sha256:d9dcafdb480a…"),
    ("dir-img-cosign-other-attachment/signature-1", SIGNED, ("cosign",), False, "refused",
     "bad_signature", "unreadable legacy .sig signature: malformed simple-signing payload: "
     "JSONDecodeError Expecting value: line 1 column 1 (char 0)"),
    ("dir-img-cosign-key-rekor-valid/signature-1", REKOR_SIGNED, ("cosign2",), True, "passed",
     "", "verified by key cosign2 (legacy .sig)"),
    ("dir-img-cosign-key-rekor-valid/signature-1", REKOR_SIGNED, ("cosign",), True, "refused",
     "unknown_key", "signed (legacy .sig), but not by a listed key (keys cosign)"),
    # a signature for another digest never counts, however valid
    ("dir-img-cosign-key-rekor-valid/signature-1", SIGNED, ("cosign2",), False, "refused",
     "wrong_digest", "signature by key cosign2 (legacy .sig) is for sha256:0489474da8ea…, not "
     "sha256:634a8f35b5f1…"),
    ("dir-img-cosign-valid/signature-1", SIGNED, ("cosign",), True, "refused", "tlog",
     "signature by key cosign (legacy .sig): no transparency-log (Rekor) entry"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "digest", "names", "require_tlog", "outcome", "reason", "words"), LEGACY_CASES
)
def test_containers_image_legacy_signatures(
    path: str,
    digest: str,
    names: tuple[str, ...],
    require_tlog: bool,
    outcome: str,
    reason: str,
    words: str,
) -> None:
    policy = by_keys(*names, require_tlog=require_tlog)
    result = verify_legacy(stored(IMAGE / path), digest=digest, policy=policy, now=NOW)
    assert (result.outcome, result.reason, result.words) == (CheckOutcome(outcome), reason, words)


def test_any_one_valid_signature_of_several_passes() -> None:
    mixed = [stored(IMAGE / f"dir-img-cosign-mixed/signature-{n}") for n in (1, 2)]
    policy = by_keys("cosign")
    results = [verify_legacy(layer, digest=SIGNED, policy=policy, now=NOW) for layer in mixed]
    assert [r.reason for r in results] == ["unknown_key", ""]
    assert conclude(results, policy=policy).words == "verified by key cosign (legacy .sig)"


def test_manifests_of_the_fixtures_hash_to_what_they_say() -> None:
    assert manifest_digest("dir-img-cosign-valid") == SIGNED
    assert manifest_digest("dir-img-cosign-key-rekor-valid") == REKOR_SIGNED


def test_rekor_set_is_required_and_checked_for_a_listed_key() -> None:
    layer = stored(IMAGE / "dir-img-cosign-key-rekor-valid/signature-1")
    policy = by_keys("cosign2", require_tlog=True, rekor_keys=False)
    result = verify_legacy(layer, digest=REKOR_SIGNED, policy=policy, now=NOW)
    assert (result.reason, result.words) == (
        "tlog", "signature by key cosign2 (legacy .sig): no Rekor key is listed to check its "
        "log entry with")  # fmt: skip
    other = LocalRekor().key.public
    policy = SignaturePolicy(keys=(KEYS["cosign2"],), roots=TrustRoots(rekor=(other,)),
                             require_tlog=True)  # fmt: skip
    result = verify_legacy(layer, digest=REKOR_SIGNED, policy=policy, now=NOW)
    assert result.words.endswith("its log entry is not signed by a listed Rekor key")


def mitr(issuer: str = GITHUB_LOGIN, subject: str = "mitr@redhat.com") -> Identity:
    return Identity(issuer=TextMatch(source=issuer), subject=TextMatch(source=subject))


KEYLESS_ROOTS = {
    "fulcio_v1": TrustRoots(fulcio=FULCIO_ROOT, rekor=(REKOR_KEY,)),
    "trusted_root.json": load_trusted_root(
        (COSIGN / "sigstore-go" / "trusted-root-public-good.json").read_bytes()
    ),
    "another root": TrustRoots(fulcio=(LocalFulcio.create(at=NOW).root,), rekor=(REKOR_KEY,)),
    "no rekor key": TrustRoots(fulcio=FULCIO_ROOT),
}
WHO = "mitr@redhat.com (issuer https://github.com/login/oauth)"

# (roots, identity, outcome, reason, words)
KEYLESS_CASES = [
    ("fulcio_v1", mitr(), "passed", "",
     f"verified keyless: mitr@redhat.com (issuer {GITHUB_LOGIN}, legacy .sig)"),
    ("trusted_root.json", mitr(), "passed", "",
     f"verified keyless: mitr@redhat.com (issuer {GITHUB_LOGIN}, legacy .sig)"),
    ("fulcio_v1", mitr(subject="someone@redhat.com"), "refused", "identity",
     f"keyless signature (legacy .sig) by {WHO}: not a listed identity (someone@redhat.com "
     f"(issuer {GITHUB_LOGIN}))"),
    ("fulcio_v1", mitr(issuer="https://accounts.google.com"), "refused", "identity",
     f"keyless signature (legacy .sig) by {WHO}: not a listed identity (mitr@redhat.com "
     "(issuer https://accounts.google.com))"),
    ("another root", mitr(), "refused", "untrusted_certificate",
     f"keyless signature (legacy .sig) by {WHO}: its certificate does not chain to a listed "
     "Fulcio root"),
    ("no rekor key", mitr(), "refused", "tlog",
     f"keyless signature (legacy .sig) by {WHO}: no Rekor key is listed to check its log entry "
     "with"),
]  # fmt: skip


@pytest.mark.parametrize(("roots", "identity", "outcome", "reason", "words"), KEYLESS_CASES)
def test_containers_image_keyless_signature(
    roots: str, identity: Identity, outcome: str, reason: str, words: str
) -> None:
    policy = SignaturePolicy(identities=(identity,), roots=KEYLESS_ROOTS[roots])
    layer = stored(IMAGE / "dir-img-cosign-fulcio-rekor-valid/signature-1")
    result = verify_legacy(layer, digest=REKOR_SIGNED, policy=policy, now=NOW)
    assert (result.outcome, result.reason, result.words) == (CheckOutcome(outcome), reason, words)


def test_keyless_signature_names_its_issuer_in_the_legacy_extension() -> None:
    layer = stored(IMAGE / "dir-img-cosign-fulcio-rekor-valid/signature-1")
    (cert,) = load_certificates(layer.annotations["dev.sigstore.cosign/certificate"].encode())
    assert identity_of(cert).subjects == ("mitr@redhat.com",)
    assert identity_of(cert).issuer == GITHUB_LOGIN


def test_keyless_signature_logged_before_now_minus_skew_only() -> None:
    """A SET that says the entry was logged after ``now`` (beyond the clock skew) refuses."""
    policy = SignaturePolicy(identities=(mitr(),), roots=KEYLESS_ROOTS["fulcio_v1"])
    layer = stored(IMAGE / "dir-img-cosign-fulcio-rekor-valid/signature-1")
    then = datetime(2023, 1, 20, 20, 40, tzinfo=UTC)
    result = verify_legacy(layer, digest=REKOR_SIGNED, policy=policy, now=then)
    assert (result.reason, result.words) == (
        "tlog", f"keyless signature (legacy .sig) by {WHO}: logged at 2023-01-20 20:51:33, in "
        "the future")  # fmt: skip


def test_tobby_fetch_classic_sig_manifest_and_payload() -> None:
    result = verify_legacy(classic(), digest=CLASSIC, policy=by_keys("classic"), now=NOW)
    assert (result.outcome, result.words) == (
        CheckOutcome.PASSED, "verified by key classic (legacy .sig)")  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0, max_value=244), bit=st.integers(min_value=0, max_value=7))
def test_any_changed_bit_of_the_payload_refuses(position: int, bit: int) -> None:
    layer = classic()
    payload = bytearray(layer.payload)
    payload[position] ^= 1 << bit
    changed = SignatureLayer(payload=bytes(payload), annotations=layer.annotations)
    result = verify_legacy(changed, digest=CLASSIC, policy=by_keys("classic"), now=NOW)
    assert result.outcome is CheckOutcome.REFUSED


BUNDLE = (TOBBY / "bundle-sigstore.json").read_bytes()

# (digest, listed keys, require_tlog, outcome, reason, words)
BUNDLE_CASES = [
    (BUNDLED, ("bundle",), False, "passed", "", "verified by key bundle (sigstore bundle)"),
    (BUNDLED, ("classic", "bundle"), True, "passed", "",
     "verified by key bundle (sigstore bundle)"),
    (BUNDLED, ("classic",), False, "refused", "unknown_key",
     "signed (sigstore bundle), but not by a listed key (keys classic)"),
    (CLASSIC, ("bundle",), False, "refused", "wrong_digest",
     "signature by key bundle (sigstore bundle) is for sha256:d7d5640c741c…, not "
     "sha256:f20c43161d73…"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("digest", "names", "require_tlog", "outcome", "reason", "words"), BUNDLE_CASES
)
def test_tobby_fetch_v03_bundle(
    digest: str,
    names: tuple[str, ...],
    require_tlog: bool,
    outcome: str,
    reason: str,
    words: str,
) -> None:
    policy = by_keys(*names, require_tlog=require_tlog)
    result = verify_bundle(BUNDLE, digest=digest, policy=policy, now=NOW)
    assert (result.outcome, result.reason, result.words) == (CheckOutcome(outcome), reason, words)


def test_bundle_is_signed_over_dsse_pae_not_the_bare_payload() -> None:
    claim = bundle_claim(BUNDLE)
    (signature,) = claim.signatures
    assert claim.signed.startswith(b"DSSEv1 28 application/vnd.in-toto+json ")
    assert verifies(KEYS["bundle"].key, signature, claim.signed)
    assert not verifies(KEYS["bundle"].key, signature, claim.payload)


def test_bundle_tlog_entry_set_and_inclusion_proof_verify_with_rekor_key() -> None:
    (entry,) = bundle_claim(BUNDLE).tlog
    assert rekor.set_verifies(entry, [REKOR_KEY])
    assert rekor.proof_verifies(entry, [REKOR_KEY])
    assert not rekor.set_verifies(entry, [KEYS["bundle"].key])
    assert not rekor.proof_verifies(entry, [KEYS["bundle"].key])


def test_changed_bundle_statement_is_a_bad_signature_by_the_key_it_names() -> None:
    bundle = json.loads(BUNDLE)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = CLASSIC.removeprefix("sha256:")
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    result = verify_bundle(json.dumps(bundle).encode(), digest=CLASSIC, policy=by_keys("bundle"),
                           now=NOW)  # fmt: skip
    assert (result.reason, result.words) == (
        "bad_signature", "signature by key bundle (sigstore bundle) does not verify: what it "
        "signs was changed")  # fmt: skip


# (results of each signature, reason, words) -> what the check says
REFUSALS = [
    ((), "unsigned",
     "not signed: no cosign signature (legacy .sig or sigstore bundle) for this digest"),
    ((("unknown_key", "a"), ("unknown_key", "b")), "unknown_key",
     "2 signatures, none by a listed key (keys cosign, cosign2)"),
    ((("unknown_key", "a"), ("wrong_digest", "b"), ("identity", "c")), "wrong_digest",
     "3 signatures, none accepted; the nearest: b"),
    ((("bad_signature", "a"), ("tlog", "b")), "tlog",
     "2 signatures, none accepted; the nearest: b"),
    ((("annotation", "a"),), "annotation", "a"),
]  # fmt: skip


@pytest.mark.parametrize(("each", "reason", "words"), REFUSALS)
def test_conclude_names_the_most_telling_refusal(
    each: tuple[tuple[str, str], ...], reason: str, words: str
) -> None:
    results = [refused(r, w) for r, w in each]
    concluded = conclude(results, policy=by_keys("cosign", "cosign2"))
    assert (concluded.outcome, concluded.reason, concluded.words) == (
        CheckOutcome.REFUSED, reason, words)  # fmt: skip


def test_conclude_passes_when_any_one_signature_passes() -> None:
    passed = CheckResult(check=refused("x", "y").check, outcome=CheckOutcome.PASSED, words="ok")
    results = [refused("bad_signature", "a"), passed, refused("tlog", "b")]
    assert conclude(results, policy=by_keys("cosign")) is passed


# -- loaders -------------------------------------------------------------------------------


def pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


@pytest.mark.parametrize(
    "private",
    [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        ed25519.Ed25519PrivateKey.generate(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["p256", "p384", "ed25519", "rsa2048"],
)
def test_keys_cosign_signs_with_load(
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
) -> None:
    assert load_public_key(pem(private)) == private.public_key()


REFUSED_KEYS = [
    (pem(ec.generate_private_key(ec.SECP192R1())),
     "not a key cosign signs with: an ECDSA key on curve secp192r1: cosign uses P-256, P-384 or "
     "P-521"),
    (pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
     "not a key cosign signs with: an RSA key of 1024 bits: at least 2048 are needed"),
    ("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n"
     "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
     "this is a private key: give the public key (cosign.pub)"),
    ((IMAGE / "fulcio_v1.crt.pem").read_text(),
     "this is a certificate: give the public key (cosign.pub)"),
    ("ops-2026", "not a PEM public key (expected -----BEGIN PUBLIC KEY-----, as in cosign.pub)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), REFUSED_KEYS)
def test_keys_cosign_does_not_sign_with_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused_key:
        load_public_key(text)
    assert str(refused_key.value) == message


def test_pem_bundle_loads_every_certificate() -> None:
    chain = load_certificates((IMAGE / "fulcio-chain").read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == [
        "CN=sigstore-intermediate,O=sigstore.dev", "CN=sigstore,O=sigstore.dev"]  # fmt: skip
    with pytest.raises(ValueError, match="no PEM certificate in it"):
        load_certificates(b"not a certificate")


def test_trusted_root_json_gives_fulcio_certificates_and_rekor_keys() -> None:
    roots = KEYLESS_ROOTS["trusted_root.json"]
    assert FULCIO_ROOT[0] in roots.fulcio
    assert len(roots.fulcio) == 3  # the 2021 root, the 2022 root and its intermediate
    assert roots.rekor == (REKOR_KEY,)


TRUSTED_ROOT_ERRORS = [
    (b"{", "not JSON (expected Sigstore's trusted_root.json)"),
    (b'{"mediaType": "application/json"}',
     "not Sigstore's trusted_root.json (mediaType application/vnd.dev.sigstore.trustedroot…)"),
    (b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}',
     "trusted_root.json names no certificate authority and no tlog"),
    (b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", '
     b'"tlogs": [{"publicKey": {"rawBytes": "not base64!"}}]}',
     "trusted_root.json tlogs[0]: unreadable (Error)"),
    (b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", '
     b'"certificateAuthorities": [{"certChain": {}}]}',
     "trusted_root.json certificateAuthorities[0]: unreadable (KeyError)"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), TRUSTED_ROOT_ERRORS)
def test_trusted_root_json_errors_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as refused_root:
        load_trusted_root(data)
    assert str(refused_root.value) == message


def test_a_leaf_of_a_local_fulcio_names_its_issuer_in_both_extensions() -> None:
    fulcio = LocalFulcio.create(at=NOW)
    _, cert = fulcio.issue(subject="https://ci.example/job", issuer="https://oidc.example",
                           at=NOW + timedelta(minutes=1))  # fmt: skip
    assert identity_of(cert).subjects == ("https://ci.example/job",)
    assert identity_of(cert).issuer == "https://oidc.example"
