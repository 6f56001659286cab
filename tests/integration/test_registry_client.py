"""RegistryClient against a real docker-registry (plain, htpasswd, TLS) and local fakes.

The token flow (``Bearer`` challenges) is not something Debian's registry can be set up for
without a token server, so a small aiohttp fake plays both registry and token service. Nor has
Distribution 2.8 the OCI 1.1 referrers API: another fake answers it (and redirects blobs).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from receiver.errors import ConfigError, RegistryError, RegistryUnavailable
from receiver.registry.client import RegistryAuth, RegistryClient, parse_challenge
from receiver.registry.oci import OCI_INDEX, OCI_MANIFEST
from receiver.secret import Secret
from tests.support.components import free_port
from tests.support.oci import build_image, build_index
from tests.support.registry import Registry, running_registry

USER = "deployer"
PASSWORD = "pa55-w0rd-that-must-never-show"
WRONG_PASSWORD = "wr0ng-pa55-that-must-never-show"
TOKEN_PREFIX = "tok3n-that-must-never-show"
SECRETS = (PASSWORD, WRONG_PASSWORD, TOKEN_PREFIX)
MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def assert_no_secret(exc: BaseException) -> None:
    """Neither the error nor anything it was raised from shows a password or a token."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen)):
            for secret in SECRETS:
                assert secret not in text
        seen = seen.__cause__ or seen.__context__


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def plain(host: str, **kw: Any) -> dict[str, RegistryAuth]:
    return {host: RegistryAuth(insecure=True, **kw)}


# -- a real docker-registry ----------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    registry: Registry
    digests: dict[str, str]


@pytest.fixture(scope="module")
def pushed(registry_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    """One registry holding team/app:v1, team/app:v2 and the index team/multi:multi."""
    tmp = tmp_path_factory.mktemp("pushed")
    with running_registry(tmp / "registry") as reg:
        layout = tmp / "layout"
        digests = {
            "v1": build_image(layout, tag="v1", env={"BUILD": "1"}),
            "v2": build_image(layout, tag="v2", env={"BUILD": "2"}),
            "multi": build_index(layout, tag="multi", env={"BUILD": "3"}),
        }
        reg.push(layout, "v1", "team/app")
        reg.push(layout, "v2", "team/app")
        reg.push(layout, "multi", "team/multi")
        yield Pushed(registry=reg, digests=digests)


async def test_tags_lists_the_pushed_tags(pushed: Pushed, session: aiohttp.ClientSession) -> None:
    host = pushed.registry.host
    client = RegistryClient(session, auth=plain(host))
    assert sorted(await client.tags(host, "team/app")) == ["v1", "v2"]
    assert await client.tags(host, "team/multi") == ["multi"]


async def test_digest_is_the_pushed_manifest_digest(
    pushed: Pushed, session: aiohttp.ClientSession
) -> None:
    host = pushed.registry.host
    client = RegistryClient(session, auth=plain(host))
    assert await client.digest(host, "team/app", "v1") == pushed.digests["v1"]
    assert await client.digest(host, "team/app", "v2") == pushed.digests["v2"]
    # An OCI index is asked for as an index, not converted to one of its children.
    assert await client.digest(host, "team/multi", "multi") == pushed.digests["multi"]
    assert pushed.registry.manifest_digest("team/app", "v1") == pushed.digests["v1"]


async def test_unknown_repository_and_tag(pushed: Pushed, session: aiohttp.ClientSession) -> None:
    host = pushed.registry.host
    client = RegistryClient(session, auth=plain(host))
    assert await client.tags(host, "team/never-pushed") == []
    assert await client.digest(host, "team/app", "no-such-tag") is None
    assert await client.digest(host, "team/never-pushed", "v1") is None


async def test_names_are_checked_before_any_request(session: aiohttp.ClientSession) -> None:
    client = RegistryClient(session)
    with pytest.raises(RegistryError, match="invalid repository"):
        await client.tags("127.0.0.1:1", "team/../v2/other")
    with pytest.raises(RegistryError, match="invalid registry host"):
        await client.tags("evil.example/path?", "team/app")
    with pytest.raises(RegistryError, match="invalid tag"):
        await client.digest("127.0.0.1:1", "team/app", "v1/../../x")


@pytest.fixture
def htpasswd_registry(registry_tools: None, tmp_path: Path) -> Iterator[Registry]:
    with running_registry(tmp_path / "registry", htpasswd=(USER, PASSWORD)) as reg:
        layout = tmp_path / "layout"
        build_image(layout, tag="v1")
        reg.push(layout, "v1", "team/app")
        yield reg


async def test_htpasswd_registry_with_the_right_credentials(
    htpasswd_registry: Registry, session: aiohttp.ClientSession
) -> None:
    host = htpasswd_registry.host
    client = RegistryClient(session, auth=plain(host, username=USER, password=Secret(PASSWORD)))
    assert await client.tags(host, "team/app") == ["v1"]
    assert await client.digest(host, "team/app", "v1") == htpasswd_registry.manifest_digest(
        "team/app", "v1"
    )
    assert await client.tags(host, "team/never-pushed") == []


@pytest.mark.parametrize(
    "credentials",
    [{}, {"username": USER, "password": Secret(WRONG_PASSWORD)}],
    ids=["none", "wrong-password"],
)
async def test_htpasswd_registry_denies_missing_or_wrong_credentials(
    htpasswd_registry: Registry, session: aiohttp.ClientSession, credentials: dict[str, Any]
) -> None:
    host = htpasswd_registry.host
    client = RegistryClient(session, auth=plain(host, **credentials))
    with pytest.raises(RegistryError, match="denied") as err:
        await client.tags(host, "team/app")
    assert not isinstance(err.value, RegistryUnavailable)
    assert_no_secret(err.value)
    with pytest.raises(RegistryError, match="denied") as err:
        await client.digest(host, "team/app", "v1")
    assert_no_secret(err.value)


# -- TLS -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("registry_tools")
async def test_self_signed_registry_is_refused_by_default_and_trusted_with_ca_file(
    self_signed: tuple[Path, Path], tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    cert, _ = self_signed
    with running_registry(tmp_path / "registry", tls=self_signed) as reg:
        layout = tmp_path / "layout"
        digest = build_image(layout, tag="v1")
        await asyncio.to_thread(reg.push, layout, "v1", "team/app")

        with pytest.raises(RegistryError, match="certificate verify failed") as err:
            await RegistryClient(session).tags(reg.host, "team/app")
        assert not isinstance(err.value, RegistryUnavailable)  # retrying will not help

        client = RegistryClient(session, auth={reg.host: RegistryAuth(ca_file=cert)})
        assert await client.tags(reg.host, "team/app") == ["v1"]
        assert await client.digest(reg.host, "team/app", "v1") == digest


async def test_unreadable_ca_file_is_a_config_error(session: aiohttp.ClientSession) -> None:
    missing = Path("/nonexistent/ca.pem")
    with pytest.raises(
        ConfigError, match=r"ca_file of reg\.example:5000: cannot load /nonexistent/ca\.pem"
    ):
        RegistryClient(session, auth={"reg.example:5000": RegistryAuth(ca_file=missing)})


# -- unreachable ---------------------------------------------------------------------------


@pytest.mark.parametrize("insecure", [True, False], ids=["http", "https"])
async def test_closed_port_is_unavailable(session: aiohttp.ClientSession, insecure: bool) -> None:
    host = f"127.0.0.1:{free_port()}"
    client = RegistryClient(session, auth={host: RegistryAuth(insecure=insecure)})
    with pytest.raises(RegistryUnavailable) as refused:
        await client.tags(host, "team/app")
    assert str(refused.value) == (
        f"registry {host} unreachable: cannot connect to {host}: Connection refused"
    )  # in words, without the repr of a TLS context
    with pytest.raises(RegistryUnavailable):
        await client.digest(host, "team/app", "v1")


# -- a fake registry with a token service ---------------------------------------------------


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TokenRegistry:
    """Registry and token service in one app; tokens need ``USER``/``PASSWORD``."""

    token_calls: int = 0
    challenges: int = 0
    issued: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/token", self.token)
        app.router.add_get("/v2/{repo:.+}/tags/list", self.tags)
        app.router.add_get("/v2/{repo:.+}/manifests/{ref}", self.manifest)
        return app

    async def token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"details": "bad credentials"}, status=401)
        if request.query.get("service") != "fake":
            return web.json_response({"details": "unknown service"}, status=400)
        self.token_calls += 1
        token = f"{TOKEN_PREFIX}-{self.token_calls}"
        self.issued.add(token)
        return web.json_response({"token": token, "expires_in": 2})

    def refuse(self, request: web.Request) -> web.Response | None:
        """A 401 challenge unless the request carries an issued token."""
        authorization = request.headers.get("Authorization", "")
        if authorization.removeprefix("Bearer ") in self.issued:
            return None
        self.challenges += 1
        scope = f"repository:{request.match_info['repo']}:pull"
        realm = f"http://{request.host}/token"
        challenge = f'Bearer realm="{realm}",service="fake",scope="{scope}"'
        return web.Response(status=401, headers={"WWW-Authenticate": challenge})

    async def tags(self, request: web.Request) -> web.Response:
        if (refused := self.refuse(request)) is not None:
            return refused
        repo = request.match_info["repo"]
        if repo == "team/elsewhere":
            link = '<http://127.0.0.2:1/v2/team/elsewhere/tags/list?last=a>; rel="next"'
            return web.json_response({"name": repo, "tags": ["a"]}, headers={"Link": link})
        if request.query.get("last") == "b":
            return web.json_response({"name": repo, "tags": ["c"]})
        link = f'</v2/{repo}/tags/list?last=b&n=2>; rel="next"'
        return web.json_response({"name": repo, "tags": ["a", "b"]}, headers={"Link": link})

    async def manifest(self, request: web.Request) -> web.Response:
        if (refused := self.refuse(request)) is not None:
            return refused
        ref = request.match_info["ref"]
        if ref == "broken":
            return web.Response(status=500, text="internal error")
        if ref == "busy":
            return web.Response(status=503, text="try later")
        if ref == "slow":
            await self.release.wait()
        if ref == "missing":
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404)
        headers = {} if ref == "bare" else {"Docker-Content-Digest": MANIFEST_DIGEST}
        return web.Response(body=MANIFEST, headers=headers, content_type="application/json")


@pytest.fixture
async def fake(aiohttp_server: Any) -> AsyncIterator[tuple[TokenRegistry, str]]:
    registry = TokenRegistry()
    server: TestServer = await aiohttp_server(registry.app())
    yield registry, f"127.0.0.1:{server.port}"
    registry.release.set()


def token_client(
    session: aiohttp.ClientSession, host: str, password: str | None = PASSWORD, **kw: Any
) -> RegistryClient:
    secret = None if password is None else Secret(password)
    auth = RegistryAuth(username=USER, password=secret, insecure=True)
    return RegistryClient(session, auth={host: auth}, **kw)


async def test_bearer_token_is_fetched_once_and_again_after_it_expires(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession
) -> None:
    registry, host = fake
    clock = FakeClock()
    client = token_client(session, host, clock=clock)

    assert await client.tags(host, "team/app") == ["a", "b", "c"]  # two pages
    assert await client.digest(host, "team/app", "v1") == MANIFEST_DIGEST
    assert registry.token_calls == 1
    assert registry.challenges == 1  # the cached token was sent up front the second time

    clock.now += 1.0  # still valid (2 s, renewed a little early)
    assert await client.digest(host, "team/app", "v1") == MANIFEST_DIGEST
    assert registry.token_calls == 1

    clock.now += 2.0
    assert await client.digest(host, "team/app", "v1") == MANIFEST_DIGEST
    assert registry.token_calls == 2
    assert registry.challenges == 2


async def test_revoked_token_is_replaced(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession
) -> None:
    registry, host = fake
    client = token_client(session, host, clock=FakeClock())
    assert await client.digest(host, "team/app", "v1") == MANIFEST_DIGEST
    registry.issued.clear()
    assert await client.digest(host, "team/app", "v1") == MANIFEST_DIGEST
    assert registry.token_calls == 2


async def test_digest_without_header_is_the_sha256_of_the_manifest(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession
) -> None:
    _, host = fake
    client = token_client(session, host)
    assert await client.digest(host, "team/app", "bare") == MANIFEST_DIGEST
    assert await client.digest(host, "team/app", "missing") is None


@pytest.mark.parametrize("password", [WRONG_PASSWORD, None], ids=["wrong-password", "anonymous"])
async def test_token_service_denial_shows_no_secret(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession, password: str | None
) -> None:
    registry, host = fake
    client = token_client(session, host, password=password)
    with pytest.raises(RegistryError, match="denied") as err:
        await client.tags(host, "team/app")
    assert err.value.status == 401
    assert registry.token_calls == 0
    assert_no_secret(err.value)


async def test_errors_after_authentication_show_no_secret(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession
) -> None:
    _, host = fake
    client = token_client(session, host)
    with pytest.raises(RegistryError, match="HTTP 500") as err:
        await client.digest(host, "team/app", "broken")
    assert err.value.status == 500
    assert not isinstance(err.value, RegistryUnavailable)
    assert_no_secret(err.value)
    with pytest.raises(RegistryUnavailable, match="HTTP 503") as busy:
        await client.digest(host, "team/app", "busy")
    assert_no_secret(busy.value)


async def test_next_page_on_another_host_is_refused(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession
) -> None:
    _, host = fake
    client = token_client(session, host)
    with pytest.raises(RegistryError, match="another host"):
        await client.tags(host, "team/elsewhere")


async def test_timeout_is_unavailable(
    fake: tuple[TokenRegistry, str], session: aiohttp.ClientSession
) -> None:
    _, host = fake
    client = token_client(session, host, default_timeout=0.3)
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await client.digest(host, "team/app", "slow")


# -- challenge parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="test"', ("basic", {"realm": "test"})),
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/ubuntu:pull"',
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/ubuntu:pull",
                },
            ),
        ),
        (
            'bearer Realm="a\\"b, c" , error=insufficient_scope',
            ("bearer", {"realm": 'a"b, c', "error": "insufficient_scope"}),
        ),
        ("Basic", ("basic", {})),
        ("", ("", {})),
    ],
)
def test_parse_challenge(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_challenge(header) == expected


# -- manifests, blobs and referrers (what signatures are read with) ------------------------


async def test_manifest_is_served_with_its_digest_and_media_type(
    pushed: Pushed, session: aiohttp.ClientSession
) -> None:
    host = pushed.registry.host
    client = RegistryClient(session, auth=plain(host))
    by_tag = await client.manifest(host, "team/app", "v1")
    assert by_tag is not None
    assert (by_tag.digest, by_tag.media_type) == (pushed.digests["v1"], OCI_MANIFEST)
    assert await client.manifest(host, "team/app", pushed.digests["v1"]) == by_tag
    index = await client.manifest(host, "team/multi", pushed.digests["multi"])
    assert index is not None and index.media_type == OCI_INDEX
    assert await client.manifest(host, "team/app", "no-such-tag") is None
    assert await client.manifest(host, "team/app", "sha256:" + "0" * 64) is None


async def test_blob_is_served_hashed_and_capped(
    pushed: Pushed, session: aiohttp.ClientSession
) -> None:
    host = pushed.registry.host
    client = RegistryClient(session, auth=plain(host))
    manifest = await client.manifest(host, "team/app", "v1")
    assert manifest is not None
    described = json.loads(manifest.body)
    config, layer = described["config"], described["layers"][0]
    data = await client.blob(host, "team/app", config["digest"], max_bytes=config["size"])
    assert "sha256:" + hashlib.sha256(data).hexdigest() == config["digest"]
    with pytest.raises(RegistryError, match=f"larger than {layer['size'] - 1} bytes") as big:
        await client.blob(host, "team/app", layer["digest"], max_bytes=layer["size"] - 1)
    assert not isinstance(big.value, RegistryUnavailable)
    with pytest.raises(RegistryError, match="HTTP 404") as missing:
        await client.blob(host, "team/app", "sha256:" + "0" * 64, max_bytes=1024)
    assert missing.value.status == 404


async def test_what_no_longer_hashes_to_its_digest_is_refused(
    pushed: Pushed, session: aiohttp.ClientSession
) -> None:
    """The registry's store changed under a blob and a manifest: neither is returned."""
    reg, host = pushed.registry, pushed.registry.host
    blob = await asyncio.to_thread(reg.put_blob, "team/tampered", b'{"signed": "sha256:aaaa"}')
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "size": 25, "digest": blob}}).encode()  # fmt: skip
    manifest = await asyncio.to_thread(reg.put_manifest, "team/tampered", "v1", body, OCI_MANIFEST)
    reg.overwrite_blob(blob, b'{"signed": "sha256:bbbb"}')
    reg.overwrite_blob(manifest, body.replace(b'"layers"', b'"Layers"'))
    client = RegistryClient(session, auth=plain(host))
    with pytest.raises(RegistryError, match="served bytes that hash to sha256:") as wrong:
        await client.blob(host, "team/tampered", blob, max_bytes=1024)
    assert not isinstance(wrong.value, RegistryUnavailable)
    with pytest.raises(RegistryError, match="served bytes that hash to sha256:"):
        await client.manifest(host, "team/tampered", manifest)
    by_tag = await client.manifest(host, "team/tampered", "v1")  # by tag: whatever it serves
    assert by_tag is not None and by_tag.digest != manifest


async def test_distribution_2_8_has_no_referrers_api(
    pushed: Pushed, session: aiohttp.ClientSession
) -> None:
    host = pushed.registry.host
    client = RegistryClient(session, auth=plain(host))
    assert await client.referrers(host, "team/app", pushed.digests["v1"]) is None


DESCRIPTOR = {"mediaType": OCI_MANIFEST, "digest": MANIFEST_DIGEST, "size": len(MANIFEST),
              "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}  # fmt: skip
BLOB = b'{"a blob": true}'
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


class OciFake:
    """Referrers answers by repository, blobs behind a redirect (and a liar), one manifest."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/{repo:.+}/referrers/{digest}", self.referrers)
        app.router.add_get("/v2/{repo:.+}/blobs/{digest}", self.blob)
        app.router.add_get("/storage/{digest}", self.storage)
        app.router.add_get("/v2/{repo:.+}/manifests/{ref}", self.manifest)
        return app

    async def referrers(self, request: web.Request) -> web.StreamResponse:
        repo = request.match_info["repo"]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [DESCRIPTOR]}
        if repo == "team/paged" and "last" not in request.query:
            link = f'</v2/{repo}/referrers/{request.match_info["digest"]}?last=1>; rel="next"'
            return web.json_response(index, headers={"Link": link})
        answers: dict[str, web.StreamResponse] = {
            "team/paged": web.json_response({**index, "manifests": []}),
            "team/listed": web.json_response(index),
            "team/html": web.Response(text="<html>no</html>", content_type="text/html"),
            "team/other-json": web.json_response({"errors": []}),
            "team/busy": web.Response(status=503),
            "team/denied": web.Response(status=403),
        }
        return answers.get(repo) or web.Response(status=404)

    async def blob(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["repo"] == "team/liar":
            return web.Response(body=BLOB + b" ")
        raise web.HTTPTemporaryRedirect(f"/storage/{request.match_info['digest']}")

    async def storage(self, request: web.Request) -> web.Response:
        return web.Response(body=BLOB)

    async def manifest(self, request: web.Request) -> web.Response:
        return web.Response(body=MANIFEST, content_type=OCI_MANIFEST)


@pytest.fixture
async def oci_fake(aiohttp_server: Any) -> str:
    server: TestServer = await aiohttp_server(OciFake().app())
    return f"127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("team/listed", [DESCRIPTOR]),
        ("team/paged", [DESCRIPTOR]),
        ("team/none", None),
        ("team/html", None),
        ("team/other-json", None),
    ],
)
async def test_referrers_api_answers(
    oci_fake: str, session: aiohttp.ClientSession, repo: str, expected: list[Any] | None
) -> None:
    client = RegistryClient(session, auth=plain(oci_fake))
    assert await client.referrers(oci_fake, repo, MANIFEST_DIGEST) == expected


async def test_referrers_api_failures_are_errors(
    oci_fake: str, session: aiohttp.ClientSession
) -> None:
    client = RegistryClient(session, auth=plain(oci_fake))
    with pytest.raises(RegistryUnavailable, match="HTTP 503"):
        await client.referrers(oci_fake, "team/busy", MANIFEST_DIGEST)
    with pytest.raises(RegistryError, match="access denied") as denied:
        await client.referrers(oci_fake, "team/denied", MANIFEST_DIGEST)
    assert not isinstance(denied.value, RegistryUnavailable)


async def test_blob_follows_a_redirect_and_is_hashed(
    oci_fake: str, session: aiohttp.ClientSession
) -> None:
    client = RegistryClient(session, auth=plain(oci_fake))
    assert await client.blob(oci_fake, "team/app", BLOB_DIGEST, max_bytes=1024) == BLOB
    with pytest.raises(RegistryError, match="served bytes that hash to sha256:"):
        await client.blob(oci_fake, "team/liar", BLOB_DIGEST, max_bytes=1024)
    with pytest.raises(RegistryError, match="served bytes that hash to"):
        await client.manifest(oci_fake, "team/app", BLOB_DIGEST)  # serves MANIFEST
    found = await client.manifest(oci_fake, "team/app", MANIFEST_DIGEST)
    assert found is not None and found.media_type == OCI_MANIFEST


async def test_closed_port_is_unavailable_for_signature_reads(
    session: aiohttp.ClientSession,
) -> None:
    host = f"127.0.0.1:{free_port()}"
    client = RegistryClient(session, auth=plain(host))
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await client.manifest(host, "team/app", "sha256-" + "0" * 64 + ".sig")
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await client.blob(host, "team/app", MANIFEST_DIGEST, max_bytes=10)
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await client.referrers(host, "team/app", MANIFEST_DIGEST)
