"""Confirming, at dispatch time, that the registry serves the digest a deploy is about to use.

A deploy goes ahead only when the registry answers that the tag resolves to exactly that digest.
A tag it does not serve, another digest, or a tag no registry could serve is a refusal with its
reason, never deployed and never retried: a forged notification cannot put an image on a
workload. A registry that does not answer raises ``RegistryUnavailable``: the deploy waits and is
tried again, never deployed unconfirmed. Only where the operator said so (``confirm_digests:
false`` on the source of a registry regdeploy cannot reach) is the registry not asked.
"""

from __future__ import annotations

from handlers.references import ImageRef, is_tag
from receiver.config.loading import Config
from receiver.registry.client import RegistryClient


class DigestConfirmation:
    def __init__(self, client: RegistryClient, config: Config) -> None:
        self._client = client
        self._config = config

    async def refusal(self, image: ImageRef) -> str | None:
        """Why ``image`` must not be deployed, or None when the registry confirms it (or the
        operator chose not to ask). Raises ``RegistryError`` when the registry refuses to
        answer, ``RegistryUnavailable`` when it cannot answer now."""
        if image.tag is None or not is_tag(image.tag):
            return f"invalid tag {str(image.tag)[:200]!r}: not deployed"
        if image.digest is None:
            return "no digest to deploy"
        if not self._config.confirms_digests(image.name.registry):
            return None
        served = await self._client.digest(image.name.registry, image.name.repository, image.tag)
        if served is None:
            return f"the registry does not serve tag {image.tag}: not deployed"
        if served != image.digest:
            return (
                f"the registry serves {served} for tag {image.tag}, not {image.digest}: "
                "not deployed"
            )
        return None
