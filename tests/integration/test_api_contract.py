"""The API answers as its OpenAPI document says: schemathesis against the live app.

The app runs on a real port over a real PostgreSQL, with a watched repository, deploys already
made, a rejected notification and a notice that could not be sent, so that lists are not empty;
half of the valid repository names and ids drawn are those of what exists, so that valid data
reaches the handlers rather than a 404. Every operation of the document is tested by four
callers (a write token, a read token, a wrong token, none) with positive and negative data and
every check schemathesis has: every answer must be documented (status, content type, body,
headers) and come within 10 s, no answer may be a 5xx, data the schema allows must be accepted
(or answered a 400 the document gives for what a schema cannot say, and then for a reason that
holds for that request: an unwatched repository, an unknown tag, a regexp RE2 refuses) and data
it does not allow refused with a 4xx, a method a path does not list gets a 405 whose ``Allow``
lists those it does; a read token writing gets 403 and a caller without a valid token 401. One
check is off for one operation, where it cannot apply (below).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, HookContext

from deployers.base import Deployers
from receiver.app import init_app
from receiver.decide.rules.policy import parse_policy
from receiver.errors import PolicyError
from receiver.http.openapi import load_document
from receiver.http.repositories import NAME_PATTERN
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
#: REGDEPLOY_API_EXAMPLES=200 makes a deeper run, REGDEPLOY_API_SEED=N another one.
MAX_EXAMPLES = int(os.environ.get("REGDEPLOY_API_EXAMPLES", "25"))
SEED = int(os.environ.get("REGDEPLOY_API_SEED", "20261122"))
DOCUMENT = load_document()
SOURCE_TOKENS = {"registry": REGISTRY_TOKEN, "harbor": HARBOR_TOKEN}
#: The tags the registry has told of (``_seed`` pushes them); any other is one it has not.
PUSHED = {"1.1.0": 2, "2.0.0": 3}
#: What positive_data_acceptance takes by default (schemathesis's ``expected-statuses``).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
#: The 400 answers the document gives to requests its schemas allow, for what a schema cannot
#: say: registrywatcher's 400 for a repository it does not watch, a tag the registry has not
#: told of, a regexp RE2 does not run. Such a 400 must be one of those (``_schema_valid_400``).
SCHEMA_VALID_400 = {
    "#/components/responses/RegistrywatcherBadRequest",
    "#/components/responses/ChangeRefused",
    "#/components/responses/DeployRefused",
}


def _answering_valid_data_with_400() -> list[str]:
    return sorted(
        operation["operationId"]
        for item in DOCUMENT["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        and operation.get("responses", {}).get("400", {}).get("$ref") in SCHEMA_VALID_400
    )


ANSWERING_VALID_DATA_WITH_400 = _answering_valid_data_with_400()


SCHEMA = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            # Every check schemathesis has, and an answer within 10 s (a loaded CI machine).
            "checks": {"enabled": True, "max_response_time": 10},
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {
                    # Valid data must still be accepted there, or answered the documented 400
                    # for a reason that holds for the request (``_schema_valid_400``).
                    "include-operation-id": ANSWERING_VALID_DATA_WITH_400,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}
                    },
                },
                {
                    # Inapplicable: an authenticated notification that cannot be used (not JSON,
                    # not a known shape) is stored as rejected and answered 202, by design: a
                    # registry retries any other answer forever, holding back every later one.
                    "include-operation-id": ["receiveNotification"],
                    "checks": {"negative_data_rejection": {"enabled": False}},
                },
            ],
        }
    ),
)


#: What exists in the seeded app: the watched repository, the first deployment and the rejected
#: notification (both id 1). A drawn name or id almost never names any of them.
SEEDED: dict[str, Any] = {"name": NAME, "id": 1}


@SCHEMA.hook
def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Half of the valid names and ids drawn become those of what exists, so that data the
    schema allows reaches the handlers (a pin, a policy, a deploy of team/app) instead of a
    404. A value the schema does not allow (negative data) stays as it was drawn."""
    drawn = path_parameters or {}
    seeded = {key: SEEDED[key] for key, value in drawn.items() if _valid(key, value)}
    if not seeded:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**drawn, **seeded}])


def _valid(key: str, value: object) -> bool:
    """Whether ``value`` is one the document allows for the path parameter ``key``."""
    if key == "name":
        return isinstance(value, str) and re.fullmatch(NAME_PATTERN, value) is not None
    return key == "id" and type(value) is int and 1 <= value <= 2**63 - 1


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


def _schema_valid_400(case: Case[Any]) -> list[str]:
    """How the service words the 400s the document gives to this request although its schema
    allows it (``SCHEMA_VALID_400``): the beginnings of the messages it may answer."""
    operation = DOCUMENT["paths"][case.operation.path][case.operation.method.lower()]
    if operation["operationId"] not in ANSWERING_VALID_DATA_WITH_400:
        return []
    name = unquote((case.path_parameters or {}).get("name", ""))
    body = case.body if isinstance(case.body, dict) else {}
    reasons = []
    if case.operation.path.startswith("/tags/") and name != NAME:
        reasons.append(f"no watched repository named {name!r}")
    tag = body.get("tag", body.get("pinned_tag"))
    if isinstance(tag, str) and tag and tag not in PUSHED:
        reasons.append(f"tag {tag!r} of {name} is not in the registry")
    policy = body.get("policy")
    if isinstance(policy, str) and policy[:7].lower() == "regexp:":
        try:
            parse_policy(policy)
        except PolicyError as refused:
            reasons.append(str(refused))
    return reasons


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
    for tag, n in PUSHED.items():
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


@pytest.fixture(scope="module")
def live_session() -> Iterator[requests.Session]:
    """One connection for the requests of a caller (none is opened per request); it keeps no
    cookies, so that every request says who it is with its own headers."""
    with requests.Session() as session:
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        yield session


@SCHEMA.parametrize()
def test_api_answers_as_documented(
    case: Case[Any],
    live: LiveApp,
    live_session: requests.Session,
    caller: Caller,
    answers: Counter[tuple[str, int]],
) -> None:
    response = case.call_and_validate(
        base_url=live.url, headers=caller.headers(case), session=live_session
    )
    answers[caller.name, response.status_code] += 1
    if (
        response.status_code == 400
        and case.meta is not None
        and case.meta.generation.mode.is_positive
    ):
        message = response.json()["message"]
        reasons = _schema_valid_400(case)
        assert any(message.startswith(reason) for reason in reasons), (
            f"{case.method} {case.formatted_path} refused data its schema allows: {message!r}; "
            f"the document gives a 400 here only for: {reasons or 'nothing'}"
        )
    expected = caller.expected(case)
    if expected is not None:
        assert response.status_code in expected, (
            f"{caller.name} caller: {case.method} {case.formatted_path} answered "
            f"{response.status_code}, expected one of {sorted(expected)}"
        )
