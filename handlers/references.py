"""Image references, normalised so that workloads and events compare equal when they name the
same image.

A first path component is a registry host only if it contains ``.`` or ``:`` or is
``localhost``; otherwise the image is on Docker Hub (``docker.io``, with ``library/`` for single
names). A registry may be known under several names: ``Aliases`` maps each to one canonical host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from receiver.errors import InvalidReference

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# The distribution reference grammar: a digest, a tag, and a repository path made of
# components (lowercase alphanumerics joined by ``.``, ``_``, ``__`` or dashes).
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
# A registry host: a domain name or an IPv6 literal in brackets, and an optional port.
_REGISTRY = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9._-]{0,253}[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?", re.ASCII
)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ImageName:
    """A repository on a registry: ``registry.internal:5000/team/app``."""

    registry: str
    repository: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    """One image: a repository with a tag, a digest, or both."""

    name: ImageName
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = str(self.name)
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_tag(text: str) -> bool:
    return _TAG.fullmatch(text) is not None


def is_digest(text: str) -> bool:
    return _DIGEST.fullmatch(text) is not None


def is_repository(text: str) -> bool:
    """A repository path such as ``team/app`` (no registry host)."""
    return _REPOSITORY.fullmatch(text) is not None


def is_registry(text: str) -> bool:
    """A registry host in lowercase, as events are stored (``registry.internal:5000``)."""
    return _REGISTRY.fullmatch(text) is not None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without a port) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def short_digest(digest: str | None) -> str:
    """``sha256:0123456789ab`` (the algorithm and 12 hex digits), or ``-``."""
    if not digest:
        return "-"
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}"


def short_image(image: ImageRef) -> str:
    """What an image is, for people: ``tag@sha256:0123456789ab``, or the tag or the short
    digest alone when it has only one."""
    digest = short_digest(image.digest) if image.digest else ""
    if image.tag and digest:
        return f"{image.tag}@{digest}"
    return image.tag or digest or str(image)


def split_registry(text: str) -> tuple[str, str]:
    """``(registry, repository)`` of a reference without tag or digest."""
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first.lower(), rest
    else:
        registry, repository = DOCKER_HUB, text
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return registry, repository


def parse_name(text: str) -> ImageName:
    """``app`` -> docker.io/library/app; ``localhost:5000/team/app`` stays as it is."""
    if not text or any(c.isspace() for c in text) or "@" in text:
        raise InvalidReference(f"not an image name: {text!r}")
    registry, repository = split_registry(text)
    if not is_repository(repository):
        raise InvalidReference(f"not an image name: {text!r}")
    return ImageName(registry=registry, repository=repository)


def parse_reference(text: str) -> ImageRef:
    """``host/repo:tag@sha256:...``, ``repo:tag``, ``repo@sha256:...`` or a bare name."""
    remainder, at, digest = text.partition("@")
    if at and not is_digest(digest):
        raise InvalidReference(f"not a digest in {text!r}")
    name_part, tag = remainder, None
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        name_part, tag = remainder[:colon], remainder[colon + 1 :]
        if not is_tag(tag):
            raise InvalidReference(f"not a tag in {text!r}")
    return ImageRef(name=parse_name(name_part), tag=tag, digest=digest or None)


@dataclass(frozen=True, slots=True)
class Aliases:
    """Each alias of a registry -> its canonical host (lowercase)."""

    canonical_of: Mapping[str, str]

    @classmethod
    def from_groups(cls, groups: Iterable[tuple[str, Iterable[str]]]) -> Aliases:
        table: dict[str, str] = {}
        for host, aliases in groups:
            for alias in (host, *aliases):
                table[alias.lower()] = host.lower()
        return cls(table)

    def canonical(self, host: str) -> str:
        host = host.lower()
        return self.canonical_of.get(host, host)

    def name(self, name: ImageName) -> ImageName:
        return ImageName(registry=self.canonical(name.registry), repository=name.repository)


def as_written(running: ImageRef, image: ImageRef) -> ImageRef:
    """``image`` under the registry spelling the workload already uses (an alias stays an
    alias), so a deploy changes the tag and digest only."""
    return ImageRef(name=running.name, tag=image.tag, digest=image.digest)
