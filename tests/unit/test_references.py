"""Image references: Docker Hub normalisation, tags and digests, round trips and aliases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.references import (
    DOCKER_HUB,
    Aliases,
    ImageName,
    ImageRef,
    parse_name,
    parse_reference,
    split_registry,
)
from receiver.errors import InvalidReference, RegdeployError

SHA = "sha256:" + "0123456789abcdef" * 4
SHA_B = "sha256:" + "fedcba9876543210" * 4


def _name(registry: str, repository: str) -> ImageName:
    return ImageName(registry=registry, repository=repository)


# --- names -------------------------------------------------------------------------------------

# (text, registry, repository)
NAMES = [
    pytest.param("app", DOCKER_HUB, "library/app", id="single-name-is-library"),
    pytest.param("team/app", DOCKER_HUB, "team/app", id="two-parts-on-hub"),
    pytest.param("team/sub/app", DOCKER_HUB, "team/sub/app", id="three-parts-on-hub"),
    pytest.param("library/app", DOCKER_HUB, "library/app", id="explicit-library"),
    pytest.param("docker.io/app", DOCKER_HUB, "library/app", id="docker-io-single"),
    pytest.param("docker.io/team/app", DOCKER_HUB, "team/app", id="docker-io-team"),
    pytest.param("docker.io/library/app", DOCKER_HUB, "library/app", id="docker-io-library"),
    pytest.param("index.docker.io/app", DOCKER_HUB, "library/app", id="index-docker-io"),
    pytest.param("index.docker.io/team/app", DOCKER_HUB, "team/app", id="index-docker-io-team"),
    pytest.param("registry-1.docker.io/app", DOCKER_HUB, "library/app", id="registry-1"),
    pytest.param("Docker.IO/app", DOCKER_HUB, "library/app", id="hub-alias-upper-case"),
    pytest.param("localhost/app", "localhost", "app", id="localhost"),
    pytest.param("localhost/team/app", "localhost", "team/app", id="localhost-team"),
    pytest.param("localhost:5000/app", "localhost:5000", "app", id="localhost-port"),
    pytest.param("localhost:5000/team/app", "localhost:5000", "team/app", id="localhost-port-team"),
    pytest.param("Localhost:5000/app", "localhost:5000", "app", id="localhost-port-upper-case"),
    pytest.param("registry.internal/app", "registry.internal", "app", id="dotted-host"),
    pytest.param("registry.internal/a/b/c", "registry.internal", "a/b/c", id="dotted-host-deep"),
    pytest.param("registry.internal:5000/app", "registry.internal:5000", "app", id="host-port"),
    pytest.param("Registry.Internal/app", "registry.internal", "app", id="host-upper-case"),
    pytest.param("REGISTRY.INTERNAL:5000/t/a", "registry.internal:5000", "t/a", id="host-caps"),
    pytest.param("myhost:5000/app", "myhost:5000", "app", id="colon-makes-a-host"),
    pytest.param("a.b/c", "a.b", "c", id="dot-makes-a-host"),
    pytest.param("localhost", DOCKER_HUB, "library/localhost", id="bare-localhost-is-a-name"),
    pytest.param("a.b", DOCKER_HUB, "library/a.b", id="bare-dotted-is-a-name"),
    pytest.param("my-org/my.app_v2", DOCKER_HUB, "my-org/my.app_v2", id="separators"),
    pytest.param("a__b", DOCKER_HUB, "library/a__b", id="double-underscore"),
    pytest.param("a---b", DOCKER_HUB, "library/a---b", id="dashes"),
    pytest.param("0/1", DOCKER_HUB, "0/1", id="digits"),
]

NOT_NAMES = [
    pytest.param("", id="empty"),
    pytest.param(" ", id="space-only"),
    pytest.param("my app", id="inner-space"),
    pytest.param(" app", id="leading-space"),
    pytest.param("app ", id="trailing-space"),
    pytest.param("app\n", id="trailing-newline"),
    pytest.param("team/\tapp", id="tab"),
    pytest.param("App", id="upper-case-single"),
    pytest.param("team/App", id="upper-case-repository"),
    pytest.param("registry.internal/Team/app", id="upper-case-after-host"),
    pytest.param("a//b", id="empty-component"),
    pytest.param("registry.internal//app", id="empty-component-after-host"),
    pytest.param("/app", id="leading-slash"),
    pytest.param("team/app/", id="trailing-slash"),
    pytest.param("localhost/", id="host-without-repository"),
    pytest.param("registry.internal:5000/", id="host-port-without-repository"),
    pytest.param("docker.io/", id="hub-without-repository"),
    pytest.param("app@sha256:abc", id="with-digest"),
    pytest.param("team/app@", id="with-at"),
    pytest.param("app:1.0", id="with-tag"),
    pytest.param("registry.internal/app:1.0", id="host-with-tag"),
    pytest.param("-app", id="leading-dash"),
    pytest.param("app-", id="trailing-dash"),
    pytest.param("_app", id="leading-underscore"),
    pytest.param(".app", id="leading-dot"),
    pytest.param("a..b", id="double-dot"),
    pytest.param("a___b", id="triple-underscore"),
]


@pytest.mark.parametrize(("text", "registry", "repository"), NAMES)
def test_parse_name(text: str, registry: str, repository: str) -> None:
    assert parse_name(text) == _name(registry, repository)


@pytest.mark.parametrize("text", NOT_NAMES)
def test_parse_name_rejects(text: str) -> None:
    with pytest.raises(InvalidReference, match="not an image name"):
        parse_name(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("app", (DOCKER_HUB, "library/app"), id="hub-single"),
        pytest.param("team/app", (DOCKER_HUB, "team/app"), id="hub-team"),
        pytest.param("Index.Docker.IO/app", (DOCKER_HUB, "library/app"), id="hub-alias"),
        pytest.param("localhost/app", ("localhost", "app"), id="localhost"),
        pytest.param("Reg.Example:443/x/y", ("reg.example:443", "x/y"), id="host-lowercased"),
        pytest.param("team/App", (DOCKER_HUB, "team/App"), id="repository-kept-as-written"),
    ],
)
def test_split_registry(text: str, expected: tuple[str, str]) -> None:
    assert split_registry(text) == expected


def test_invalid_reference_shares_the_project_root() -> None:
    assert issubclass(InvalidReference, RegdeployError)


# --- references --------------------------------------------------------------------------------

# (text, registry, repository, tag, digest)
REFERENCES = [
    pytest.param("app", DOCKER_HUB, "library/app", None, None, id="bare-name"),
    pytest.param("app:1.0", DOCKER_HUB, "library/app", "1.0", None, id="tag"),
    pytest.param("app:latest", DOCKER_HUB, "library/app", "latest", None, id="latest"),
    pytest.param("team/app:v1.2.3-rc.1", DOCKER_HUB, "team/app", "v1.2.3-rc.1", None, id="semver"),
    pytest.param(f"app@{SHA}", DOCKER_HUB, "library/app", None, SHA, id="digest-only"),
    pytest.param(f"app:1.0@{SHA}", DOCKER_HUB, "library/app", "1.0", SHA, id="tag-and-digest"),
    pytest.param("localhost:5000/app", "localhost:5000", "app", None, None, id="port-not-a-tag"),
    pytest.param(
        "localhost:5000/team/app", "localhost:5000", "team/app", None, None, id="port-deep-no-tag"
    ),
    pytest.param("localhost:5000/app:5000", "localhost:5000", "app", "5000", None, id="port+tag"),
    pytest.param(
        f"localhost:5000/team/app@{SHA}", "localhost:5000", "team/app", None, SHA, id="port+digest"
    ),
    pytest.param(
        f"registry.internal:5000/app:1.0@{SHA}",
        "registry.internal:5000",
        "app",
        "1.0",
        SHA,
        id="port+tag+digest",
    ),
    pytest.param(
        "Registry.Internal/app:Tag_Upper", "registry.internal", "app", "Tag_Upper", None, id="case"
    ),
    pytest.param("index.docker.io/app:1", DOCKER_HUB, "library/app", "1", None, id="hub-alias"),
    pytest.param("app:_x", DOCKER_HUB, "library/app", "_x", None, id="tag-underscore-first"),
    pytest.param("app:1.0__x-y", DOCKER_HUB, "library/app", "1.0__x-y", None, id="tag-chars"),
    pytest.param("app:" + "a" * 128, DOCKER_HUB, "library/app", "a" * 128, None, id="tag-128"),
    pytest.param(
        "app@sha512:" + "ab" * 64, DOCKER_HUB, "library/app", None, "sha512:" + "ab" * 64, id="512"
    ),
    pytest.param(
        "app@multihash+base58:QmRZ=_-x",
        DOCKER_HUB,
        "library/app",
        None,
        "multihash+base58:QmRZ=_-x",
        id="digest-algorithm-separators",
    ),
    pytest.param("registry.internal", DOCKER_HUB, "library/registry.internal", None, None, id="h"),
    pytest.param(
        "registry.internal:5000", DOCKER_HUB, "library/registry.internal", "5000", None, id="h:p"
    ),
]

NOT_REFERENCES = [
    pytest.param("", "not an image name", id="empty"),
    pytest.param("app:", "not a tag", id="empty-tag"),
    pytest.param("app:-1", "not a tag", id="tag-leading-dash"),
    pytest.param("app:.x", "not a tag", id="tag-leading-dot"),
    pytest.param("app:" + "a" * 129, "not a tag", id="tag-too-long"),
    pytest.param("app:a b", "not a tag", id="tag-with-space"),
    pytest.param("app:1.0\n", "not a tag", id="tag-trailing-newline"),
    pytest.param("app:1+2", "not a tag", id="tag-with-plus"),
    pytest.param("app:1.0:2", "not an image name", id="two-colons"),
    pytest.param("app@", "not a digest", id="empty-digest"),
    pytest.param("app:1.0@", "not a digest", id="tag-and-empty-digest"),
    pytest.param("app@sha256", "not a digest", id="digest-without-colon"),
    pytest.param("app@sha256:", "not a digest", id="digest-without-value"),
    pytest.param("app@:abc", "not a digest", id="digest-without-algorithm"),
    pytest.param("app@SHA256:abc", "not a digest", id="digest-upper-case-algorithm"),
    pytest.param("app@sha256:ab/cd", "not a digest", id="digest-with-slash"),
    pytest.param("app@sha256:abc\n", "not a digest", id="digest-trailing-newline"),
    pytest.param(f"app@{SHA}@{SHA}", "not a digest", id="two-digests"),
    pytest.param(f"@{SHA}", "not an image name", id="digest-without-name"),
    pytest.param(":1.0", "not an image name", id="tag-without-name"),
    pytest.param("App:1.0", "not an image name", id="upper-case-repository"),
    pytest.param("a//b:1", "not an image name", id="empty-component"),
    pytest.param("team/app/:1", "not an image name", id="trailing-slash"),
    pytest.param("my app:1", "not an image name", id="space-in-name"),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), REFERENCES)
def test_parse_reference(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    assert parse_reference(text) == ImageRef(
        name=_name(registry, repository), tag=tag, digest=digest
    )


@pytest.mark.parametrize(("text", "message"), NOT_REFERENCES)
def test_parse_reference_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_reference(text)


# (text, its normal form)
ROUND_TRIPS = [
    pytest.param("app", "docker.io/library/app", id="bare"),
    pytest.param("app:1.0", "docker.io/library/app:1.0", id="tag"),
    pytest.param(f"app@{SHA}", f"docker.io/library/app@{SHA}", id="digest"),
    pytest.param(f"index.docker.io/team/app@{SHA}", f"docker.io/team/app@{SHA}", id="hub-alias"),
    pytest.param("registry-1.docker.io/app:x", "docker.io/library/app:x", id="registry-1"),
    pytest.param("Localhost:5000/app:1", "localhost:5000/app:1", id="host-lowercased"),
    pytest.param("localhost:5000/app", "localhost:5000/app", id="port-no-tag"),
    pytest.param(
        f"registry.internal/t/app:1.0@{SHA}", f"registry.internal/t/app:1.0@{SHA}", id="full"
    ),
]


@pytest.mark.parametrize(("text", "normal"), ROUND_TRIPS)
def test_str_is_the_normal_form(text: str, normal: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == normal
    assert parse_reference(normal) == ref


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        pytest.param(ImageRef(name=_name("h.io", "a")), "h.io/a", id="name-only"),
        pytest.param(ImageRef(name=_name("h.io", "a"), tag="1"), "h.io/a:1", id="tag"),
        pytest.param(ImageRef(name=_name("h.io", "a"), digest=SHA), f"h.io/a@{SHA}", id="digest"),
        pytest.param(
            ImageRef(name=_name("h.io", "a"), tag="1", digest=SHA), f"h.io/a:1@{SHA}", id="both"
        ),
        pytest.param(ImageRef(name=_name("h.io", "a"), tag=""), "h.io/a", id="empty-tag-omitted"),
    ],
)
def test_image_ref_str(ref: ImageRef, text: str) -> None:
    assert str(ref) == text


def test_image_names_order_by_registry_then_repository() -> None:
    names = [_name("b.io", "a"), _name("a.io", "z"), _name("a.io", "b")]
    assert sorted(names) == [_name("a.io", "b"), _name("a.io", "z"), _name("b.io", "a")]
    assert str(_name("localhost:5000", "team/app")) == "localhost:5000/team/app"


# --- aliases -----------------------------------------------------------------------------------

ALIASES = Aliases.from_groups(
    [
        ("registry.internal:5000", ["localhost:5000", "Registry.LAN:5000"]),
        ("Mirror.Example", []),
    ]
)


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        pytest.param("localhost:5000", "registry.internal:5000", id="alias"),
        pytest.param("LOCALHOST:5000", "registry.internal:5000", id="alias-upper-case"),
        pytest.param("registry.lan:5000", "registry.internal:5000", id="alias-configured-upper"),
        pytest.param("registry.internal:5000", "registry.internal:5000", id="host-itself"),
        pytest.param("Registry.Internal:5000", "registry.internal:5000", id="host-upper-case"),
        pytest.param("mirror.example", "mirror.example", id="host-without-aliases"),
        pytest.param("MIRROR.example", "mirror.example", id="host-configured-upper"),
        pytest.param("localhost", "localhost", id="alias-needs-its-port"),
        pytest.param("registry.internal", "registry.internal", id="host-needs-its-port"),
        pytest.param("unknown.example:443", "unknown.example:443", id="unknown"),
        pytest.param("Unknown.Example", "unknown.example", id="unknown-lowercased"),
        pytest.param(DOCKER_HUB, DOCKER_HUB, id="docker-hub"),
    ],
)
def test_aliases_canonical(host: str, canonical: str) -> None:
    assert ALIASES.canonical(host) == canonical


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            _name("localhost:5000", "team/app"),
            _name("registry.internal:5000", "team/app"),
            id="alias",
        ),
        pytest.param(
            _name("registry.internal:5000", "app"),
            _name("registry.internal:5000", "app"),
            id="canonical",
        ),
        pytest.param(_name("other.io", "app"), _name("other.io", "app"), id="unknown"),
        pytest.param(_name(DOCKER_HUB, "library/app"), _name(DOCKER_HUB, "library/app"), id="hub"),
    ],
)
def test_aliases_name(name: ImageName, expected: ImageName) -> None:
    assert ALIASES.name(name) == expected


def test_aliases_table_and_empty() -> None:
    assert dict(ALIASES.canonical_of) == {
        "registry.internal:5000": "registry.internal:5000",
        "localhost:5000": "registry.internal:5000",
        "registry.lan:5000": "registry.internal:5000",
        "mirror.example": "mirror.example",
    }
    empty = Aliases.from_groups([])
    assert empty.canonical("Localhost:5000") == "localhost:5000"
    assert empty.name(_name("h.io", "a")) == _name("h.io", "a")


# --- properties --------------------------------------------------------------------------------

_COMPONENTS = st.from_regex(
    r"[a-z0-9]{1,6}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,6}){0,2}", fullmatch=True
)
_LABELS = st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True)
_HOSTS = st.one_of(
    st.sampled_from(
        [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "Docker.IO",
            "localhost",
            "localhost:5000",
            "Registry.Internal:5000",
        ]
    ),
    st.builds(
        lambda labels, port: ".".join(labels) + (f":{port}" if port is not None else ""),
        st.lists(_LABELS, min_size=2, max_size=3),
        st.none() | st.integers(min_value=1, max_value=65535),
    ),
    st.builds(lambda label, port: f"{label}:{port}", _LABELS, st.integers(1, 65535)),
)
_TAGS = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_DIGESTS = st.one_of(
    st.builds(lambda value: f"sha256:{value}", st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
    st.from_regex(r"[a-z0-9]{1,6}(?:[+._-][a-z0-9]{1,6})?:[a-zA-Z0-9=_-]{1,20}", fullmatch=True),
)


@st.composite
def _references(draw: st.DrawFn) -> str:
    host = draw(st.none() | _HOSTS)
    path = "/".join(draw(st.lists(_COMPONENTS, min_size=1, max_size=4)))
    tag = draw(st.none() | _TAGS)
    digest = draw(st.none() | _DIGESTS)
    text = f"{host}/{path}" if host is not None else path
    if tag is not None:
        text += f":{tag}"
    if digest is not None:
        text += f"@{digest}"
    return text


@given(_references())
def test_str_of_a_parsed_reference_is_a_fixed_point(text: str) -> None:
    ref = parse_reference(text)
    normal = str(ref)
    assert parse_reference(normal) == ref
    assert str(parse_reference(normal)) == normal
    assert ref.name.registry == ref.name.registry.lower()
    if ref.name.registry == DOCKER_HUB:
        assert "/" in ref.name.repository


@given(_references())
def test_parse_reference_keeps_tag_and_digest(text: str) -> None:
    remainder, at, digest = text.partition("@")
    ref = parse_reference(text)
    assert ref.digest == (digest if at else None)
    if ref.tag is not None:
        assert remainder.endswith(f":{ref.tag}")
