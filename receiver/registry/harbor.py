"""Ask Harbor (its API v2.0) what its scanner found in an artifact.

Two questions, both about one artifact named by project, repository and digest::

    GET /api/v2.0/projects/{project}/repositories/{repository}/artifacts/{digest}
        ?with_scan_overview=true                            -> HarborScan (status, counts)
    GET .../artifacts/{digest}/additions/vulnerabilities    -> [Finding(cve, severity), ...]

Both send ``X-Accept-Vulnerabilities`` with the two report types Harbor's scanners write (the
first one Harbor holds a report of is the one it answers with) and Basic credentials (a robot
account's name is ``robot$…``). A repository name is URL-encoded twice, as Harbor's API asks
(``team/app`` -> ``team%252Fapp``): its proxy decodes the path once before routing, so a slash
encoded once would be routed as a slash.

What Harbor's summary says is read as it is written (``scan_overview``: a map from report type
to ``NativeReportSummary``): its ``scan_status`` (``Pending``, ``Scheduled``, ``Running``,
``Success``, ``Error``, ``Stopped``) and, for a finished scan, the number of findings of each
severity. Harbor's severities map onto ``Severity``: ``Negligible`` and ``Unknown`` (a finding
not rated yet) count as low, a severity Harbor does not name counts as critical (as Harbor's own
comparison ranks it), and ``None`` is no finding at all.

Errors (defined in ``receiver.errors``); no message holds a body or a credential::

    RegistryError              refused (401/403), no such artifact (404), a malformed answer,
    │                          a TLS failure: asking again does not help
    └── RegistryUnavailable    unreachable, timed out, 429 or 5xx: ask again later
"""

from __future__ import annotations

import base64
import enum
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from yarl import URL

from handlers.references import is_digest, is_repository
from receiver.decide.trust.policy import Severity
from receiver.errors import ConfigError, RegistryError, RegistryUnavailable
from receiver.registry.answers import json_object, read_capped, unreachable_words
from receiver.secret import Secret

#: The report types asked for, in the order Harbor is to prefer them.
REPORT_TYPES: Final = (
    "application/vnd.security.vulnerability.report; version=1.1",
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
)
ACCEPT_VULNERABILITIES: Final = ", ".join(REPORT_TYPES)
MAX_ARTIFACT_BYTES: Final = 4 * 1024 * 1024
MAX_REPORT_BYTES: Final = 32 * 1024 * 1024  # a full report names every finding, with text
API_PREFIX: Final = "/api/v2.0"

# Harbor's project names (``restrictedNameChars``, src/pkg/project/manager.go).
_PROJECT = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", re.ASCII)


class ScanStatus(enum.StrEnum):
    """Where Harbor's scan of one artifact is; ``NOT_SCANNED``: Harbor holds no report."""

    NOT_SCANNED = "not_scanned"
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    STOPPED = "stopped"


# Harbor's job statuses (src/jobservice/job/status.go); ``Scheduled`` has not started yet.
_STATUSES: Final[Mapping[str, ScanStatus]] = MappingProxyType(
    {
        "Pending": ScanStatus.PENDING,
        "Scheduled": ScanStatus.PENDING,
        "Running": ScanStatus.RUNNING,
        "Success": ScanStatus.SUCCESS,
        "Error": ScanStatus.ERROR,
        "Stopped": ScanStatus.STOPPED,
    }
)
# Harbor's severities (src/pkg/scan/vuln/severity.go); any other word counts as critical.
_SEVERITIES: Final[Mapping[str, Severity]] = MappingProxyType(
    {
        "None": Severity.NONE,
        "Unknown": Severity.LOW,
        "Negligible": Severity.LOW,
        "Low": Severity.LOW,
        "Medium": Severity.MEDIUM,
        "High": Severity.HIGH,
        "Critical": Severity.CRITICAL,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HarborScan:
    """What Harbor says of an artifact's scan: ``counts`` holds the findings of each severity
    (low to critical, zeros included) once the scan succeeded, and nothing before."""

    status: ScanStatus
    counts: Mapping[Severity, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One finding of a report: a vulnerability id (``CVE-2026-1234``, ``GHSA-…``) and its
    severity. A CVE found in two packages is two findings, as Harbor counts it."""

    cve: str
    severity: Severity


def severity_of(word: str) -> Severity:
    """``Severity`` of one of Harbor's severity words; a word Harbor does not name is critical."""
    return _SEVERITIES.get(word, Severity.CRITICAL)


def split_full_name(full_name: str) -> tuple[str, str]:
    """``("team", "tools/app")`` of Harbor's full repository name ``team/tools/app``."""
    project, _, repository = full_name.partition("/")
    if not (_PROJECT.fullmatch(project) and is_repository(repository)):
        raise RegistryError(f"not a Harbor repository name: {full_name[:300]!r}")
    return project, repository


class HarborClient:
    """Scan results of one Harbor, over the service's shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        url: str,
        username: str | None,
        password: Secret | None,
        timeout: float = 10.0,
        ca_file: Path | None = None,
        verify: bool = True,
    ) -> None:
        self._session = session
        self._base = _base_url(url)
        self._host = self._base.host_port_subcomponent or "?"
        self._authorization = _basic(username, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = _tls(ca_file, verify=verify)

    async def scan(self, *, project: str, repository: str, digest: str) -> HarborScan:
        """Status and counts of the scan of ``project/repository@digest``."""
        path = _artifact_path(project, repository, digest)
        artifact = f"{project}/{repository}@{digest}"
        document = await self._get(
            path,
            query={"with_scan_overview": "true"},
            artifact=artifact,
            what=artifact,
            limit=MAX_ARTIFACT_BYTES,
        )
        return read_scan(document.get("scan_overview"), what=f"harbor {self._host}: {artifact}")

    async def vulnerabilities(self, *, project: str, repository: str, digest: str) -> list[Finding]:
        """Every finding of the artifact's report; ``[]`` when Harbor holds no finished one."""
        path = _artifact_path(project, repository, digest) + "/additions/vulnerabilities"
        artifact = f"{project}/{repository}@{digest}"
        what = f"vulnerabilities of {artifact}"
        document = await self._get(
            path, query={}, artifact=artifact, what=what, limit=MAX_REPORT_BYTES
        )
        return read_findings(document, what=f"harbor {self._host}: {what}")

    async def _get(
        self, path: str, *, query: Mapping[str, str], artifact: str, what: str, limit: int
    ) -> dict[str, Any]:
        """The JSON object Harbor answers with; ``what`` names the answer in messages."""
        url = self._base.with_path(self._base.raw_path.rstrip("/") + path, encoded=True)
        headers = {"Accept": "application/json", "X-Accept-Vulnerabilities": ACCEPT_VULNERABILITIES}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization.reveal()
        try:
            async with self._session.get(
                url.with_query(query),
                headers=headers,
                ssl=self._ssl,
                timeout=self._timeout,
                allow_redirects=False,  # never take the credentials elsewhere
                raise_for_status=False,
            ) as res:
                _expect_ok(res.status, host=self._host, artifact=artifact, what=what)
                body = await read_capped(res, limit=limit, what=f"harbor {self._host}: {what}")
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            raise RegistryError(f"harbor {self._host}: TLS failed: {exc}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise RegistryUnavailable(
                f"harbor {self._host} unreachable: {unreachable_words(exc)}"
            ) from exc
        except aiohttp.ClientError as exc:
            # ClientResponseError carries the request headers: do not chain it.
            raise RegistryError(f"harbor {self._host}: {type(exc).__name__}") from None
        return json_object(body, f"harbor {self._host}: {what}")


def read_scan(overview: object, *, what: str) -> HarborScan:
    """A ``HarborScan`` of an artifact's ``scan_overview`` (a map from report type to summary)."""
    if overview is None or overview == {}:
        return HarborScan(status=ScanStatus.NOT_SCANNED)
    if not isinstance(overview, dict):
        raise RegistryError(f"{what}: scan_overview is not a JSON object")
    summary = next((overview[kind] for kind in REPORT_TYPES if kind in overview), None)
    if summary is None:
        return HarborScan(status=ScanStatus.NOT_SCANNED)  # only reports of types not asked for
    if not isinstance(summary, dict):
        raise RegistryError(f"{what}: a scan summary is not a JSON object")
    word = summary.get("scan_status")
    status = _STATUSES.get(word) if isinstance(word, str) else None
    if status is None:
        raise RegistryError(f"{what}: the scan summary has no known scan_status")
    if status is not ScanStatus.SUCCESS:
        return HarborScan(status=status)
    return HarborScan(status=status, counts=_counts(summary.get("summary"), what))


def _counts(summary: object, what: str) -> Mapping[Severity, int]:
    """``{LOW: n, MEDIUM: n, HIGH: n, CRITICAL: n}`` of a ``VulnerabilitySummary``."""
    by_word = summary.get("summary") if isinstance(summary, dict) else None
    if not isinstance(by_word, dict):
        raise RegistryError(f"{what}: a successful scan without a summary of its findings")
    counts: dict[Severity, int] = {s: 0 for s in Severity if s is not Severity.NONE}
    for word, count in by_word.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RegistryError(f"{what}: a count of findings is not a number")
        severity = severity_of(word)
        if severity is not Severity.NONE:
            counts[severity] += count
    return MappingProxyType(counts)


def read_findings(document: Mapping[str, object], *, what: str) -> list[Finding]:
    """The findings of a vulnerabilities addition (a map from report type to report); an item
    without an id cannot be allowed by one, and is left out."""
    report = next((document[kind] for kind in REPORT_TYPES if kind in document), None)
    if report is None:
        return []
    items = report.get("vulnerabilities") if isinstance(report, dict) else None
    if not isinstance(items, list):
        raise RegistryError(f"{what}: the report holds no list of vulnerabilities")
    findings: list[Finding] = []
    for item in items:
        cve = item.get("id") if isinstance(item, dict) else None
        word = item.get("severity") if isinstance(item, dict) else None
        if isinstance(cve, str) and cve.strip():
            severity = severity_of(word) if isinstance(word, str) else Severity.CRITICAL
            findings.append(Finding(cve=cve.strip(), severity=severity))
    return findings


def _artifact_path(project: str, repository: str, digest: str) -> str:
    if not _PROJECT.fullmatch(project):
        raise RegistryError(f"invalid Harbor project name {project[:300]!r}")
    if not is_repository(repository):
        raise RegistryError(f"invalid repository name {repository[:300]!r}")
    if not is_digest(digest):
        raise RegistryError(f"invalid digest {digest[:300]!r}")
    twice = quote(quote(repository, safe=""), safe="")  # a/b -> a%2Fb -> a%252Fb
    return f"{API_PREFIX}/projects/{project}/repositories/{twice}/artifacts/{digest}"


def _base_url(url: str) -> URL:
    try:
        base = URL(url)
    except ValueError:
        base = URL()
    if base.scheme not in ("http", "https") or not base.host or base.user or base.query_string:
        # Not echoed: it may hold credentials.
        raise ConfigError(
            ["harbor url: expected http(s)://host[:port][/path], without credentials"]
        )
    return base


def _basic(username: str | None, password: Secret | None) -> Secret | None:
    if username is None:
        return None
    if ":" in username:
        raise ConfigError(["harbor username: a Basic user name cannot hold ':'"])
    pair = f"{username}:{password.reveal() if password else ''}".encode()
    return Secret("Basic " + base64.b64encode(pair).decode())


def _tls(ca_file: Path | None, *, verify: bool) -> ssl.SSLContext | bool:
    if not verify:
        return False
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([f"harbor ca_file: cannot load {ca_file}: {exc}"]) from exc


def _expect_ok(status: int, *, host: str, artifact: str, what: str) -> None:
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise RegistryError(
            f"harbor {host}: {what}: access denied (HTTP {status}): are the credentials right, "
            "and may the account read the project's artifacts?",
            status=status,
        )
    if status == 404:
        raise RegistryError(f"harbor {host} does not hold {artifact} (HTTP 404)", status=404)
    kind = RegistryUnavailable if status == 429 or 500 <= status < 600 else RegistryError
    raise kind(f"harbor {host}: {what}: HTTP {status}", status=status)
