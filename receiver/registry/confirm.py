"""Confirming a tag's digest with its registry before a deploy.

Only registries listed under ``registries:`` in the configuration are asked (they say how to
reach them: TLS, credentials). For any other registry, and when the registry is down, the digest
recorded from the notification stands.
"""

from __future__ import annotations

from handlers.references import ImageRef
from receiver.config.loading import Config
from receiver.registry.client import RegistryClient


class RegistryDigests:
    def __init__(self, client: RegistryClient, config: Config) -> None:
        self._client = client
        self._config = config

    async def confirm(self, image: ImageRef) -> str | None:
        """The digest the registry serves for the image's tag; None when not asked."""
        if image.tag is None or self._config.registry(image.name.registry) is None:
            return None
        return await self._client.digest(image.name.registry, image.name.repository, image.tag)
