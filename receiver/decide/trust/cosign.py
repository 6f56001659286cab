"""Cosign signatures verified offline (pure: no I/O): each stored signature judged against a
repository's ``SignaturePolicy``, and the signatures of a digest concluded into one
``CheckResult``. ``receiver.decide.trust.signatures`` reads them from the registry.

A signature counts when it names the digest (one made for another digest never counts, however
valid), carries every annotation the policy asks for, and either

- verifies with a listed key (ECDSA, Ed25519, RSA), with a Rekor entry that vouches for it when
  ``require_tlog`` is set; or
- (keyless) its certificate chains to a listed Fulcio root, names a listed identity (a SAN URI
  or e-mail address and the OIDC issuer), the signature verifies with the certificate's key,
  and a SET by a listed Rekor key shows it was logged while the certificate was valid.

Any one signature that counts passes the check. When none does, the refusal gives the most
telling reason among them: the last in ``RANK``, the one that got furthest.

The loaders read what the configuration names (PEM keys and certificates, Sigstore's
``trusted_root.json``); a ValueError says, in words for a ``ConfigError``, what was expected.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from receiver.decide.trust.claims import SignatureLayer, SignedClaim, bundle_claim, legacy_claim
from receiver.decide.trust.fulcio import CertIdentity, certificate_path, identity_of, valid_at
from receiver.decide.trust.keys import key_hint, refusal, spki, verifies
from receiver.decide.trust.policy import (
    Check,
    CheckOutcome,
    CheckResult,
    Identity,
    SignaturePolicy,
    TrustedKey,
    TrustRoots,
)
from receiver.decide.trust.rekor import vouching_entry

CLOCK_SKEW: Final = timedelta(minutes=5)  # a log entry this far ahead of our clock still counts
RANK: Final = (
    "unsigned",
    "unknown_key",
    "untrusted_certificate",
    "identity",
    "bad_signature",
    "wrong_digest",
    "annotation",
    "tlog",
)
TRUSTED_ROOT_TYPE: Final = "application/vnd.dev.sigstore.trustedroot"


def load_public_key(text: str) -> PublicKeyTypes:
    """The public key in PEM ``text`` (``cosign.pub``); ValueError unless cosign signs with it."""
    if "PRIVATE KEY-----" in text:
        raise ValueError("this is a private key: give the public key (cosign.pub)")
    if "CERTIFICATE-----" in text:
        raise ValueError("this is a certificate: give the public key (cosign.pub)")
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            "not a PEM public key (expected -----BEGIN PUBLIC KEY-----, as in cosign.pub)"
        ) from None
    if (why := refusal(key)) is not None:
        raise ValueError(f"not a key cosign signs with: {why}")
    return key


def load_certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM bundle (one file, several ``BEGIN CERTIFICATE`` blocks)."""
    try:
        return tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise ValueError(
            "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)"
        ) from None


def load_trusted_root(data: bytes) -> TrustRoots:
    """The Fulcio certificates (every CA's chain) and Rekor keys of Sigstore's
    ``trusted_root.json``; its CT logs and timestamp authorities are not used."""
    try:
        document = json.loads(data)
    except ValueError:
        raise ValueError("not JSON (expected Sigstore's trusted_root.json)") from None
    if not isinstance(document, dict) or not str(document.get("mediaType")).startswith(
        TRUSTED_ROOT_TYPE
    ):
        raise ValueError(f"not Sigstore's trusted_root.json (mediaType {TRUSTED_ROOT_TYPE}…)")
    fulcio: list[x509.Certificate] = []
    for i, authority in enumerate(document.get("certificateAuthorities") or ()):
        with _reading(f"certificateAuthorities[{i}]"):
            for c in authority["certChain"]["certificates"]:
                fulcio.append(x509.load_der_x509_certificate(_raw(c)))
    rekor: list[PublicKeyTypes] = []
    for i, log in enumerate(document.get("tlogs") or ()):
        with _reading(f"tlogs[{i}]"):
            key = serialization.load_der_public_key(_raw(log["publicKey"]))
            if (why := refusal(key)) is not None:
                raise ValueError(why)
            rekor.append(key)
    if not fulcio and not rekor:
        raise ValueError("trusted_root.json names no certificate authority and no tlog")
    return TrustRoots(fulcio=tuple(dict.fromkeys(fulcio)), rekor=tuple(rekor))


@contextmanager
def _reading(where: str) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"trusted_root.json {where}: unreadable ({type(exc).__name__})") from None


def _raw(item: Any) -> bytes:
    return base64.b64decode(item["rawBytes"], validate=True)


def verify_legacy(
    layer: SignatureLayer, *, digest: str, policy: SignaturePolicy, now: datetime
) -> CheckResult:
    """One legacy ``.sig`` layer (payload blob and annotations), judged for ``digest``."""
    try:
        claim = legacy_claim(layer)
    except ValueError as exc:
        return refused("bad_signature", f"unreadable legacy .sig signature: {exc}")
    return _judge(claim, digest=digest, policy=policy, now=now)


def verify_bundle(
    data: bytes, *, digest: str, policy: SignaturePolicy, now: datetime
) -> CheckResult:
    """One Sigstore bundle (v0.3, a DSSE envelope), judged for ``digest``."""
    try:
        claim = bundle_claim(data)
    except ValueError as exc:
        return refused("bad_signature", f"unreadable sigstore bundle: {exc}")
    return _judge(claim, digest=digest, policy=policy, now=now)


def conclude(results: Sequence[CheckResult], *, policy: SignaturePolicy) -> CheckResult:
    """The check's result from each signature's: the first that passed, else the most
    telling refusal (``RANK``), or ``unsigned`` when there was none."""
    for result in results:
        if result.outcome is CheckOutcome.PASSED:
            return result
    if not results:
        return refused(
            "unsigned",
            "not signed: no cosign signature (legacy .sig or sigstore bundle) for this digest",
        )
    best = max(results, key=lambda r: RANK.index(r.reason) if r.reason in RANK else 0)
    if len(results) == 1:
        return best
    if best.reason == "unknown_key":
        return refused(
            best.reason, f"{len(results)} signatures, none by a listed key ({_listed_keys(policy)})"
        )
    return refused(
        best.reason, f"{len(results)} signatures, none accepted; the nearest: {best.words}"
    )


def refused(reason: str, words: str) -> CheckResult:
    return CheckResult(
        check=Check.SIGNATURE, outcome=CheckOutcome.REFUSED, words=words, reason=reason
    )


def _passed(words: str) -> CheckResult:
    return CheckResult(check=Check.SIGNATURE, outcome=CheckOutcome.PASSED, words=words)


def _judge(
    claim: SignedClaim, *, digest: str, policy: SignaturePolicy, now: datetime
) -> CheckResult:
    if (signer := _signing_key(claim, policy.keys)) is not None:
        return _keyed(claim, *signer, digest=digest, policy=policy)
    if claim.certificate is not None:
        try:
            return _keyless(claim, claim.certificate, digest=digest, policy=policy, now=now)
        except (ValueError, UnsupportedAlgorithm) as exc:  # an extension, a key unknown
            return refused("untrusted_certificate", f"unreadable certificate: {exc}")
    named = [k.name for k in policy.keys if claim.key_hint == key_hint(k.key)]
    if named:
        return refused(
            "bad_signature",
            f"signature by key {named[0]} ({claim.form}) does not "
            "verify: what it signs was changed",
        )
    return refused(
        "unknown_key", f"signed ({claim.form}), but not by a listed key ({_listed_keys(policy)})"
    )


def _signing_key(claim: SignedClaim, keys: Sequence[TrustedKey]) -> tuple[TrustedKey, bytes] | None:
    """The listed key (the one the claim hints at first) and the signature it verifies."""
    ordered = sorted(keys, key=lambda k: claim.key_hint != key_hint(k.key))
    for key in ordered:
        for signature in claim.signatures:
            if verifies(key.key, signature, claim.signed):
                return key, signature
    return None


def _keyed(
    claim: SignedClaim,
    key: TrustedKey,
    signature: bytes,
    *,
    digest: str,
    policy: SignaturePolicy,
) -> CheckResult:
    by = f"key {key.name} ({claim.form})"
    if (problem := _subject_problem(claim, digest, policy)) is not None:
        return refused(problem[0], f"signature by {by} {problem[1]}")
    if policy.require_tlog:
        found = vouching_entry(
            claim.tlog,
            keys=policy.roots.rekor,
            payload=claim.payload,
            signatures=(signature,),
            verifier=spki(key.key),
            need_time=False,
        )
        if isinstance(found, str):
            return refused("tlog", f"signature by {by}: {claim.tlog_problem or found}")
    return _passed(f"verified by {by}")


def _keyless(
    claim: SignedClaim,
    cert: x509.Certificate,
    *,
    digest: str,
    policy: SignaturePolicy,
    now: datetime,
) -> CheckResult:
    who = identity_of(cert)
    label = f"keyless signature ({claim.form}) by {who.describe()}"
    if not policy.identities:
        return refused("identity", f"{label}: no identities are listed")
    path = certificate_path(cert, supplied=claim.chain, trusted=policy.roots.fulcio)
    if path is None:
        alone = "" if claim.chain else " (it comes without intermediates: list them too)"
        return refused(
            "untrusted_certificate",
            f"{label}: its certificate does not chain to a listed Fulcio root{alone}",
        )
    if (subject := _listed_subject(who, policy.identities)) is None:
        listed = "; ".join(i.describe() for i in policy.identities)
        return refused("identity", f"{label}: not a listed identity ({listed})")
    key = cert.public_key()
    signature = next((s for s in claim.signatures if verifies(key, s, claim.signed)), None)
    if signature is None:
        return refused("bad_signature", f"{label}: does not verify with its certificate")
    if (problem := _subject_problem(claim, digest, policy)) is not None:
        return refused(problem[0], f"{label} {problem[1]}")
    logged = _logged(claim, cert, path, signature, policy=policy, now=now)
    if isinstance(logged, str):
        return refused("tlog", f"{label}: {logged}")
    return _passed(f"verified keyless: {subject} (issuer {who.issuer}, {claim.form})")


def _logged(
    claim: SignedClaim,
    cert: x509.Certificate,
    path: Sequence[x509.Certificate],
    signature: bytes,
    *,
    policy: SignaturePolicy,
    now: datetime,
) -> datetime | str:
    """When Rekor logged the keyless signature, by a SET it signed, within the validity of
    the certificate and its issuers; else why not."""
    found = vouching_entry(
        claim.tlog,
        keys=policy.roots.rekor,
        payload=claim.payload,
        signatures=(signature,),
        verifier=cert.public_bytes(serialization.Encoding.DER),
        need_time=True,
    )
    if isinstance(found, str):
        return claim.tlog_problem or found
    logged = datetime.fromtimestamp(found.integrated_time, UTC)
    if logged > now + CLOCK_SKEW:
        return f"logged at {logged:%Y-%m-%d %H:%M:%S}, in the future"
    if not valid_at((cert, *path), logged):
        return (
            f"logged at {logged:%Y-%m-%d %H:%M:%S}, outside its certificate's validity "
            f"({cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to "
            f"{cert.not_valid_after_utc:%H:%M:%S}) or its issuers'"
        )
    return logged


def _listed_subject(who: CertIdentity, identities: Sequence[Identity]) -> str | None:
    """The SAN of ``who`` that a listed identity (with its issuer) accepts, if any."""
    if who.issuer is None:
        return None
    for identity in identities:
        if identity.issuer.matches(who.issuer):
            for subject in who.subjects:
                if identity.subject.matches(subject):
                    return subject
    return None


def _subject_problem(
    claim: SignedClaim, digest: str, policy: SignaturePolicy
) -> tuple[str, str] | None:
    """(reason, words) when the claim does not name ``digest`` with the wanted annotations."""
    annotations = claim.subjects.get(digest)
    if annotations is None:
        named = ", ".join(_short(d) for d in sorted(claim.subjects)) or "no digest"
        return "wrong_digest", f"is for {named}, not {_short(digest)}"
    for name, wanted in sorted(policy.annotations.items()):
        have = annotations.get(name)
        if have is None:
            return "annotation", f"lacks annotation {name}={wanted!r}"
        if have != wanted:
            return "annotation", f"has annotation {name}={have!r}, not {wanted!r}"
    return None


def _short(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}…" if len(value) > 12 else digest


def _listed_keys(policy: SignaturePolicy) -> str:
    return "keys " + ", ".join(k.name for k in policy.keys) if policy.keys else "no keys listed"
