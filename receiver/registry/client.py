"""Ask container registries (Docker Registry HTTP API v2) for tags, manifest digests and the
manifests, blobs and referrers (OCI 1.1) that signatures are read from.

Registries are named by host (``reg.example.com:5000``); insecure ones are reached over http,
all others over https verified against ``ca_file`` or the system store. A registry on the loopback
interface (``localhost``, ``127.0.0.0/8``, ``::1``) that is not configured is asked over https
first and, when it answers in plain http, over http, as the Docker engine does: nothing between
the two can read or change what passes. A certificate that does not verify is never passed over.

What a registry serves by digest is hashed again before it is used: the registry is not trusted
with the bytes of a signature any more than with a tag.

A 401 challenge is answered once: Basic with the configured credentials, Bearer with a token from
the realm (cached per registry and scope until just before it expires). No message shows a
secret.

Errors (defined in ``receiver.errors``)::

    RegistryError              the registry refused or failed a request (``status`` if HTTP),
                               or served bytes that do not hash to the digest they were asked by
    └── RegistryUnavailable    unreachable, timed out, or 429/502/503/504: retry later
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import aiohttp
from multidict import CIMultiDictProxy, MultiDictProxy
from yarl import URL

from handlers.events import MANIFEST_TYPES
from handlers.references import is_digest, is_loopback, is_registry, is_repository, is_tag
from receiver.errors import ConfigError, RegistryError, RegistryUnavailable
from receiver.registry.answers import json_object, read_capped, unreachable_words
from receiver.registry.oci import OCI_INDEX, hashed, index_entries
from receiver.secret import Secret

PAGE_SIZE: Final = 1000
MAX_PAGES: Final = 100
MAX_BODY_BYTES: Final = 4 * 1024 * 1024  # Distribution's own limit for a manifest
TOKEN_LIFETIME: Final = 60.0  # seconds, when the token answer has no expires_in (token spec)
TOKEN_MARGIN: Final = 5.0  # renew this early, or a tenth of the lifetime if that is shorter
API_HOSTS: Final = {"docker.io": "registry-1.docker.io"}  # where a registry's API really is
MANIFEST_ACCEPT: Final = ", ".join(MANIFEST_TYPES)  # every image manifest and index type

_NO_AUTH: Final[Mapping[str, RegistryAuth]] = MappingProxyType({})
_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)')


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryAuth:
    username: str | None = None
    password: Secret | None = None
    insecure: bool = False  # plain http, no TLS
    ca_file: Path | None = None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",scope="…"`` -> ("bearer", {"realm": …, "scope": …}): names lowercase."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        quoted, bare = match[2], match[3]
        params[match[1].lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return scheme.lower(), params


@dataclass(frozen=True, slots=True, kw_only=True)
class OciObject:
    """A manifest as the registry served it: ``digest`` is that of ``body``, hashed here."""

    media_type: str
    digest: str
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class _RegistryAnswer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    links: MultiDictProxy[MultiDictProxy[str | URL]]  # Link headers by rel


class RegistryClient:
    """Tags and digests from any number of registries over one shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        auth: Mapping[str, RegistryAuth] = _NO_AUTH,
        default_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._auth = {host.lower(): entry for host, entry in auth.items()}
        self._timeout = aiohttp.ClientTimeout(total=default_timeout)
        self._clock = clock
        self._insecure = {host for host, entry in self._auth.items() if entry.insecure}
        self._plain_http: set[str] = set()  # loopback registries found to speak plain http
        self._verified = ssl.create_default_context()
        self._tls = {host: _tls(host, entry, self._verified) for host, entry in self._auth.items()}
        self._tokens: dict[tuple[str, str], tuple[Secret, float]] = {}  # -> (token, expiry)
        self._basic: set[str] = set()  # registries that asked for Basic credentials

    async def tags(self, registry: str, repository: str) -> list[str]:
        """Every tag of ``repository``, following pagination; ``[]`` if it does not exist."""
        registry = _checked(registry, repository)
        url = self._url(registry, f"/v2/{repository}/tags/list").with_query(n=PAGE_SIZE)
        tags: list[str] = []
        for _ in range(MAX_PAGES):
            answer = await self._send("GET", registry, url, repository)
            if answer.status == 404:
                return []
            what = f"registry {registry}: tags of {repository}"
            _expect_ok(answer, what)
            page = json_object(answer.body, what).get("tags") or []
            if not isinstance(page, list) or not all(isinstance(tag, str) for tag in page):
                raise RegistryError(f"{what}: no list of strings")
            tags.extend(page)
            if (next_url := _next_page(answer, url, what)) is None:
                return tags
            url = next_url
        raise RegistryError(f"registry {registry}: tags of {repository} exceed {MAX_PAGES} pages")

    async def digest(self, registry: str, repository: str, tag: str) -> str | None:
        """The manifest digest ``tag`` points to (any manifest type); None if there is none."""
        registry = _checked(registry, repository)
        if not (is_tag(tag) or is_digest(tag)):
            raise RegistryError(f"invalid tag {tag!r}")
        url = self._url(registry, f"/v2/{repository}/manifests/{tag}")
        for method in ("HEAD", "GET"):  # GET only when HEAD names no digest
            answer = await self._send(method, registry, url, repository, MANIFEST_ACCEPT)
            if answer.status == 404:
                return None
            _expect_ok(answer, f"registry {registry}: manifest {repository}:{tag}")
            if digest := answer.headers.get("Docker-Content-Digest"):
                return digest
        return "sha256:" + hashlib.sha256(answer.body).hexdigest()

    async def manifest(self, registry: str, repository: str, reference: str) -> OciObject | None:
        """The manifest or index ``reference`` (a tag or a digest) names, any media type; None
        if there is none. Asked by digest, its bytes must hash to it (else RegistryError)."""
        registry = _checked(registry, repository)
        if not (is_tag(reference) or is_digest(reference)):
            raise RegistryError(f"invalid reference {reference!r}")
        url = self._url(registry, f"/v2/{repository}/manifests/{reference}")
        answer = await self._send("GET", registry, url, repository, MANIFEST_ACCEPT)
        if answer.status == 404:
            return None
        by_digest = is_digest(reference)
        what = f"registry {registry}: manifest {repository}{'@' if by_digest else ':'}{reference}"
        _expect_ok(answer, what)
        digest = hashed(answer.body, reference if by_digest else "sha256:", what)
        media_type = answer.headers.get("Content-Type", "").partition(";")[0].strip()
        return OciObject(media_type=media_type, digest=digest, body=answer.body)

    async def blob(self, registry: str, repository: str, digest: str, *, max_bytes: int) -> bytes:
        """The blob ``digest`` names (redirects followed), hashed against it; RegistryError if
        it is missing, larger than ``max_bytes`` or hashes to anything else."""
        registry = _checked(registry, repository)
        if not is_digest(digest):
            raise RegistryError(f"invalid digest {digest!r}")
        url = self._url(registry, f"/v2/{repository}/blobs/{digest}")
        answer = await self._send("GET", registry, url, repository, limit=max_bytes)
        what = f"registry {registry}: blob {repository}@{digest}"
        _expect_ok(answer, what)
        hashed(answer.body, digest, what)
        return answer.body

    async def referrers(
        self, registry: str, repository: str, digest: str
    ) -> list[dict[str, Any]] | None:
        """The descriptors of the manifests whose ``subject`` is ``digest`` (the OCI 1.1
        referrers API, every page); None when the registry has no such API (404, or an answer
        that is not an OCI index)."""
        registry = _checked(registry, repository)
        if not is_digest(digest):
            raise RegistryError(f"invalid digest {digest!r}")
        url = self._url(registry, f"/v2/{repository}/referrers/{digest}")
        what = f"registry {registry}: referrers of {repository}@{digest}"
        descriptors: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            answer = await self._send("GET", registry, url, repository, OCI_INDEX)
            if answer.status == 404:
                return None
            _expect_ok(answer, what)
            if (listed := index_entries(answer.body)) is None:
                return None  # not the referrers API: something else answers at that path
            descriptors.extend(listed)
            if (next_url := _next_page(answer, url, what)) is None:
                return descriptors
            url = next_url
        raise RegistryError(f"{what}: more than {MAX_PAGES} pages")

    async def unreachable(self, registry: str) -> str | None:
        """Why ``registry``'s API does not answer, or None when it does (``/v2/`` answers,
        200 or a 401 that asks for credentials)."""
        try:
            answer = await self._exchange("GET", registry, self._url(registry, "/v2/"), {})
        except RegistryError as exc:
            return str(exc)
        if answer.status in (200, 401):
            return None
        return f"registry {registry}: /v2/ answered {answer.status}"

    async def _send(
        self,
        method: str,
        registry: str,
        url: URL,
        repository: str,
        accept: str = "",
        *,
        limit: int = MAX_BODY_BYTES,
    ) -> _RegistryAnswer:
        """One request, answering a 401 challenge once (a 401 after that is the answer)."""
        scope = f"repository:{repository}:pull"
        headers = {"Accept": accept} if accept else {}
        token, expiry = self._tokens.get((registry, scope), (None, 0.0))
        if token is not None and expiry > self._clock():
            headers["Authorization"] = f"Bearer {token.reveal()}"
        elif registry in self._basic:
            headers.update(self._basic_authorization(registry))
        answer = await self._exchange(method, registry, url, headers, limit)
        if answer.status == 401:
            self._tokens.pop((registry, scope), None)  # refused, or expired: never reuse it
            headers.update(await self._answer_challenge(registry, answer, scope))
            answer = await self._exchange(method, registry, url, headers, limit)
        return answer

    def _basic_authorization(self, registry: str) -> dict[str, str]:
        entry = self._auth.get(registry)
        if entry is None or entry.username is None or entry.password is None:
            return {}
        pair = f"{entry.username}:{entry.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    async def _answer_challenge(
        self, registry: str, answer: _RegistryAnswer, scope: str
    ) -> dict[str, str]:
        for header in answer.headers.getall("WWW-Authenticate", []):
            scheme, params = parse_challenge(header)
            if scheme == "bearer":
                token = await self._bearer_token(registry, params, scope)
                return {"Authorization": f"Bearer {token.reveal()}"}
            if scheme == "basic":
                self._basic.add(registry)
                if authorization := self._basic_authorization(registry):
                    return authorization
                raise RegistryError(f"registry {registry} denied access: no credentials set")
        raise RegistryError(f"registry {registry} denied access: no Basic or Bearer challenge")

    async def _bearer_token(self, registry: str, params: Mapping[str, str], scope: str) -> Secret:
        """A cached or newly fetched token for the challenge's scope (ours if it names none)."""
        scope = params.get("scope", scope)
        cached, expiry = self._tokens.get((registry, scope), (None, 0.0))
        if cached is not None and expiry > self._clock():
            return cached
        realm = _realm(registry, params.get("realm", ""))
        authorization = self._basic_authorization(registry)
        if authorization and realm.scheme == "http" and not self._plain(registry):
            raise RegistryError(f"registry {registry}: refusing to send credentials over http")
        service = params.get("service")
        query = {"scope": scope, **({"service": service} if service else {})}
        started = self._clock()
        answer = await self._exchange("GET", registry, realm % query, authorization)
        what = f"token service of registry {registry}"
        _expect_ok(answer, what)
        token, lifetime = _parse_token(json_object(answer.body, what), what)
        expiry = started + lifetime - min(TOKEN_MARGIN, lifetime / 10)
        self._tokens[registry, scope] = (token, expiry)
        return token

    def _url(self, registry: str, path: str) -> URL:
        scheme = "http" if self._plain(registry) else "https"
        return URL.build(scheme=scheme, authority=API_HOSTS.get(registry, registry), path=path)

    def _plain(self, registry: str) -> bool:
        """Whether ``registry`` is reached over plain http."""
        return registry in self._insecure or registry in self._plain_http

    async def _exchange(
        self,
        method: str,
        host: str,
        url: URL,
        headers: dict[str, str],
        limit: int = MAX_BODY_BYTES,
    ) -> _RegistryAnswer:
        """Ask registry ``host``; a URL on another configured host (a realm) uses its TLS."""
        tls = self._tls.get(url.host_port_subcomponent or "", self._tls.get(host, self._verified))
        try:
            async with self._session.request(
                method, url, headers=headers, ssl=tls, timeout=self._timeout, raise_for_status=False
            ) as res:
                body = (
                    b""
                    if method == "HEAD"
                    else await read_capped(res, limit=limit, what=f"registry {host}")
                )
                return _RegistryAnswer(
                    status=res.status, headers=res.headers, body=body, links=res.links
                )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise RegistryError(f"registry {host}: TLS failed: {exc}") from exc
        except aiohttp.ClientSSLError as exc:
            authority = url.host_port_subcomponent or ""
            if url.scheme == "https" and authority not in self._auth and _loopback(authority):
                self._plain_http.add(authority)  # it speaks plain http: ask it so from now on
                return await self._exchange(method, host, url.with_scheme("http"), headers, limit)
            raise RegistryError(f"registry {host}: TLS failed: {exc}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise RegistryUnavailable(
                f"registry {host} unreachable: {unreachable_words(exc)}"
            ) from exc
        except aiohttp.ClientError as exc:
            # ClientResponseError carries the request headers: do not chain it.
            raise RegistryError(f"registry {host}: {type(exc).__name__}") from None


def _loopback(registry: str) -> bool:
    return is_loopback(URL.build(scheme="http", authority=registry).host or "")


def _tls(host: str, entry: RegistryAuth, verified: ssl.SSLContext) -> ssl.SSLContext | bool:
    if entry.insecure:
        return False  # reached over http; an https realm of it is not verified either
    if entry.ca_file is None:
        return verified
    try:
        return ssl.create_default_context(cafile=str(entry.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([f"ca_file of {host}: cannot load {entry.ca_file}: {exc}"]) from exc


def _realm(registry: str, text: str) -> URL:
    with contextlib.suppress(ValueError):
        if (realm := URL(text)).scheme in ("http", "https") and realm.host:
            return realm
    raise RegistryError(f"registry {registry}: Bearer challenge without a usable realm")


def _checked(registry: str, repository: str) -> str:
    registry = registry.lower()
    if not is_registry(registry):
        raise RegistryError(f"invalid registry host {registry!r}")
    if not is_repository(repository):
        raise RegistryError(f"invalid repository name {repository!r}")
    return registry


def _next_page(answer: _RegistryAnswer, url: URL, what: str) -> URL | None:
    """The URL of the page after ``answer`` (its ``Link: <…>; rel="next"``), on the same host."""
    link = answer.links.get("next")
    if link is None or not isinstance(next_url := link.get("url"), URL):
        return None
    if next_url.origin() != url.origin():
        raise RegistryError(f"{what}: the next page is on another host")
    return next_url


def _expect_ok(answer: _RegistryAnswer, what: str) -> None:
    if answer.status in (401, 403):
        raise RegistryError(f"{what}: access denied (HTTP {answer.status})", status=answer.status)
    if not 200 <= answer.status < 300:
        kind = RegistryUnavailable if answer.status in (429, 502, 503, 504) else RegistryError
        raise kind(f"{what}: HTTP {answer.status}", status=answer.status)


def _parse_token(data: dict[str, Any], what: str) -> tuple[Secret, float]:
    """(token, lifetime in seconds) from a token answer."""
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryError(f"{what}: answer has no token")
    lifetime = data.get("expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = TOKEN_LIFETIME
    return Secret(token), float(lifetime)
