"""An OCI registry in memory: what ``verify_signatures`` reads (``OciReader``, hashing what it
serves by digest as ``RegistryClient`` does) and what the cosign signer pushes with.

``referrers_api=True`` answers the OCI 1.1 referrers API from the stored manifests' ``subject``
(each descriptor with the manifest's own ``artifactType``, as the API must); False answers None,
as for Distribution 2.8, which has no such API. ``tamper`` serves other bytes under a digest;
``away`` makes every read raise ``RegistryUnavailable``. ``reads`` records what was asked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from receiver.errors import RegistryError, RegistryUnavailable
from receiver.registry.client import OciObject
from receiver.registry.oci import hashed


@dataclass
class MemoryOci:
    referrers_api: bool = False
    away: bool = False
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> (type, body)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)  # (repository, tag) -> digest
    reads: list[str] = field(default_factory=list)

    # -- what the signer pushes with ------------------------------------------------------

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = _digest(data)
        self.blobs[digest] = data
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        digest = _digest(body)
        self.manifests[digest] = (media_type, body)
        if ":" not in reference:
            self.tags[repository, reference] = digest
        return digest

    def tamper(self, digest: str, data: bytes) -> None:
        if digest in self.manifests:
            self.manifests[digest] = (self.manifests[digest][0], data)
        else:
            self.blobs[digest] = data

    # -- OciReader ------------------------------------------------------------------------

    async def manifest(self, registry: str, repository: str, reference: str) -> OciObject | None:
        self._read(f"manifest {reference}")
        digest = reference if ":" in reference else self.tags.get((repository, reference))
        if digest is None or digest not in self.manifests:
            return None
        media_type, body = self.manifests[digest]
        what = f"manifest {reference}"
        served = hashed(body, digest if ":" in reference else "sha256:", what)
        return OciObject(media_type=media_type, digest=served, body=body)

    async def blob(self, registry: str, repository: str, digest: str, *, max_bytes: int) -> bytes:
        self._read(f"blob {digest}")
        if digest not in self.blobs:
            raise RegistryError(f"blob {digest}: HTTP 404", status=404)
        data = self.blobs[digest]
        if len(data) > max_bytes:
            raise RegistryError(f"blob {digest}: answer larger than {max_bytes} bytes")
        hashed(data, digest, f"blob {digest}")
        return data

    async def referrers(
        self, registry: str, repository: str, digest: str
    ) -> list[dict[str, Any]] | None:
        self._read(f"referrers {digest}")
        if not self.referrers_api:
            return None
        found = []
        for manifest_digest, (media_type, body) in self.manifests.items():
            document = json.loads(body)
            if (document.get("subject") or {}).get("digest") == digest:
                artifact = document.get("artifactType") or document["config"]["mediaType"]
                found.append(
                    {
                        "mediaType": media_type,
                        "digest": manifest_digest,
                        "size": len(body),
                        "artifactType": artifact,
                    }
                )
        return found

    def _read(self, what: str) -> None:
        if self.away:
            raise RegistryUnavailable("registry memory unreachable: switched off")
        self.reads.append(what)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
