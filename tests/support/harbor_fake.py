"""A fake of Harbor's API v2.0 (an artifact, its scan overview and its vulnerabilities) and of
the scan webhooks Harbor sends, for testing the scan check without a Harbor.

Serve it with ``TestServer(fake.app())`` (or pytest-aiohttp's ``aiohttp_server``)::

    fake = FakeHarbor()                          # one robot account: ROBOT / ROBOT_SECRET
    fake.push("team/app", digest)                # Harbor holds it, never scanned
    fake.scanning("team/app", digest)            # "Running" (or status="Pending"/"Scheduled")
    fake.scanned("team/app", digest, vulnerabilities(critical=2, high=5))
    fake.failed("team/app", digest); fake.stopped("team/app", digest)
    fake.down = 503                              # every answer 503 until set back to None
    fake.stalled = True                          # every request waits until its client leaves
    headers, body = fake.scan_webhook("team/app", digest, cloudevents=True, overview=False)

``fake.requests`` records every request (the raw path, the query, the account's name, the
``X-Accept-Vulnerabilities`` header, the status answered; never a password).

What it reproduces, with where in Harbor's source (goharbor/harbor) it comes from:

* ``GET /api/v2.0/projects/{p}/repositories/{r}/artifacts/{digest}``: the ``Artifact``
  (``api/v2.0/swagger.yaml``); ``scan_overview`` only with ``?with_scan_overview=true`` and
  once a report exists, keyed by its report type, when ``X-Accept-Vulnerabilities`` names that
  type (``server/v2.0/handler/assembler/report.go``). The summary is what
  ``GenerateNativeSummary`` writes (``pkg/scan/report/summary.go``) passed through the swagger
  model, which leaves out empty fields: before ``Success`` only the status and times.
* ``.../additions/vulnerabilities``: ``{report type: report}``, ``{}`` without a finished report
  (``GetVulnerabilitiesAddition``, ``server/v2.0/handler/artifact.go``).
* A missing ``X-Accept-Vulnerabilities`` is the swagger default (both types); one naming
  neither type means the native type alone (``parseScanReportMimeTypes``).
* Paths as Harbor's nginx, go-swagger's router and ``unescapePathParams`` read them: the proxy
  decodes the path once (``proxy_pass`` with a URI) and routes on ``/``; the router unescapes
  each parameter; Harbor unescapes the repository once more. So ``a%252Fb`` names ``a/b``,
  while ``a%2Fb`` has become ``a/b`` before routing and matches no route: 404 ``path … was not
  found`` (harbor#12224, #21639).
* Errors are ``{"errors": [{"code", "message"}]}`` (``lib/http/error.go``). Credentials that do
  not log in make the request anonymous (``server/middleware/security/basic_auth.go``,
  ``robot.go``): every project here is private, so 401 ``unauthorized``; an account without
  the project, or a project that does not exist, is 403 ``forbidden``
  (``BaseAPI.RequireProjectAccess``); an unknown artifact 404 ``artifact p/r@digest not found``
  (``pkg/artifact/dao``).
* Webhook bodies (``scan_webhook``) as ``constructScanImagePayload`` builds them
  (``controller/event/handler/webhook/scan/scan.go``) in the default format or as CloudEvents
  (``pkg/notifier/formats/cloudevents.go``), shaped like Harbor's documented examples
  (``tests/fixtures/harbor/*scanning_completed*``); the overview there is the summary itself,
  every field written.

Not reproduced: public projects, tags and labels beyond a list of names, image indexes, other
additions, pagination parameters, any write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web

Json = dict[str, Any]

ROBOT = "robot$regdeploy"
ROBOT_SECRET = "r0bot-s3cret-that-must-never-show"
GENERIC_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
NATIVE_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
REPORT_TYPES = (NATIVE_REPORT, GENERIC_REPORT)
SCANNER = {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.1"}
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
# Harbor's severities by their rank (pkg/scan/vuln/severity.go, ``Code``).
RANKS = {"None": 0, "Unknown": 0, "Negligible": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}
ENDS = {"Success": "completed", "Error": "failed", "Stopped": "stopped"}
DEFAULT_TYPES = {
    "completed": "SCANNING_COMPLETED",
    "failed": "SCANNING_FAILED",
    "stopped": "SCANNING_STOPPED",
}


@dataclass(frozen=True, kw_only=True)
class Vulnerability:
    """One finding of a report; ``severity`` in Harbor's words (``Critical`` … ``Unknown``)."""

    id: str
    severity: str
    package: str = "openssl"
    version: str = "3.0.0"
    fix_version: str = ""


def vulnerabilities(
    *,
    critical: int = 0,
    high: int = 0,
    medium: int = 0,
    low: int = 0,
    negligible: int = 0,
    unknown: int = 0,
    first: int = 1,
) -> list[Vulnerability]:
    """So many made-up findings of each severity, ids ``CVE-2099-0001`` on from ``first``."""
    counts = {"Critical": critical, "High": high, "Medium": medium, "Low": low}
    counts |= {"Negligible": negligible, "Unknown": unknown}
    words = [word for word, count in counts.items() for _ in range(count)]
    return [
        Vulnerability(id=f"CVE-2099-{first + n:04d}", severity=word) for n, word in enumerate(words)
    ]


@dataclass(frozen=True, kw_only=True)
class HarborRequest:
    """A request the fake received."""

    method: str
    raw_path: str  # as sent, without the query: ``…/repositories/team%252Fapp/…``
    query: Mapping[str, str]
    username: str | None  # of the Basic credentials, whether they logged in or not
    accept_vulnerabilities: str | None
    status: int


@dataclass(kw_only=True)
class _Held:
    """An artifact the fake holds, and its scan."""

    id: int
    project_id: int
    repository_id: int
    repository: str  # the full name: project/name
    digest: str
    tags: list[str]
    pushed_at: datetime
    scan_status: str | None = None  # None: never scanned
    found: tuple[Vulnerability, ...] = ()
    report_id: str = ""
    report_type: str = GENERIC_REPORT
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class _Route:
    project: str
    repository: str  # the full name
    reference: str
    vulnerabilities: bool


@dataclass
class FakeHarbor:
    """Harbor's artifacts and their scans, in memory; see the module docstring."""

    host: str = "harbor.test"  # in the webhooks' resource_url
    accounts: dict[str, tuple[str, frozenset[str] | None]] = field(
        default_factory=lambda: {ROBOT: (ROBOT_SECRET, None)}
    )
    down: int | None = None
    stalled: bool = False
    requests: list[HarborRequest] = field(default_factory=list)
    _held: dict[tuple[str, str], _Held] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)

    # -- what a test sets ------------------------------------------------------------------

    def grant(self, username: str, password: str, *, projects: Iterable[str] | None = None) -> None:
        """An account that logs in with ``password`` and reads ``projects`` (None: all)."""
        self.accounts[username] = (password, None if projects is None else frozenset(projects))

    def push(self, repository: str, digest: str, *, tags: Iterable[str] = ()) -> None:
        """Harbor holds ``repository@digest`` (``repository``: ``project/name``), not scanned."""
        project = repository.partition("/")[0]
        self._held[repository, digest] = _Held(
            id=self._next("artifact"),
            project_id=self._id_of("project", project),
            repository_id=self._id_of("repository", repository),
            repository=repository,
            digest=digest,
            tags=list(tags),
            pushed_at=_now(),
        )

    def scanning(self, repository: str, digest: str, *, status: str = "Running") -> None:
        """A scan of it is ``Pending``, ``Scheduled`` or ``Running``."""
        self._scan(repository, digest, status=status, found=())

    def scanned(
        self, repository: str, digest: str, found: Iterable[Vulnerability] = (), **options: str
    ) -> None:
        """Its scan succeeded and found ``found``; ``report_type=`` the type of the report."""
        self._scan(repository, digest, status="Success", found=tuple(found), **options)

    def failed(self, repository: str, digest: str) -> None:
        self._scan(repository, digest, status="Error", found=())

    def stopped(self, repository: str, digest: str) -> None:
        self._scan(repository, digest, status="Stopped", found=())

    def forget(self, repository: str, digest: str) -> None:
        self._held.pop((repository, digest), None)

    def _scan(
        self,
        repository: str,
        digest: str,
        *,
        status: str,
        found: tuple[Vulnerability, ...],
        report_type: str = GENERIC_REPORT,
    ) -> None:
        if (repository, digest) not in self._held:
            self.push(repository, digest)
        held = self._held[repository, digest]
        held.scan_status, held.found, held.report_type = status, found, report_type
        held.report_id = held.report_id or str(uuid.uuid4())
        held.started_at = _now()
        held.ended_at = held.started_at + timedelta(seconds=8) if status in ENDS else None

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _id_of(self, kind: str, name: str) -> int:
        key = f"{kind} {name}"
        if key not in self._ids:
            self._ids[key] = self._next(kind)
        return self._ids[key]

    # -- the API ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.Response:
        if self.stalled:
            await asyncio.get_running_loop().create_future()  # until the client goes away
        if self.down is not None:
            response = web.Response(
                status=self.down, text="<html><body>unavailable</body></html>\n"
            )
        else:
            response = self._answer(request)
        raw_path, _, raw_query = request.raw_path.partition("?")
        self.requests.append(
            HarborRequest(
                method=request.method,
                raw_path=raw_path,
                query=dict(parse_qsl(raw_query, keep_blank_values=True)),
                username=_basic_credentials(request)[0],
                accept_vulnerabilities=request.headers.get("X-Accept-Vulnerabilities"),
                status=response.status,
            )
        )
        return response

    def _answer(self, request: web.Request) -> web.Response:
        path = unquote(request.raw_path.partition("?")[0])  # the proxy decodes it once
        route = _route(path)
        if route is None:
            return _error(404, "NOT_FOUND", f"path {path} was not found")
        if request.method != "GET":
            return _error(405, "METHOD_NOT_ALLOWED", f"method {request.method} is not allowed")
        if (refusal := self._refusal(request, route.project)) is not None:
            return refusal
        held = self._held.get((route.repository, route.reference))
        if held is None:
            what = f"{route.repository}@{route.reference}"
            return _error(404, "NOT_FOUND", f"artifact {what} not found")
        accepted = _accepted(request.headers.get("X-Accept-Vulnerabilities"))
        if route.vulnerabilities:
            return web.json_response(_report_addition(held, accepted))
        with_overview = request.query.get("with_scan_overview", "false") in GO_TRUE
        return web.json_response(_artifact(held, accepted if with_overview else ()))

    def _refusal(self, request: web.Request, project: str) -> web.Response | None:
        """Harbor's answer when the request may not read ``project``: credentials that do not
        log in are anonymous, and anonymous requests read no private project (401); a project
        the account has no role in, or that does not exist, is 403."""
        username, password = _basic_credentials(request)
        account = self.accounts.get(username or "")
        if (
            account is None
            or password is None
            or not hmac.compare_digest(account[0].encode(), password.encode())
        ):
            return _error(401, "UNAUTHORIZED", "unauthorized")
        exists = any(held.repository.partition("/")[0] == project for held in self._held.values())
        if not exists or (account[1] is not None and project not in account[1]):
            return _error(403, "FORBIDDEN", "forbidden")
        return None

    # -- webhooks ---------------------------------------------------------------------------

    def scan_webhook(
        self,
        repository: str,
        digest: str,
        *,
        cloudevents: bool = False,
        overview: bool = True,
        end: str | None = None,
        tag: str = "",
        scan_type: str | None = "vulnerability",
        operator: str = "auto",
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of the notification Harbor sends when the artifact's scan ends:
        ``end`` (``completed``, ``failed``, ``stopped``) follows its status unless given;
        ``overview=False`` leaves the overview out (harbor#21005); ``scan_type=None`` leaves
        out ``scan`` (older Harbors, the documented examples)."""
        held = self._held[repository, digest]
        end = end or ENDS.get(held.scan_status or "")
        if end is None:
            raise ValueError(f"the scan of {repository}@{digest} has not ended: name its end")
        resource: Json = {"digest": digest} | ({"tag": tag} if tag else {})  # omitempty
        separator, reference = (":", tag) if tag else ("@", digest)
        resource["resource_url"] = f"{self.host}/{repository}{separator}{reference}"
        if overview and held.scan_status is not None:
            resource["scan_overview"] = {held.report_type: _summary(held, every_field=True)}
        project, _, name = repository.partition("/")
        data: Json = {
            "resources": [resource],
            "repository": {
                "name": name,
                "namespace": project,
                "repo_full_name": repository,
                "repo_type": "private",
            },
        }
        if scan_type is not None:
            data["scan"] = {"scan_type": scan_type}
        at = held.ended_at or _now()
        if cloudevents:
            return _cloudevent(f"harbor.scan.{end}", data, at=at, operator=operator, held=held)
        body = {"type": DEFAULT_TYPES[end], "occur_at": int(at.timestamp())}
        body |= {"operator": operator, "event_data": data}
        return {"Content-Type": "application/json"}, json.dumps(body).encode()


def _cloudevent(
    kind: str, data: Json, *, at: datetime, operator: str, held: _Held
) -> tuple[dict[str, str], bytes]:
    body = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "requestid": str(uuid.uuid4()),
        "source": f"/projects/{held.project_id}/webhook/policies/1",
        "type": kind,
        "datacontenttype": "application/json",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
        "operator": operator,
    }
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(body).encode()


def _route(path: str) -> _Route | None:
    """The artifact a path names, as go-swagger's router and Harbor read it; None: no route."""
    parts = path.split("/")
    if len(parts) not in (9, 11) or parts[:4] != ["", "api", "v2.0", "projects"]:
        return None
    if parts[5] != "repositories" or parts[7] != "artifacts" or not all(parts[4:9]):
        return None
    if len(parts) == 11 and parts[9:] != ["additions", "vulnerabilities"]:
        return None
    project, repository = parts[4], unquote(parts[6])  # unescapePathParams: once more
    return _Route(
        project=project,
        repository=f"{project}/{repository}",
        reference=parts[8],
        vulnerabilities=len(parts) == 11,
    )


def _basic_credentials(request: web.Request) -> tuple[str | None, str | None]:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    username, colon, password = pair.partition(":")
    return username, password if colon else None


def _accepted(header: str | None) -> tuple[str, ...]:
    if header is None:
        return (GENERIC_REPORT, NATIVE_REPORT)  # the swagger default
    named = tuple(kind for part in header.split(",") if (kind := part.strip()) in REPORT_TYPES)
    return named or (NATIVE_REPORT,)


def _artifact(held: _Held, accepted: tuple[str, ...]) -> Json:
    """The ``Artifact`` as Harbor answers it; ``scan_overview`` when asked for and held."""
    project, _, name = held.repository.partition("/")
    links = {
        addition: {
            "absolute": False,
            "href": f"/api/v2.0/projects/{project}/repositories/{_twice(name)}"
            f"/artifacts/{held.digest}/additions/{addition}",
        }
        for addition in ("build_history", "vulnerabilities")
    }
    artifact: Json = {
        "id": held.id,
        "type": "IMAGE",
        "media_type": "application/vnd.oci.image.config.v1+json",
        "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
        "project_id": held.project_id,
        "repository_id": held.repository_id,
        "repository_name": held.repository,
        "digest": held.digest,
        "size": 3_370_706,
        "icon": "sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06",
        "push_time": _swagger_time(held.pushed_at),
        "pull_time": "0001-01-01T00:00:00.000Z",
        "extra_attrs": {"architecture": "amd64", "os": "linux", "config": {}},
        "annotations": None,
        "references": None,
        "tags": [_tag(held, tag) for tag in held.tags] or None,
        "addition_links": links,
        "labels": None,
        "accessories": None,
    }
    if held.scan_status is not None and held.report_type in accepted:
        artifact["scan_overview"] = {held.report_type: _summary(held, every_field=False)}
    return artifact


def _tag(held: _Held, name: str) -> Json:
    return {
        "id": held.id,
        "repository_id": held.repository_id,
        "artifact_id": held.id,
        "name": name,
        "push_time": _swagger_time(held.pushed_at),
        "pull_time": "0001-01-01T00:00:00.000Z",
        "immutable": False,
    }


def _summary(held: _Held, *, every_field: bool) -> Json:
    """A ``NativeReportSummary``: ``every_field`` as Go writes ``vuln.NativeReportSummary``
    (webhooks), else through the swagger model, which leaves out empty fields (the API)."""
    success = held.scan_status == "Success"
    started = held.started_at or _now()
    ended = held.ended_at
    summary: Json = {
        "report_id": held.report_id,
        "scan_status": held.scan_status,
        "severity": _overall(held.found) if success else "",
        "duration": int((ended - started).total_seconds()) if ended else 0,
        "summary": _counts(held.found) if success else None,
        "start_time": _go_time(started),
        "end_time": _go_time(ended) if ended else GO_ZERO_TIME,
        "complete_percent": 100 if success else 0,
    }
    if success:
        summary["scanner"] = dict(SCANNER)
    if every_field:
        return summary
    summary["start_time"] = _swagger_time(started)
    summary["end_time"] = _swagger_time(ended) if ended else "0001-01-01T00:00:00.000Z"
    return {key: value for key, value in summary.items() if value not in ("", 0, None)}


def _counts(found: tuple[Vulnerability, ...]) -> Json:
    by_word: dict[str, int] = {}
    for item in found:
        by_word[item.severity] = by_word.get(item.severity, 0) + 1
    fixable = sum(1 for item in found if item.fix_version)
    return {"total": len(found), "fixable": fixable, "summary": by_word}


def _overall(found: tuple[Vulnerability, ...]) -> str:
    return max((item.severity for item in found), key=lambda w: RANKS.get(w, 99), default="None")


def _report_addition(held: _Held, accepted: tuple[str, ...]) -> Json:
    """The vulnerabilities addition: the first accepted type Harbor holds a finished report
    of, or ``{}``."""
    if held.scan_status != "Success" or held.report_type not in accepted:
        return {}
    report = {
        "generated_at": _go_time(held.ended_at or _now()),
        "scanner": dict(SCANNER),
        "severity": _overall(held.found),
        "vulnerabilities": [_item(held, item) for item in held.found],
    }
    return {held.report_type: report}


def _item(held: _Held, item: Vulnerability) -> Json:
    return {
        "id": item.id,
        "package": item.package,
        "version": item.version,
        "fix_version": item.fix_version,
        "severity": item.severity,
        "description": f"A made-up weakness of {item.package}.",
        "links": [f"https://avd.aquasec.com/nvd/{item.id.lower()}"],
        "artifact_digests": [held.digest],
        "preferred_cvss": {"score_v3": None, "score_v2": None, "vector_v3": "", "vector_v2": ""},
        "cwe_ids": [],
        "vendor_attributes": {},
    }


def _error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"errors": [{"code": code, "message": message}]}) + "\n"
    return web.Response(status=status, text=body, content_type="application/json", charset="utf-8")


def _twice(name: str) -> str:
    return quote(quote(name, safe=""), safe="")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _go_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _swagger_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def digest_of(text: str) -> str:
    """A made-up digest, ``sha256:`` of ``text``."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
