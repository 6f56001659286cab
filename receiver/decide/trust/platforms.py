"""Which platforms an image is built for, which ones a target's nodes are, and whether the
first cover the second (pure, no I/O): the ``platform`` trust check.

A platform is written ``os/arch[/variant]`` with OCI's (Go's) names: ``linux/amd64``,
``linux/arm64``, ``linux/arm/v7``. ``normalise`` turns what nodes report (``uname`` names such
as ``x86_64``, ``aarch64``, ``armv7l``, or Go's ``GOARCH``) and what images declare into that
form, as containerd normalises them: ``arm64`` with variant ``v8`` is plain ``arm64``, ``arm``
without a variant is ``arm/v7``, ``amd64`` ``v1`` is plain ``amd64``.

An image platform covers a node platform when the node can run it (``covers``): the same OS and
architecture, and a variant the node's CPU implements. Within ``arm`` and ``amd64`` an older
variant runs on a newer CPU, so ``linux/arm/v6`` covers ``linux/arm/v7`` but ``linux/arm/v7``
does not cover ``linux/arm/v6`` (a v6 CPU lacks v7's instructions), and ``linux/amd64``
(``v1``) covers ``linux/amd64/v3``; an image without a variant covers every variant of its
architecture. Across architectures nothing covers: containerd would pull ``386`` for an amd64
node or ``arm/v7`` for an arm64 one, but whether it then runs depends on the node's kernel and
CPU (32-bit support), and this check exists to refuse what may not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from receiver.decide.trust.policy import Check, CheckOutcome, CheckResult

UNKNOWN = "unknown"
# uname -m (and Debian's) names -> (GOARCH, the variant the name implies).
_ARCHES: Mapping[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "x64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "armv8l": ("arm", "v8"),
    "armv7l": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv6": ("arm", "v6"),
    "armel": ("arm", "v6"),
    "armv5l": ("arm", "v5"),
    "armv5tel": ("arm", "v5"),
    "i386": ("386", ""),
    "i486": ("386", ""),
    "i586": ("386", ""),
    "i686": ("386", ""),
    "x86": ("386", ""),
    "ppc64el": ("ppc64le", ""),
    "loongarch64": ("loong64", ""),
}
# Variants that name the architecture's baseline: written without one.
_BASELINE: Mapping[str, frozenset[str]] = {
    "arm64": frozenset({"8", "v8", "v8.0"}),
    "amd64": frozenset({"1", "v1"}),
}
# Architectures whose numbered variants run what older ones were built for.
_ORDERED = frozenset({"arm", "amd64"})


def normalise(os: str, arch: str, variant: str = "") -> str:
    """The platform ``os/arch[/variant]`` as OCI names it, from a node's or an image's words
    (``("Linux", "x86_64")`` -> ``linux/amd64``, ``("linux", "armv7l")`` -> ``linux/arm/v7``).
    An empty OS or architecture is ``unknown``, which nothing covers."""
    os_name = os.strip().lower() or UNKNOWN
    arch_name, implied = _ARCHES.get(arch.strip().lower(), (arch.strip().lower(), ""))
    arch_name = arch_name or UNKNOWN
    wanted = variant.strip().lower() or implied
    if arch_name == "arm":
        wanted = wanted or "v7"
    if wanted.isdigit():
        wanted = "v" + wanted
    if wanted in _BASELINE.get(arch_name, ()):
        wanted = ""
    return "/".join([os_name, arch_name, *([wanted] if wanted else [])])


def parse_platform(text: str) -> str:
    """``os/arch[/variant]`` as written (in a configuration), normalised; a ``ValueError`` names
    what is wrong with text of another form."""
    parts = text.strip().split("/")
    if not 2 <= len(parts) <= 3 or not all(part.strip() for part in parts):
        raise ValueError(f"{text!r} is not a platform: write os/arch or os/arch/variant")
    return normalise(*parts)


def index_platforms(index: Mapping[str, Any]) -> frozenset[str]:
    """The platforms of an OCI image index or Docker manifest list (``manifests[].platform``),
    without ``unknown/unknown``: the attestation manifests BuildKit adds, which run nowhere."""
    found = set()
    manifests = index.get("manifests")
    for manifest in manifests if isinstance(manifests, list) else ():
        platform = manifest.get("platform") if isinstance(manifest, Mapping) else None
        if not isinstance(platform, Mapping):
            continue
        os_name, arch = str(platform.get("os") or ""), str(platform.get("architecture") or "")
        if not os_name or not arch or (os_name, arch) == (UNKNOWN, UNKNOWN):
            continue
        found.add(normalise(os_name, arch, str(platform.get("variant") or "")))
    return frozenset(found)


def config_platform(config: Mapping[str, Any]) -> str:
    """The platform of a single image, from its config blob (``os``, ``architecture``,
    ``variant``)."""
    return normalise(
        str(config.get("os") or ""),
        str(config.get("architecture") or ""),
        str(config.get("variant") or ""),
    )


def covers(image: str, node: str) -> bool:
    """Whether an image built for platform ``image`` runs on a node of platform ``node`` (both
    normalised; see the module docstring)."""
    image_os, image_arch, image_variant = _split(image)
    node_os, node_arch, node_variant = _split(node)
    if (image_os, image_arch) != (node_os, node_arch) or UNKNOWN in (image_os, image_arch):
        return False
    if image_variant == node_variant or not image_variant:
        return True
    if image_arch not in _ORDERED:
        return False
    built, runs = _level(image_variant), _level(node_variant or "v1")
    return built is not None and runs is not None and built <= runs


def judge_platforms(image: frozenset[str], nodes: Mapping[str, int]) -> CheckResult:
    """Whether ``image`` (its platforms as ``index_platforms`` or ``config_platform`` give
    them) covers every node a target can be placed on; ``nodes`` maps each node platform (as
    ``normalise`` gives it) to how many such nodes there are."""
    placed = {platform: count for platform, count in nodes.items() if count > 0}
    if not placed:
        return _refused("no_nodes", "no ready node can run it")
    gaps = _uncovered(image, placed)
    if gaps:
        found = ", ".join(_nodes(placed[platform], platform) for platform in gaps)
        return _refused("platform_missing", f"{_has(image)}; {found}")
    return _passed(placed)


def judge_required(image: frozenset[str], required: Sequence[str]) -> CheckResult:
    """Whether ``image`` covers every platform the configuration requires (``os/arch[/variant]``
    as written; a malformed one is a ``ValueError``, which reading the configuration prevents)."""
    wanted = {parse_platform(text): 1 for text in required}
    if not wanted:
        return CheckResult(
            check=Check.PLATFORM, outcome=CheckOutcome.PASSED, words="no platform is required"
        )
    gaps = _uncovered(image, wanted)
    if gaps:
        verb = "is" if len(gaps) == 1 else "are"
        return _refused("platform_missing", f"{_has(image)}; {', '.join(gaps)} {verb} required")
    return _passed(wanted)


def _uncovered(image: frozenset[str], platforms: Mapping[str, int]) -> list[str]:
    return sorted(p for p in platforms if not any(covers(built, p) for built in image))


def _split(platform: str) -> tuple[str, str, str]:
    os_name, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    return os_name, arch, variant


def _level(variant: str) -> int | None:
    digits = variant.removeprefix("v")
    return int(digits) if digits.isdigit() else None


def _has(image: frozenset[str]) -> str:
    return "image has " + (", ".join(sorted(image)) if image else "no platform")


def _nodes(count: int, platform: str) -> str:
    return f"1 node is {platform}" if count == 1 else f"{count} nodes are {platform}"


def _passed(platforms: Mapping[str, int]) -> CheckResult:
    return CheckResult(
        check=Check.PLATFORM,
        outcome=CheckOutcome.PASSED,
        words="covers " + ", ".join(sorted(platforms)),
    )


def _refused(reason: str, words: str) -> CheckResult:
    return CheckResult(
        check=Check.PLATFORM, outcome=CheckOutcome.REFUSED, words=words, reason=reason
    )
