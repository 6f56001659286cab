"""Run a real Docker Distribution registry (Debian's ``docker-registry``) for tests.

Stdlib only (``subprocess``, ``urllib.request``): nothing here needs an event loop. Call the
blocking methods from async tests with ``asyncio.to_thread``.

    with running_registry(tmp_path, notify_url=url, notify_token="t") as reg:
        digest = build_image(layout, tag="v1")
        reg.push(layout, "v1", "team/app")
        assert reg.manifest_digest("team/app", "v1") == digest

``put_blob`` and ``put_manifest`` push through the HTTP API what skopeo cannot (cosign's
signatures, OCI 1.1 referrers); ``overwrite_blob`` makes the registry serve other bytes under a
digest, as a tampered store would.

``htpasswd=(user, password)`` makes the registry demand HTTP Basic credentials (the harness's
own requests and pushes then send them; writing the bcrypt hash needs the ``bcrypt`` package).
``tls=(certificate, key)`` serves HTTPS; the harness trusts ``certificate``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.support.components import free_port, require_binary
from tests.support.polling import NotSeen, until_sync

START_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
PUSH_TIMEOUT = 120.0
HTTP_TIMEOUT = 10.0

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

# Never send loopback requests through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RegistryError(RuntimeError):
    """The registry (or skopeo) did not do what was asked; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Registry:
    """A ``docker-registry serve`` process on ``127.0.0.1:<free port>``.

    Storage is a filesystem root under ``workdir`` (a fresh temp dir when None, removed on
    ``stop()``), deletes are enabled. With ``notify_url`` the registry posts its events there
    (``Authorization: Bearer <notify_token>`` when a token is given).
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        notify_url: str | None = None,
        notify_token: str | None = None,
        notify_ignored_media_types: Sequence[str] = (),
        binary: str | None = None,
        htpasswd: tuple[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="registry-")) if workdir is None else workdir
        self.notify_url = notify_url
        self.notify_token = notify_token
        self.notify_ignored_media_types = list(notify_ignored_media_types)
        self._binary = binary
        self.htpasswd = htpasswd
        self.tls = tls
        self._opener = _OPENER if tls is None else _trusting_opener(tls[0])
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as used in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{self.host}"

    @property
    def htpasswd_path(self) -> Path:
        return self.workdir / "htpasswd"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def config(self) -> dict[str, Any]:
        """The registry configuration (also written to ``workdir/config.yml``)."""
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "storage")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": "regdeploy-tests",
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
        }
        if self.notify_url is not None:
            endpoint: dict[str, Any] = {
                "name": "regdeploy",
                "url": self.notify_url,
                "timeout": "1s",
                "threshold": 5,
                "backoff": "1s",
            }
            if self.notify_token is not None:
                endpoint["headers"] = {"Authorization": [f"Bearer {self.notify_token}"]}
            if self.notify_ignored_media_types:
                endpoint["ignoredmediatypes"] = self.notify_ignored_media_types
            cfg["notifications"] = {"endpoints": [endpoint]}
        if self.htpasswd is not None:
            cfg["auth"] = {"htpasswd": {"realm": "test", "path": str(self.htpasswd_path)}}
        if self.tls is not None:
            certificate, key = self.tls
            cfg["http"]["tls"] = {"certificate": str(certificate), "key": str(key)}
        return cfg

    def _write_htpasswd(self) -> None:
        if self.htpasswd is None:
            return
        import bcrypt  # only needed here; Distribution accepts bcrypt hashes only

        user, password = self.htpasswd
        # Cost 4 (the minimum): the registry checks the hash on every request.
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        self.htpasswd_path.write_text(f"{user}:{hashed}\n")

    def _auth_headers(self) -> dict[str, str]:
        if self.htpasswd is None:
            return {}
        pair = base64.b64encode(":".join(self.htpasswd).encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    def start(self) -> Registry:
        """Start the registry and wait until ``GET /v2/`` answers 200 (at most 20 s)."""
        if self._proc is not None:
            raise RegistryError("registry already started")
        binary = self._binary or require_binary("docker-registry")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_htpasswd()
        # A port from free_port() can be taken before the registry binds it: retry then.
        for attempt in range(3):
            self.port = free_port()
            config_path = self.workdir / "config.yml"
            # JSON is YAML: no YAML writer needed.
            config_path.write_text(json.dumps(self.config(), indent=2))
            self._log = self.log_path.open("wb")
            self._proc = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            try:
                self._wait_ready()
                return self
            except RegistryError:
                log = self.read_log()
                self._terminate()
                if attempt < 2 and "address already in use" in log:
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self) -> None:
        last_error = "no answer"

        def answered() -> bool:
            nonlocal last_error
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RegistryError(
                    f"docker-registry exited with {self._proc.returncode}:\n{self.read_log()}"
                )
            req = urllib.request.Request(f"{self.url}/v2/", headers=self._auth_headers())
            try:
                with self._opener.open(req, timeout=1) as resp:
                    if resp.status == 200:
                        return True
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                with exc:
                    last_error = f"HTTP {exc.code}"
            except OSError as exc:
                last_error = repr(exc)
            return False

        try:
            until_sync(
                "docker-registry answers GET /v2/ with 200",
                answered,
                seconds=START_TIMEOUT,
                interval=POLL_INTERVAL,
                explain=lambda: f"{last_error}; its log:\n{self.read_log()}",
            )
        except NotSeen as not_seen:  # start() stops it then, and tries again if the port was taken
            raise RegistryError(str(not_seen)) from None

    def read_log(self) -> str:
        """The registry's stdout+stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _terminate(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Terminate the registry, wait for it, and remove an owned temp dir."""
        self._terminate()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- operations --------------------------------------------------------------------

    def push(
        self,
        layout_dir: Path,
        tag: str,
        repository: str,
        dest_tag: str | None = None,
    ) -> None:
        """Copy ``oci:LAYOUT:TAG`` to ``HOST/REPOSITORY:DEST_TAG`` (default: ``tag``) with skopeo.

        Digests are preserved; for an index, skopeo pushes every child manifest by digest,
        then the index by tag.
        """
        skopeo = require_binary("skopeo")
        src = f"oci:{layout_dir}:{tag}"
        dest = f"docker://{self.host}/{repository}:{dest_tag or tag}"
        creds = [] if self.htpasswd is None else ["--dest-creds", ":".join(self.htpasswd)]
        try:
            proc = subprocess.run(
                [
                    skopeo,
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    "--all",
                    "--preserve-digests",
                    "--dest-tls-verify=false",
                    *creds,
                    src,
                    dest,
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=PUSH_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RegistryError(f"skopeo copy {src} {dest} timed out: {exc.stderr!r}") from exc
        if proc.returncode != 0:
            raise RegistryError(
                f"skopeo copy {src} {dest} failed ({proc.returncode}):\n{proc.stderr}"
            )

    def _request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """``path`` on the registry (or a whole URL it gave, such as an upload's location)."""
        headers = {**self._auth_headers(), **(headers or {})}
        url = urllib.parse.urljoin(f"{self.url}/", path)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=HTTP_TIMEOUT) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers.items()), exc.read()

    def manifest_digest(self, repository: str, tag: str) -> str:
        """``Docker-Content-Digest`` of ``HEAD /v2/REPO/manifests/TAG`` (any manifest type).

        Raises ``RegistryError`` (with ``status``, e.g. 404) when there is no such manifest.
        """
        status, headers, _ = self._request(
            "HEAD", f"/v2/{repository}/manifests/{tag}", {"Accept": MANIFEST_ACCEPT}
        )
        if status != 200:
            raise RegistryError(f"HEAD {repository}:{tag} -> HTTP {status}", status)
        digest = headers.get("Docker-Content-Digest")
        if not digest:
            raise RegistryError(f"HEAD {repository}:{tag}: no Docker-Content-Digest", status)
        return digest

    def manifest(self, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
        """``GET /v2/REPO/manifests/REF`` -> (media type, parsed manifest)."""
        status, headers, body = self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT}
        )
        if status != 200:
            raise RegistryError(f"GET {repository}:{reference} -> HTTP {status}", status)
        parsed: dict[str, Any] = json.loads(body)
        return headers.get("Content-Type", ""), parsed

    def raw_manifest(self, repository: str, reference: str) -> tuple[str, bytes]:
        """``GET /v2/REPO/manifests/REF`` -> (media type, the bytes as served)."""
        status, headers, body = self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", {"Accept": MANIFEST_ACCEPT}
        )
        if status != 200:
            raise RegistryError(f"GET {repository}:{reference} -> HTTP {status}", status)
        return headers.get("Content-Type", ""), body

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` as a blob (``POST`` an upload, ``PUT`` it whole); its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self._request("POST", f"/v2/{repository}/blobs/uploads/")
        if status != 202 or "Location" not in headers:
            raise RegistryError(f"POST upload to {repository} -> HTTP {status}: {body!r}", status)
        location = headers["Location"]
        joiner = "&" if "?" in location else "?"
        status, _, body = self._request(
            "PUT",
            f"{location}{joiner}digest={digest}",
            {"Content-Type": "application/octet-stream"},
            data,
        )
        if status != 201:
            raise RegistryError(f"PUT blob {digest} -> HTTP {status}: {body!r}", status)
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """``PUT /v2/REPO/manifests/REF`` (a tag or the digest of ``body``); its digest."""
        status, _, answer = self._request(
            "PUT", f"/v2/{repository}/manifests/{reference}", {"Content-Type": media_type}, body
        )
        if status != 201:
            raise RegistryError(
                f"PUT {repository}:{reference} -> HTTP {status}: {answer!r}", status
            )
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def stored_blob(self, digest: str) -> Path:
        """The file the registry keeps blob (or manifest) ``digest`` in."""
        algorithm, _, value = digest.partition(":")
        root = self.workdir / "storage" / "docker" / "registry" / "v2" / "blobs"
        return root / algorithm / value[:2] / value / "data"

    def overwrite_blob(self, digest: str, data: bytes) -> None:
        """Store ``data`` as the content of blob (or manifest) ``digest``: the registry serves
        it from then on, though it no longer hashes to the digest."""
        self.stored_blob(digest).write_bytes(data)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """``DELETE /v2/REPO/manifests/DIGEST`` (expects 202); untags every tag on it."""
        status, _, body = self._request("DELETE", f"/v2/{repository}/manifests/{digest}")
        if status != 202:
            raise RegistryError(
                f"DELETE {repository}@{digest} -> HTTP {status}: {body.decode(errors='replace')}",
                status,
            )

    def tags(self, repository: str) -> list[str]:
        """Tags of ``repository`` (``[]`` when it has none or does not exist)."""
        status, _, body = self._request("GET", f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        if status != 200:
            raise RegistryError(f"GET tags of {repository} -> HTTP {status}", status)
        tags: list[str] = json.loads(body).get("tags") or []
        return tags


def _trusting_opener(certificate: Path) -> urllib.request.OpenerDirector:
    """An opener without proxies that trusts ``certificate`` (and nothing else) for HTTPS."""
    context = ssl.create_default_context(cafile=str(certificate))
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )


@contextlib.contextmanager
def running_registry(tmp: Path, **kw: Any) -> Iterator[Registry]:
    """Run a ``Registry`` with its files under ``tmp`` (kwargs go to ``Registry``)."""
    registry = Registry(tmp, **kw)
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()
