"""What OCI bytes say, checked: that they hash to the digest they were asked by, and the
descriptors an OCI index lists. Pure; ``receiver.registry.client`` reads, this judges."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any, Final

from receiver.errors import RegistryError

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DIGEST_ALGORITHMS: Final = frozenset({"sha256", "sha512"})


def hashed(body: bytes, expected: str, what: str) -> str:
    """The digest of ``body`` by the algorithm of ``expected``; RegistryError when
    ``expected`` is a whole digest (not ``sha256:`` alone) that ``body`` does not hash to."""
    algorithm, _, value = expected.partition(":")
    if algorithm not in DIGEST_ALGORITHMS:
        raise RegistryError(f"{what}: digest algorithm {algorithm!r} not supported")
    digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
    if value and digest != expected:
        raise RegistryError(f"{what}: the registry served bytes that hash to {digest}")
    return digest


def index_entries(body: bytes) -> list[dict[str, Any]] | None:
    """The descriptors of the OCI index in ``body``; None when it is not one."""
    with contextlib.suppress(ValueError):  # also UnicodeDecodeError
        index = json.loads(body)
        if isinstance(index, dict) and index.get("mediaType", OCI_INDEX) == OCI_INDEX:
            entries = index.get("manifests")
            if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
                return entries
    return None
