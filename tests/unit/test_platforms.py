"""Platforms: how node and image words are normalised, what covers what, and what the platform
check says (tables, and the properties that hold for every platform)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.decide.trust.platforms import (
    config_platform,
    covers,
    index_platforms,
    judge_platforms,
    judge_required,
    normalise,
    parse_platform,
)
from receiver.decide.trust.policy import Check, CheckOutcome, CheckResult

# (os, arch, variant, expected)
NORMALISE = [
    # uname -m names, as Swarm nodes and `docker info` report them
    ("linux", "x86_64", "", "linux/amd64"),
    ("Linux", "X86_64", "", "linux/amd64"),
    ("linux", "aarch64", "", "linux/arm64"),
    ("linux", "armv7l", "", "linux/arm/v7"),
    ("linux", "armv6l", "", "linux/arm/v6"),
    ("linux", "armv8l", "", "linux/arm/v8"),
    ("linux", "armv5tel", "", "linux/arm/v5"),
    ("linux", "i386", "", "linux/386"),
    ("linux", "i686", "", "linux/386"),
    ("linux", "ppc64le", "", "linux/ppc64le"),
    ("linux", "ppc64el", "", "linux/ppc64le"),
    ("linux", "s390x", "", "linux/s390x"),
    ("linux", "riscv64", "", "linux/riscv64"),
    ("linux", "loongarch64", "", "linux/loong64"),
    # GOARCH names, as Nomad (cpu.arch) and image manifests write them
    ("linux", "amd64", "", "linux/amd64"),
    ("linux", "arm64", "", "linux/arm64"),
    ("linux", "386", "", "linux/386"),
    ("windows", "amd64", "", "windows/amd64"),
    # variants
    ("linux", "arm64", "v8", "linux/arm64"),
    ("linux", "arm64", "8", "linux/arm64"),
    ("linux", "arm64", "v8.0", "linux/arm64"),
    ("linux", "aarch64", "v8", "linux/arm64"),
    ("linux", "arm64", "v9", "linux/arm64/v9"),
    ("linux", "arm", "", "linux/arm/v7"),
    ("linux", "arm", "v6", "linux/arm/v6"),
    ("linux", "arm", "7", "linux/arm/v7"),
    ("linux", "ARM", "V6", "linux/arm/v6"),
    ("linux", "armv7l", "v6", "linux/arm/v6"),
    ("linux", "amd64", "v1", "linux/amd64"),
    ("linux", "amd64", "v3", "linux/amd64/v3"),
    ("linux", "riscv64", "rva22u64", "linux/riscv64/rva22u64"),
    # nothing said
    ("", "", "", "unknown/unknown"),
    ("linux", "", "", "linux/unknown"),
    (" linux ", " arm64 ", "", "linux/arm64"),
]


@pytest.mark.parametrize(("os", "arch", "variant", "expected"), NORMALISE)
def test_normalise(os: str, arch: str, variant: str, expected: str) -> None:
    assert normalise(os, arch, variant) == expected


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", max_size=12)


@given(WORDS, WORDS | st.sampled_from([row[1] for row in NORMALISE]), WORDS)
def test_normalising_a_platform_again_changes_nothing(os: str, arch: str, variant: str) -> None:
    once = normalise(os, arch, variant)
    assert parse_platform(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/x86_64", "linux/amd64"),
        (" linux/arm64 ", "linux/arm64"),
    ],
)
def test_parse_platform(text: str, expected: str) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["amd64", "linux/", "/amd64", "linux/arm/v7/x", "", "linux//v7"])
def test_parse_platform_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a platform"):
        parse_platform(text)


# (image platform, node platform, covers)
COVERS = [
    ("linux/amd64", "linux/amd64", True),
    ("linux/arm64", "linux/arm64", True),
    ("linux/amd64", "linux/arm64", False),
    ("linux/arm64", "linux/amd64", False),
    ("windows/amd64", "linux/amd64", False),
    # arm: an older variant runs on a newer CPU, never the other way
    ("linux/arm/v6", "linux/arm/v7", True),
    ("linux/arm/v7", "linux/arm/v6", False),
    ("linux/arm/v7", "linux/arm/v7", True),
    ("linux/arm/v5", "linux/arm/v8", True),
    # amd64 micro-architecture levels: a node without one is the baseline
    ("linux/amd64", "linux/amd64/v3", True),
    ("linux/amd64/v2", "linux/amd64/v3", True),
    ("linux/amd64/v3", "linux/amd64", False),
    ("linux/amd64/v4", "linux/amd64/v3", False),
    # arm64: the baseline covers newer CPUs, a newer build does not run on the baseline
    ("linux/arm64", "linux/arm64/v9", True),
    ("linux/arm64/v9", "linux/arm64", False),
    # no cross-architecture compatibility is assumed (32-bit support varies)
    ("linux/386", "linux/amd64", False),
    ("linux/arm/v7", "linux/arm64", False),
    ("linux/arm/v8", "linux/arm64", False),
    # other variants match exactly
    ("linux/riscv64", "linux/riscv64/rva22u64", True),
    ("linux/riscv64/rva22u64", "linux/riscv64", False),
    # unknown runs nowhere
    ("unknown/unknown", "unknown/unknown", False),
    ("linux/unknown", "linux/unknown", False),
]


@pytest.mark.parametrize(("image", "node", "expected"), COVERS)
def test_covers(image: str, node: str, expected: bool) -> None:
    assert covers(image, node) is expected


PLATFORMS = st.sampled_from([row[3] for row in NORMALISE if "unknown" not in row[3]])


@given(PLATFORMS)
def test_a_known_platform_covers_itself(platform: str) -> None:
    assert covers(platform, platform)
    assert judge_platforms(frozenset({platform}), {platform: 3}).outcome is CheckOutcome.PASSED


@given(PLATFORMS, PLATFORMS)
def test_covering_is_what_the_check_says(image: str, node: str) -> None:
    result = judge_platforms(frozenset({image}), {node: 1})
    assert (result.outcome is CheckOutcome.PASSED) is covers(image, node)


def oci_index(*platforms: dict[str, str], annotations: dict[str, str] | None = None) -> Any:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{n:064x}",
                "size": 500,
                "platform": platform,
                **({"annotations": annotations} if annotations else {}),
            }
            for n, platform in enumerate(platforms)
        ],
    }


BUILDKIT_ATTESTATION = {"architecture": "unknown", "os": "unknown"}


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (
            oci_index({"architecture": "amd64", "os": "linux"}, BUILDKIT_ATTESTATION),
            {"linux/amd64"},
        ),
        (
            oci_index(
                {"architecture": "amd64", "os": "linux"},
                {"architecture": "arm64", "os": "linux", "variant": "v8"},
                {"architecture": "arm", "os": "linux", "variant": "v7"},
                {"architecture": "arm", "os": "linux", "variant": "v6"},
                {"architecture": "ppc64le", "os": "linux"},
                BUILDKIT_ATTESTATION,
                BUILDKIT_ATTESTATION,
            ),
            {"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le"},
        ),
        (
            oci_index(
                {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5329"},
                {"architecture": "amd64", "os": "linux"},
            ),
            {"windows/amd64", "linux/amd64"},
        ),
        (oci_index({"architecture": "arm", "os": "linux"}), {"linux/arm/v7"}),
        ({"manifests": [{"digest": "sha256:" + "a" * 64}]}, set()),  # no platform: unknown
        ({"manifests": [{"platform": {"os": "linux"}}, "junk"]}, set()),
        ({"schemaVersion": 2, "manifests": []}, set()),
        ({}, set()),
    ],
    ids=["attested", "many", "windows", "arm-without-variant", "no-platform", "odd", "empty", "-"],
)
def test_index_platforms(index: Any, expected: set[str]) -> None:
    assert index_platforms(index) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"architecture": "amd64", "os": "linux", "rootfs": {}}, "linux/amd64"),
        ({"architecture": "arm64", "os": "linux", "variant": "v8"}, "linux/arm64"),
        ({"architecture": "arm", "os": "linux", "variant": "v6"}, "linux/arm/v6"),
        ({"architecture": "amd64", "os": "windows", "os.version": "10.0"}, "windows/amd64"),
        ({"config": {}}, "unknown/unknown"),
    ],
)
def test_config_platform(config: dict[str, Any], expected: str) -> None:
    assert config_platform(config) == expected


def passed(words: str) -> CheckResult:
    return CheckResult(check=Check.PLATFORM, outcome=CheckOutcome.PASSED, words=words)


def refused(reason: str, words: str) -> CheckResult:
    return CheckResult(
        check=Check.PLATFORM, outcome=CheckOutcome.REFUSED, words=words, reason=reason
    )


def missing(words: str) -> CheckResult:
    return refused("platform_missing", words)


AMD, ARM, V6, V7 = "linux/amd64", "linux/arm64", "linux/arm/v6", "linux/arm/v7"

# (image platforms, node platform -> count, result)
JUDGE_PLATFORMS = [
    ({AMD, ARM}, {AMD: 3, ARM: 2}, passed("covers linux/amd64, linux/arm64")),
    ({AMD, ARM}, {AMD: 3}, passed("covers linux/amd64")),
    ({AMD}, {AMD: 1}, passed("covers linux/amd64")),
    ({V6}, {V7: 4}, passed("covers linux/arm/v7")),
    ({ARM}, {"linux/arm64/v9": 1}, passed("covers linux/arm64/v9")),
    ({AMD}, {AMD: 3, ARM: 2}, missing("image has linux/amd64; 2 nodes are linux/arm64")),
    ({AMD}, {ARM: 1}, missing("image has linux/amd64; 1 node is linux/arm64")),
    (
        {AMD},
        {AMD: 1, ARM: 2, V7: 1},
        missing("image has linux/amd64; 1 node is linux/arm/v7, 2 nodes are linux/arm64"),
    ),
    ({V7}, {V6: 1}, missing("image has linux/arm/v7; 1 node is linux/arm/v6")),
    (set(), {AMD: 1}, missing("image has no platform; 1 node is linux/amd64")),
    ({AMD}, {"unknown/unknown": 1}, missing("image has linux/amd64; 1 node is unknown/unknown")),
    # nowhere to run
    ({AMD}, {}, refused("no_nodes", "no ready node can run it")),
    ({AMD}, {AMD: 0}, refused("no_nodes", "no ready node can run it")),
    (set(), {}, refused("no_nodes", "no ready node can run it")),
    # a count of 0 is no node: it needs no coverage
    ({AMD}, {AMD: 2, ARM: 0}, passed("covers linux/amd64")),
]


@pytest.mark.parametrize(("image", "nodes", "expected"), JUDGE_PLATFORMS)
def test_judge_platforms(image: set[str], nodes: dict[str, int], expected: CheckResult) -> None:
    assert judge_platforms(frozenset(image), nodes) == expected


# (image platforms, required, result)
JUDGE_REQUIRED = [
    ({AMD, ARM}, [AMD, ARM], passed("covers linux/amd64, linux/arm64")),
    ({AMD, ARM}, ["linux/arm64/v8"], passed("covers linux/arm64")),
    ({V6}, [V7], passed("covers linux/arm/v7")),
    ({AMD}, [AMD, ARM], missing("image has linux/amd64; linux/arm64 is required")),
    (
        {AMD},
        [ARM, V7],
        missing("image has linux/amd64; linux/arm/v7, linux/arm64 are required"),
    ),
    (set(), [AMD], missing("image has no platform; linux/amd64 is required")),
    ({AMD}, [], passed("no platform is required")),
]


@pytest.mark.parametrize(("image", "required", "expected"), JUDGE_REQUIRED)
def test_judge_required(image: set[str], required: list[str], expected: CheckResult) -> None:
    assert judge_required(frozenset(image), required) == expected


def test_a_refusal_reads_as_json() -> None:
    result = judge_platforms(frozenset({AMD}), {ARM: 2})
    assert result.as_json() == {
        "check": "platform",
        "outcome": "refused",
        "words": "image has linux/amd64; 2 nodes are linux/arm64",
        "reason": "platform_missing",
    }
