"""HarborClient against the Harbor fake (``tests/support/harbor_fake.py``), and the fake's own
fidelity where the client depends on it: the double encoding of repository names."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from receiver.decide.trust.policy import Severity
from receiver.errors import ConfigError, RegistryError, RegistryUnavailable
from receiver.registry.harbor import (
    ACCEPT_VULNERABILITIES,
    Finding,
    HarborClient,
    HarborScan,
    ScanStatus,
    read_findings,
    read_scan,
    split_full_name,
)
from receiver.secret import Secret
from tests.support.harbor_fake import (
    NATIVE_REPORT,
    ROBOT,
    ROBOT_SECRET,
    FakeHarbor,
    Vulnerability,
    digest_of,
    vulnerabilities,
)

DIGEST = digest_of("team/app v1")
OTHER = digest_of("team/app v2")
WRONG = "wr0ng-pa55-that-must-never-show"
SECRETS = (ROBOT_SECRET, WRONG)
LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL


@dataclass
class Harbor:
    fake: FakeHarbor
    server: TestServer
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def client(
        self, *, username: str | None = ROBOT, password: str = ROBOT_SECRET, **kw: Any
    ) -> HarborClient:
        return HarborClient(
            self.session, url=self.url, username=username, password=Secret(password), **kw
        )


@pytest.fixture
async def harbor() -> AsyncIterator[Harbor]:
    fake = FakeHarbor()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Harbor(fake=fake, server=server, session=session)
    await server.close()


def assert_no_secret(exc: BaseException) -> None:
    """Neither the error nor anything it was raised from shows a password."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen)):
            assert not any(secret in text for secret in SECRETS)
        seen = seen.__cause__ or seen.__context__


async def scan_of(harbor: Harbor, repository: str = "team/app", digest: str = DIGEST) -> HarborScan:
    project, name = split_full_name(repository)
    return await harbor.client().scan(project=project, repository=name, digest=digest)


# -- statuses and counts ---------------------------------------------------------------------

Setup = Callable[[FakeHarbor], None]
ZEROS = {LOW: 0, MEDIUM: 0, HIGH: 0, CRITICAL: 0}


@pytest.mark.parametrize(
    ("setup", "status", "counts"),
    [
        pytest.param(lambda f: f.push("team/app", DIGEST), ScanStatus.NOT_SCANNED, {}, id="held"),
        pytest.param(
            lambda f: f.scanning("team/app", DIGEST, status="Pending"),
            ScanStatus.PENDING,
            {},
            id="pending",
        ),
        pytest.param(
            lambda f: f.scanning("team/app", DIGEST, status="Scheduled"),
            ScanStatus.PENDING,
            {},
            id="scheduled",
        ),
        pytest.param(
            lambda f: f.scanning("team/app", DIGEST), ScanStatus.RUNNING, {}, id="running"
        ),
        pytest.param(
            lambda f: f.scanned("team/app", DIGEST), ScanStatus.SUCCESS, ZEROS, id="clean"
        ),
        pytest.param(
            lambda f: f.scanned(
                "team/app",
                DIGEST,
                vulnerabilities(critical=2, high=5, medium=1, low=3, negligible=1, unknown=2),
            ),
            ScanStatus.SUCCESS,
            {LOW: 6, MEDIUM: 1, HIGH: 5, CRITICAL: 2},
            id="findings",
        ),
        pytest.param(
            lambda f: f.scanned(
                "team/app", DIGEST, vulnerabilities(high=1), report_type=NATIVE_REPORT
            ),
            ScanStatus.SUCCESS,
            {**ZEROS, HIGH: 1},
            id="native-report",
        ),
        pytest.param(lambda f: f.failed("team/app", DIGEST), ScanStatus.ERROR, {}, id="error"),
        pytest.param(lambda f: f.stopped("team/app", DIGEST), ScanStatus.STOPPED, {}, id="stopped"),
    ],
)
async def test_scan_status_and_counts(
    harbor: Harbor, setup: Setup, status: ScanStatus, counts: dict[Severity, int]
) -> None:
    setup(harbor.fake)
    assert await scan_of(harbor) == HarborScan(status=status, counts=counts)


async def test_the_request_is_the_documented_one(harbor: Harbor) -> None:
    harbor.fake.scanned("team/tools/app", DIGEST)
    await scan_of(harbor, "team/tools/app")
    await harbor.client().vulnerabilities(project="team", repository="tools/app", digest=DIGEST)
    artifact = f"/api/v2.0/projects/team/repositories/tools%252Fapp/artifacts/{DIGEST}"
    seen = [(r.raw_path, dict(r.query), r.username, r.status) for r in harbor.fake.requests]
    assert seen == [
        (artifact, {"with_scan_overview": "true"}, ROBOT, 200),
        (artifact + "/additions/vulnerabilities", {}, ROBOT, 200),
    ]
    accepted = {r.accept_vulnerabilities for r in harbor.fake.requests}
    assert accepted == {ACCEPT_VULNERABILITIES}


async def test_the_fake_resolves_only_a_twice_encoded_slash(harbor: Harbor) -> None:
    """What Harbor answers: a slash encoded once is a slash by the time routes are matched."""
    harbor.fake.scanned("team/tools/app", DIGEST)
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{ROBOT}:{ROBOT_SECRET}".encode()).decode()
    }
    base = f"{harbor.url}/api/v2.0/projects/team/repositories"
    answers = {}
    for name in ("tools%252Fapp", "tools%2Fapp"):
        url = URL(f"{base}/{name}/artifacts/{DIGEST}", encoded=True)
        async with harbor.session.get(url, headers=auth) as res:
            answers[name] = (res.status, await res.json())
    assert answers["tools%252Fapp"][0] == 200
    assert answers["tools%252Fapp"][1]["repository_name"] == "team/tools/app"
    path = f"/api/v2.0/projects/team/repositories/tools/app/artifacts/{DIGEST}"
    message = f"path {path} was not found"
    assert answers["tools%2Fapp"] == (404, {"errors": [{"code": "NOT_FOUND", "message": message}]})


# -- findings --------------------------------------------------------------------------------


async def test_vulnerabilities_lists_every_finding(harbor: Harbor) -> None:
    found = [
        Vulnerability(id="CVE-2026-1234", severity="High", package="openssl"),
        Vulnerability(id="CVE-2026-1234", severity="High", package="libssl3"),
        Vulnerability(id="GHSA-xxxx-yyyy-zzzz", severity="Medium"),
        Vulnerability(id="CVE-2026-9", severity="Unknown"),
        Vulnerability(id="CVE-2026-10", severity="Negligible"),
    ]
    harbor.fake.scanned("team/app", DIGEST, found)
    findings = await harbor.client().vulnerabilities(
        project="team", repository="app", digest=DIGEST
    )
    assert findings == [
        Finding(cve="CVE-2026-1234", severity=HIGH),
        Finding(cve="CVE-2026-1234", severity=HIGH),
        Finding(cve="GHSA-xxxx-yyyy-zzzz", severity=MEDIUM),
        Finding(cve="CVE-2026-9", severity=LOW),
        Finding(cve="CVE-2026-10", severity=LOW),
    ]


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(lambda f: f.push("team/app", DIGEST), id="held"),
        pytest.param(lambda f: f.scanning("team/app", DIGEST), id="running"),
        pytest.param(lambda f: f.failed("team/app", DIGEST), id="error"),
        pytest.param(lambda f: f.scanned("team/app", DIGEST), id="clean"),
    ],
)
async def test_no_findings_without_a_finished_report_with_some(
    harbor: Harbor, setup: Setup
) -> None:
    setup(harbor.fake)
    client = harbor.client()
    assert await client.vulnerabilities(project="team", repository="app", digest=DIGEST) == []


# -- refusals and unavailability ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [
        pytest.param(ROBOT, WRONG, 401, id="wrong-password"),
        pytest.param(None, "", 401, id="no-credentials"),
        pytest.param("robot$other", ROBOT_SECRET, 401, id="unknown-account"),
        pytest.param("robot$elsewhere", "elsewhere-s3cret", 403, id="not-a-member"),
    ],
)
async def test_refused_credentials(
    harbor: Harbor, username: str | None, password: str, status: int
) -> None:
    harbor.fake.scanned("team/app", DIGEST)
    harbor.fake.grant("robot$elsewhere", "elsewhere-s3cret", projects=["other"])
    client = harbor.client(username=username, password=password)
    for ask in (client.scan, client.vulnerabilities):
        with pytest.raises(RegistryError) as caught:
            await ask(project="team", repository="app", digest=DIGEST)
        assert type(caught.value) is RegistryError
        assert caught.value.status == status
        assert f"access denied (HTTP {status})" in str(caught.value)
        assert_no_secret(caught.value)


async def test_an_unknown_project_is_forbidden_as_harbor_answers(harbor: Harbor) -> None:
    harbor.fake.scanned("team/app", DIGEST)
    with pytest.raises(RegistryError) as caught:
        await harbor.client().scan(project="nowhere", repository="app", digest=DIGEST)
    assert caught.value.status == 403


async def test_an_artifact_harbor_does_not_hold(harbor: Harbor) -> None:
    harbor.fake.scanned("team/app", DIGEST)
    client = harbor.client()
    for ask in (client.scan, client.vulnerabilities):
        with pytest.raises(RegistryError) as caught:
            await ask(project="team", repository="app", digest=OTHER)
        assert type(caught.value) is RegistryError
        assert caught.value.status == 404
        assert str(caught.value) == (
            f"harbor 127.0.0.1:{harbor.server.port} does not hold team/app@{OTHER} (HTTP 404)"
        )


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_an_unavailable_harbor_is_asked_again_later(harbor: Harbor, status: int) -> None:
    harbor.fake.scanned("team/app", DIGEST)
    harbor.fake.down = status
    with pytest.raises(RegistryUnavailable) as caught:
        await scan_of(harbor)
    assert caught.value.status == status
    assert "unavailable" not in str(caught.value)  # the body is not echoed
    harbor.fake.down = None
    assert (await scan_of(harbor)).status is ScanStatus.SUCCESS


async def test_a_stopped_harbor_is_unreachable(harbor: Harbor) -> None:
    harbor.fake.scanned("team/app", DIGEST)
    client = harbor.client()
    await harbor.server.close()
    with pytest.raises(RegistryUnavailable, match="unreachable: cannot connect") as caught:
        await client.scan(project="team", repository="app", digest=DIGEST)
    assert_no_secret(caught.value)


async def test_a_harbor_that_does_not_answer_in_time(harbor: Harbor) -> None:
    harbor.fake.scanned("team/app", DIGEST)
    harbor.fake.stalled = True
    client = harbor.client(timeout=0.2)
    with pytest.raises(RegistryUnavailable, match="unreachable: timed out"):
        await client.scan(project="team", repository="app", digest=DIGEST)


@pytest.mark.parametrize(
    ("project", "repository", "digest", "words"),
    [
        ("Team", "app", DIGEST, "invalid Harbor project name"),
        ("team", "../app", DIGEST, "invalid repository name"),
        ("team", "app", "v1", "invalid digest"),
        ("team", "app", "sha256:abc/../x", "invalid digest"),
    ],
)
async def test_names_are_checked_before_any_request(
    harbor: Harbor, project: str, repository: str, digest: str, words: str
) -> None:
    with pytest.raises(RegistryError, match=words):
        await harbor.client().scan(project=project, repository=repository, digest=digest)
    assert harbor.fake.requests == []


# -- answers that are not Harbor's -------------------------------------------------------------


async def test_answers_that_are_not_harbors(harbor: Harbor) -> None:
    async def odd(request: web.Request) -> web.Response:
        if request.path.endswith("/artifacts/" + DIGEST):
            return web.Response(text="<html>portal</html>")
        return web.Response(status=302, headers={"Location": "http://elsewhere.invalid/"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", odd)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        client = HarborClient(
            harbor.session,
            url=f"http://127.0.0.1:{server.port}",
            username=ROBOT,
            password=Secret(ROBOT_SECRET),
        )
        with pytest.raises(RegistryError, match="answer is not a JSON object"):
            await client.scan(project="team", repository="app", digest=DIGEST)
        with pytest.raises(RegistryError, match="HTTP 302") as caught:
            await client.vulnerabilities(project="team", repository="app", digest=DIGEST)
        assert type(caught.value) is RegistryError
    finally:
        await server.close()


async def test_a_base_url_with_a_path_keeps_it(harbor: Harbor) -> None:
    app = web.Application()
    app.add_subapp("/harbor", harbor.fake.app())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        harbor.fake.scanned("team/app", DIGEST)
        client = HarborClient(
            harbor.session,
            url=f"http://127.0.0.1:{server.port}/harbor/",
            username=ROBOT,
            password=Secret(ROBOT_SECRET),
        )
        with pytest.raises(RegistryError, match="does not hold"):  # the fake routes from /api
            await client.scan(project="team", repository="app", digest=DIGEST)
        assert harbor.fake.requests[-1].raw_path.startswith("/harbor/api/v2.0/projects/team/")
    finally:
        await server.close()


# -- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"url": "harbor.example.com"}, "harbor url"),
        ({"url": "ftp://harbor.example.com"}, "harbor url"),
        ({"url": "https://user:pw@harbor.example.com"}, "harbor url"),
        ({"username": "robot:x"}, "cannot hold ':'"),
        ({"ca_file": Path("/nonexistent/ca.pem")}, "harbor ca_file"),
    ],
)
async def test_invalid_settings(options: dict[str, Any], words: str) -> None:
    settings: dict[str, Any] = {"url": "https://harbor.example.com", "username": ROBOT}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match=words) as caught:
            HarborClient(session, password=Secret(ROBOT_SECRET), **(settings | options))
    assert_no_secret(caught.value)
    assert "pw" not in str(caught.value)


# -- reading Harbor's answers ------------------------------------------------------------------

GENERIC = "application/vnd.security.vulnerability.report; version=1.1"
WHAT = "harbor h: team/app@sha256:1"


@pytest.mark.parametrize(
    ("overview", "expected"),
    [
        (None, HarborScan(status=ScanStatus.NOT_SCANNED)),
        ({}, HarborScan(status=ScanStatus.NOT_SCANNED)),
        ({"application/other": {}}, HarborScan(status=ScanStatus.NOT_SCANNED)),
        ({GENERIC: {"scan_status": "Running"}}, HarborScan(status=ScanStatus.RUNNING)),
        (
            {GENERIC: {"scan_status": "Success", "summary": {"summary": {}}}},
            HarborScan(status=ScanStatus.SUCCESS, counts=ZEROS),
        ),
        (
            {GENERIC: {"scan_status": "Success", "summary": {"summary": {"None": 3, "Dire": 1}}}},
            HarborScan(status=ScanStatus.SUCCESS, counts={**ZEROS, CRITICAL: 1}),
        ),
        (
            {
                NATIVE_REPORT: {"scan_status": "Error"},
                GENERIC: {"scan_status": "Success", "summary": {"summary": {}}},
            },
            HarborScan(status=ScanStatus.SUCCESS, counts=ZEROS),  # ours first, as asked
        ),
    ],
)
def test_read_scan(overview: object, expected: HarborScan) -> None:
    assert read_scan(overview, what=WHAT) == expected


@pytest.mark.parametrize(
    ("overview", "words"),
    [
        ([], "scan_overview is not a JSON object"),
        ({GENERIC: "Success"}, "summary is not a JSON object"),
        ({GENERIC: {}}, "no known scan_status"),
        ({GENERIC: {"scan_status": "Finished"}}, "no known scan_status"),
        ({GENERIC: {"scan_status": "Success"}}, "without a summary"),
        ({GENERIC: {"scan_status": "Success", "summary": None}}, "without a summary"),
        ({GENERIC: {"scan_status": "Success", "summary": {"summary": {"High": -1}}}}, "number"),
        ({GENERIC: {"scan_status": "Success", "summary": {"summary": {"High": "2"}}}}, "number"),
        ({GENERIC: {"scan_status": "Success", "summary": {"summary": {"High": True}}}}, "number"),
    ],
)
def test_read_scan_refuses_what_harbor_does_not_write(overview: object, words: str) -> None:
    with pytest.raises(RegistryError, match=words):
        read_scan(overview, what=WHAT)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, []),
        ({GENERIC: None}, []),
        ({GENERIC: {"vulnerabilities": []}}, []),
        (
            {GENERIC: {"vulnerabilities": [{"id": " CVE-1 ", "severity": "Critical"}]}},
            [Finding(cve="CVE-1", severity=CRITICAL)],
        ),
        (
            {GENERIC: {"vulnerabilities": [{"id": "CVE-1"}, {"id": "CVE-2", "severity": "Odd"}]}},
            [Finding(cve="CVE-1", severity=CRITICAL), Finding(cve="CVE-2", severity=CRITICAL)],
        ),
        (
            {GENERIC: {"vulnerabilities": [{"severity": "High"}, "CVE-3", {"id": ""}]}},
            [],  # nothing an allowance could name
        ),
    ],
)
def test_read_findings(document: dict[str, object], expected: list[Finding]) -> None:
    assert read_findings(document, what=WHAT) == expected


@pytest.mark.parametrize("report", [[], {}, {"vulnerabilities": None}, {"vulnerabilities": {}}])
def test_read_findings_refuses_a_report_without_a_list(report: object) -> None:
    with pytest.raises(RegistryError, match="no list of vulnerabilities"):
        read_findings({GENERIC: report}, what=WHAT)


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [("harbor/alpine", ("harbor", "alpine")), ("team/tools/app", ("team", "tools/app"))],
)
def test_split_full_name(full_name: str, expected: tuple[str, str]) -> None:
    assert split_full_name(full_name) == expected


@pytest.mark.parametrize("full_name", ["alpine", "/alpine", "Team/app", "team/", "team/a//b"])
def test_split_full_name_refuses(full_name: str) -> None:
    with pytest.raises(RegistryError, match="not a Harbor repository name"):
        split_full_name(full_name)
