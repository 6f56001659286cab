"""The API answers as its OpenAPI document says: schemathesis against the live app.

The app runs on a real port over a real PostgreSQL, with a watched repository, deploys already
made, a rejected notification and a notice that could not be sent, so that lists are not empty.
Every operation of the document is tested by four callers (a write token, a read token, a wrong
token, none) with positive and negative data: every answer must be documented (status, content
type, body, headers), no answer may be a 5xx, a read token writing gets 403 and a caller
without a valid token 401.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import Case

from deployers.base import Deployers
from receiver.app import init_app
from receiver.http.openapi import load_document
from tests.support.live import LiveApp
from tests.support.polling import until_sync
from tests.support.postgres import fresh_database
from tests.support.pushes import NAME, REGISTRY, WEB, push_body, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import (
    API_TOKEN,
    HARBOR_TOKEN,
    READ_TOKEN,
    REGISTRY_TOKEN,
    api_headers,
    make_config,
)

#: Examples per operation and caller in the fuzzing phase (the coverage phase adds its own);
#: REGDEPLOY_API_EXAMPLES=200 makes a deeper run.
MAX_EXAMPLES = int(os.environ.get("REGDEPLOY_API_EXAMPLES", "15"))
DOCUMENT = load_document()
SOURCE_TOKENS = {"registry": REGISTRY_TOKEN, "harbor": HARBOR_TOKEN}
# Answers to data the schema allows but the app refuses for what the schema cannot say: a tag
# the catalog does not hold, a policy that does not parse, registrywatcher's 400 for a
# repository it does not watch.
SEMANTIC_400 = [
    "changeRepository",
    "deployRepository",
    "registrywatcherGetTag",
    "registrywatcherSetTag",
    "registrywatcherResetTag",
]
# A repository name may contain "/", so /tags/{name} also matches /tags/x/reset (the repository
# "x/reset"): another method on the longer path is answered by the shorter path's route (its
# Allow header, its 400 or 404), not by a 405 of the longer path's own.
OVERLAPPED = [
    "registrywatcherResetTag",
    "deployRepository",
    "planRepository",
    "explainRepository",
]
# A vote on a deployment that exists but does not wait is a 409 (the schema cannot say which
# deployments wait).
VOTES = ["approveDeployment", "rejectDeployment"]
# An authenticated notification that cannot be used is stored as rejected and answered 202, by
# design: a registry retries any other answer forever, holding back every later notification.
ANY_BODY = ["receiveNotification"]
SCHEMA = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20261122,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {
                    "include-operation-id": SEMANTIC_400,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "401", "403", "404", "5xx"]
                        }
                    },
                },
                {
                    "include-operation-id": VOTES,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "401", "403", "404", "409"]
                        }
                    },
                },
                {
                    "include-operation-id": ANY_BODY,
                    "checks": {"negative_data_rejection": {"enabled": False}},
                },
                {
                    "include-operation-id": OVERLAPPED,
                    "checks": {
                        "unsupported_method": {"enabled": False},
                        "allow_header_conformance": {"enabled": False},
                    },
                },
            ],
        }
    ),
)


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    api_token: str | None
    valid: bool

    def headers(self, case: Case[Any]) -> dict[str, str]:
        token = self.api_token
        if self.valid and case.operation.path.startswith("/webhooks/"):
            token = SOURCE_TOKENS.get((case.path_parameters or {}).get("source", ""), token)
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def expected(self, case: Case[Any]) -> set[int] | None:
        """The statuses this caller must get, where its token decides them."""
        scopes = _required_scopes(case)
        if scopes is None or case.method != case.operation.method.upper():
            return None
        if not self.valid:
            # A webhook looks its source up first: an unknown one is a 404 whatever the token.
            return {401, 404} if case.operation.path.startswith("/webhooks/") else {401}
        if self.api_token == READ_TOKEN and "write" in scopes:
            return {403}
        return None


CALLERS = [
    Caller("write", API_TOKEN, valid=True),
    Caller("read", READ_TOKEN, valid=True),
    Caller("wrong", "not-a-token", valid=False),
    Caller("none", None, valid=False),
]


def _required_scopes(case: Case[Any]) -> list[str] | None:
    """The scopes an operation's security asks for; None when it may be called without."""
    operation = DOCUMENT["paths"][case.operation.path][case.operation.method.lower()]
    security: list[dict[str, list[str]]] = operation.get("security", DOCUMENT["security"])
    if not security or {} in security:
        return None
    return [
        scope for requirement in security for scopes in requirement.values() for scope in scopes
    ]


@pytest.fixture(scope="module")
def answers(request: pytest.FixtureRequest) -> Iterator[Counter[tuple[str, int]]]:
    """Every answer of the run by (caller, status), summed up in the terminal at its end."""
    counted: Counter[tuple[str, int]] = Counter()
    yield counted
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not counted:
        return
    by_status = Counter[int]()
    for (_, status), n in counted.items():
        by_status[status] += n
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(by_status.items()))
    with capture.global_and_fixture_disabled():
        reporter.write_line(
            f"\nschemathesis: {len(SCHEMA)} operations, 4 callers, {counted.total()} requests "
            f"({statuses})"
        )


@pytest.fixture(scope="module")
def live(pg_server_uri: str) -> Iterator[LiveApp]:
    deployer = RecordingDeployer()
    deployer.run(WEB, ref("1.0.0", 1))
    config = make_config(
        fresh_database(pg_server_uri),
        registry=REGISTRY,
        confirm_digests=False,  # registry.test names no running registry
        repositories=[repository(notify=["ops"])],
        worker={"poll_interval_seconds": 0.2, "retry_base_seconds": 0.05},
        # Nothing listens on port 9: the notices of the deploys fail, and are listed so.
        notifiers=[{"name": "ops", "type": "slack", "url": "http://127.0.0.1:9/hook"}],
        notices={"group_seconds": 0.05, "max_attempts": 1, "poll_seconds": 0.2},
    )
    app = LiveApp(init_app(config, deployers=Deployers([deployer]))).start()
    try:
        _seed(app.url)
        yield app
    finally:
        app.stop()


def _seed(url: str) -> None:
    """Deploys made and skipped, a rejected notification and a failed notice."""
    registry = {"Authorization": f"Bearer {REGISTRY_TOKEN}"}
    for tag, n in [("1.1.0", 2), ("2.0.0", 3)]:
        posted = requests.post(
            f"{url}/webhooks/registry", data=push_body(tag, n), headers=registry, timeout=10
        )
        assert posted.status_code == 202, posted.text
    rejected = requests.post(
        f"{url}/webhooks/harbor", data=b"not json", headers={"Authorization": HARBOR_TOKEN}
    )
    assert rejected.json()["rejected"] == 1
    until_sync("the seeded pushes deployed", lambda: _settled(url), seconds=30)


def _settled(url: str) -> bool:
    def get(path: str) -> Any:
        return requests.get(url + path, headers=api_headers(), timeout=10).json()

    deployments = get(f"/api/v1/deployments?repository={NAME}")["deployments"]
    notices = get("/api/v1/notices?status=failed")["notices"]
    return (
        len(deployments) == 2
        and bool(notices)
        and all(d["status"] not in ("planned", "running") for d in deployments)
    )


@pytest.fixture(scope="module", params=CALLERS, ids=lambda caller: caller.name)
def caller(request: pytest.FixtureRequest) -> Caller:
    found: Caller = request.param
    return found


@SCHEMA.parametrize()
def test_api_answers_as_documented(
    case: Case[Any], live: LiveApp, caller: Caller, answers: Counter[tuple[str, int]]
) -> None:
    response = case.call_and_validate(base_url=live.url, headers=caller.headers(case))
    answers[caller.name, response.status_code] += 1
    expected = caller.expected(case)
    if expected is not None:
        assert response.status_code in expected, (
            f"{caller.name} caller: {case.method} {case.formatted_path} answered "
            f"{response.status_code}, expected one of {sorted(expected)}"
        )
