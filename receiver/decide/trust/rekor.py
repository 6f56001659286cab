"""Rekor, Sigstore's transparency log (pure): whether a log entry vouches for a signature.

An entry is believed when a configured Rekor key signed it: its signed entry timestamp (the SET,
an "inclusion promise") over the canonical JSON ``{"body", "integratedTime", "logID",
"logIndex"}`` by the key whose hex SHA-256 SPKI is ``logID``; or an inclusion proof (RFC 9162)
up to a tree head that the key signed (a checkpoint, Go's signed-note format). Only a SET vouches
for ``integratedTime``: a keyless signature, whose certificate lives minutes, needs one.

The entry must also be about this very signature: its body (a ``hashedrekord`` or ``dsse``
entry, version 0.0.1) names the same signature bytes, the SHA-256 of the same payload and the
same key or certificate. A SET lifted from another entry proves nothing here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from receiver.decide.trust.keys import log_id, verifier_der, verifies

_NOTE_SIGNATURE: Final = "\u2014 "  # "— name base64(key hint + signature)"


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    log_index: int  # within the tree the proof is of (a shard), not the entry's global index
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TlogEntry:
    body: str  # base64 of the canonical entry, as Rekor signs it
    integrated_time: int
    log_index: int
    log_id: str  # hex
    promise: bytes | None  # the signed entry timestamp
    proof: InclusionProof | None


@contextmanager
def _parsing(what: str) -> Iterator[None]:
    """Any malformed shape below becomes a ValueError that says what was being read."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{what} is malformed ({type(exc).__name__}: {exc})") from None


def entry_from_annotation(text: str) -> TlogEntry:
    """The entry in cosign's ``dev.sigstore.cosign/bundle`` layer annotation."""
    with _parsing("the Rekor bundle annotation"):
        document = json.loads(text)
        payload = document["Payload"]
        return TlogEntry(
            body=_text(payload["body"]),
            integrated_time=_integer(payload["integratedTime"]),
            log_index=_integer(payload["logIndex"]),
            log_id=_text(payload["logID"]).lower(),
            promise=base64.b64decode(_text(document["SignedEntryTimestamp"]), validate=True),
            proof=None,
        )


def entry_from_bundle(item: Any) -> TlogEntry:
    """A ``verificationMaterial.tlogEntries[]`` item of a Sigstore bundle."""
    with _parsing("a tlog entry of the bundle"):
        promise = (item.get("inclusionPromise") or {}).get("signedEntryTimestamp")
        proof = item.get("inclusionProof")
        return TlogEntry(
            body=_text(item["canonicalizedBody"]),
            integrated_time=_integer(item.get("integratedTime", 0)),
            log_index=_integer(item["logIndex"]),
            log_id=_b64(item["logId"]["keyId"]).hex(),
            promise=None if promise is None else _b64(promise),
            proof=None if proof is None else _proof(proof),
        )


def _proof(item: Any) -> InclusionProof:
    return InclusionProof(
        log_index=_integer(item["logIndex"]),
        tree_size=_integer(item["treeSize"]),
        root_hash=_b64(item["rootHash"]),
        hashes=tuple(_b64(h) for h in item["hashes"]),
        checkpoint=_text(item["checkpoint"]["envelope"]),
    )


def vouching_entry(
    entries: Sequence[TlogEntry],
    *,
    keys: Sequence[PublicKeyTypes],
    payload: bytes,
    signatures: Sequence[bytes],
    verifier: bytes,
    need_time: bool,
) -> TlogEntry | str:
    """The first entry that names the signature (by ``verifier``: a certificate's DER or a
    key's SPKI) and that a Rekor key vouches for (by its SET when ``need_time``); else why not."""
    if not entries:
        return "no transparency-log (Rekor) entry"
    if not keys:
        return "no Rekor key is listed to check its log entry with"
    why = "its log entry names another signature"
    for entry in entries:
        if not names(entry, payload=payload, signatures=signatures, verifier=verifier):
            continue
        if set_verifies(entry, keys) or (not need_time and proof_verifies(entry, keys)):
            return entry
        if entry.promise is None and need_time:
            why = "its log entry has no signed entry timestamp (a keyless signature needs one)"
        else:
            why = "its log entry is not signed by a listed Rekor key"
    return why


def set_verifies(entry: TlogEntry, keys: Sequence[PublicKeyTypes]) -> bool:
    if entry.promise is None:
        return False
    signed = {
        "body": entry.body,
        "integratedTime": entry.integrated_time,
        "logID": entry.log_id,
        "logIndex": entry.log_index,
    }
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    return any(verifies(k, entry.promise, canonical) for k in keys if log_id(k) == entry.log_id)


def proof_verifies(entry: TlogEntry, keys: Sequence[PublicKeyTypes]) -> bool:
    """Whether the entry's inclusion proof leads to a checkpoint a Rekor key signed."""
    proof = entry.proof
    if proof is None or not 0 <= proof.log_index < proof.tree_size:
        return False
    try:
        node = hashlib.sha256(b"\x00" + base64.b64decode(entry.body, validate=True)).digest()
    except ValueError:
        return False
    index, last = proof.log_index, proof.tree_size - 1
    for sibling in proof.hashes:
        if last == 0:
            return False
        if index & 1 or index == last:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while not index & 1 and index:
                index, last = index >> 1, last >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        index, last = index >> 1, last >> 1
    if last != 0 or node != proof.root_hash:
        return False
    return _checkpoint_verifies(proof, keys)


def _checkpoint_verifies(proof: InclusionProof, keys: Sequence[PublicKeyTypes]) -> bool:
    """A signed note: ``origin``, tree size, base64 root hash (and maybe more lines), a blank
    line, then ``— name base64(4-byte key hint + signature)`` lines over the text before."""
    text, _, signature_lines = proof.checkpoint.partition("\n\n")
    lines = text.split("\n")
    if len(lines) < 3 or lines[1] != str(proof.tree_size):
        return False
    try:
        if base64.b64decode(lines[2], validate=True) != proof.root_hash:
            return False
    except ValueError:
        return False
    for line in signature_lines.splitlines():
        if not line.startswith(_NOTE_SIGNATURE):
            continue
        try:
            raw = base64.b64decode(line.rsplit(" ", 1)[-1], validate=True)
        except ValueError:
            continue
        hinted = [k for k in keys if bytes.fromhex(log_id(k))[:4] == raw[:4]]
        if any(verifies(k, raw[4:], (text + "\n").encode()) for k in hinted):
            return True
    return False


def names(
    entry: TlogEntry, *, payload: bytes, signatures: Sequence[bytes], verifier: bytes
) -> bool:
    """Whether the entry's body is about one of ``signatures`` over ``payload`` by
    ``verifier`` (``hashedrekord`` or ``dsse``)."""
    try:
        body = json.loads(base64.b64decode(entry.body, validate=True))
        spec, kind = body["spec"], body["kind"]
        digest = hashlib.sha256(payload).hexdigest()
        if kind == "hashedrekord":
            data, signed = spec["data"]["hash"], spec["signature"]
            listed = [(signed["content"], signed["publicKey"]["content"])]
        elif kind == "dsse":
            data = spec["payloadHash"]
            listed = [(s["signature"], s["verifier"]) for s in spec["signatures"]]
        else:
            return False
        if data["algorithm"] != "sha256" or data["value"] != digest:
            return False
        return any(
            _b64(signature) in signatures and verifier_der(_b64(pem)) == verifier
            for signature, pem in listed
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _b64(value: Any) -> bytes:
    return base64.b64decode(_text(value), validate=True)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _integer(value: Any) -> int:
    """An int64 as JSON holds it: a number, or (protobuf's JSON) a decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)
