"""Harbor webhooks: every docs example, tagged variants built from them, and errors."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import harbor
from handlers.events import Action, Budget, Parsed
from receiver.errors import PayloadError
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.harbor_fake import FakeHarbor

HARBOR = FIXTURES / "harbor"
JSON = {"Content-Type": "application/json"}
CLOUDEVENTS = {"Content-Type": "application/cloudevents+json"}
PUSHED_DIGEST = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
DELETED_DIGEST = "sha256:2bb501e6173d9d006e56de5bce2720eb06396803300fe1687b58a7ff32bf4c14"


@dataclass(frozen=True)
class Expected:
    action: Action | None = None
    tag: str | None = None
    digest: str | None = None
    event_id: str | None = None  # None: the SHA-256 of the body
    occurred_at: datetime | None = None


IGNORED = Expected()
EXPECTED = {
    "harbor_docs_cloudevents_artifact_deleted.json": Expected(
        action=Action.DELETE,
        tag="3.8",
        digest=DELETED_DIGEST,
        event_id="343f1623-7cba-487c-88f1-c5ebf55e93aa",
        occurred_at=datetime(2023, 4, 3, 6, 16, 38, tzinfo=UTC),
    ),
    "harbor_docs_cloudevents_artifact_pulled.json": IGNORED,
    "harbor_docs_cloudevents_artifact_pushed.json": IGNORED,  # untagged: tag is the digest
    "harbor_docs_cloudevents_scanning_completed.json": IGNORED,
    "harbor_docs_default_artifact_deleted.json": Expected(
        action=Action.DELETE,
        tag="3.8",
        digest=DELETED_DIGEST,
        occurred_at=datetime.fromtimestamp(1680502598, UTC),
    ),
    "harbor_docs_default_artifact_pulled.json": IGNORED,
    "harbor_docs_default_artifact_pushed.json": IGNORED,  # untagged: tag is the digest
    "harbor_docs_default_scanning_completed.json": IGNORED,
}


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HARBOR / name).read_bytes())
    return loaded


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def resources_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    data = doc["data"] if "specversion" in doc else doc["event_data"]
    resources: list[dict[str, Any]] = data["resources"]
    return resources


def tagged(name: str, tag: str = "1.2.3") -> dict[str, Any]:
    """A docs example with its resource tagged, as Harbor sends a push of ``app:1.2.3``."""
    doc = document(name)
    resource = resources_of(doc)[0]
    resource["tag"] = tag
    resource["resource_url"] = f"harbor.example.com/lib/app:{tag}"
    return doc


def test_the_table_covers_every_example() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in HARBOR.iterdir())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_docs_example(name: str) -> None:
    expected = EXPECTED[name]
    headers, body = load_recorded(HARBOR / name)

    parsed = harbor.parse(body, headers, source="harbor")

    if expected.action is None:
        assert parsed == Parsed(ignored=1)
        return
    assert (parsed.ignored, parsed.problems) == (0, ())
    [event] = parsed.events
    assert (event.action, event.repository, event.tag, event.digest) == (
        expected.action,
        "harbor/alpine",
        expected.tag,
        expected.digest,
    )
    assert event.event_id == (expected.event_id or hashlib.sha256(body).hexdigest())
    assert (event.registry, event.actor, event.source) == (
        "localhost",
        "harbor-jobservice",
        "harbor",
    )
    assert event.occurred_at == expected.occurred_at
    assert event.occurred_at.tzinfo is UTC
    assert event.media_type is None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_configured_registry_replaces_the_resource_host(name: str) -> None:
    headers, body = load_recorded(HARBOR / name)

    parsed = harbor.parse(body, headers, source="harbor", registry="Harbor.Internal:8443")

    assert all(event.registry == "harbor.internal:8443" for event in parsed.events)


@pytest.mark.parametrize(
    ("name", "event_id", "occurred_at"),
    [
        (
            "harbor_docs_default_artifact_pushed.json",
            None,
            datetime(2023, 4, 3, 6, 4, 53, tzinfo=UTC),
        ),
        (
            "harbor_docs_cloudevents_artifact_pushed.json",
            "66e18103-09c1-41f6-982f-37df223f3eeb",
            datetime(2023, 4, 3, 6, 4, 46, tzinfo=UTC),
        ),
    ],
)
def test_tagged_push(name: str, event_id: str | None, occurred_at: datetime) -> None:
    body = encode(tagged(name))

    parsed = harbor.parse(body, JSON, source="harbor")

    [event] = parsed.events
    assert (event.action, event.registry, event.repository, event.tag, event.digest) == (
        Action.PUSH,
        "harbor.example.com",
        "harbor/alpine",
        "1.2.3",
        PUSHED_DIGEST,
    )
    assert event.event_id == (event_id or hashlib.sha256(body).hexdigest())
    assert (event.occurred_at, event.actor) == (occurred_at, "harbor-jobservice")
    assert (parsed.ignored, parsed.problems) == (0, ())


@pytest.mark.parametrize(
    ("legacy", "action"), [("pushImage", Action.PUSH), ("deleteImage", Action.DELETE)]
)
def test_legacy_types(legacy: str, action: Action) -> None:
    doc = tagged("harbor_docs_default_artifact_pushed.json")
    doc["type"] = legacy

    [event] = harbor.parse(encode(doc), JSON, source="harbor").events

    assert (event.action, event.tag, event.digest) == (action, "1.2.3", PUSHED_DIGEST)


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("harbor_docs_default_artifact_deleted.json", JSON),
        ("harbor_docs_cloudevents_artifact_deleted.json", CLOUDEVENTS),
        ("harbor_docs_cloudevents_artifact_deleted.json", {"content-type": "application/json"}),
    ],
)
def test_delete_of_an_untagged_artifact_keeps_only_the_digest(
    name: str, headers: dict[str, str]
) -> None:
    doc = document(name)
    resources_of(doc)[0]["tag"] = DELETED_DIGEST

    [event] = harbor.parse(encode(doc), headers, source="harbor").events

    assert (event.action, event.tag, event.digest) == (Action.DELETE, None, DELETED_DIGEST)


def test_cloudevents_detected_by_content_type_alone() -> None:
    doc = tagged("harbor_docs_cloudevents_artifact_pushed.json")
    del doc["specversion"]

    for headers in (CLOUDEVENTS, {"CONTENT-TYPE": "Application/CloudEvents+JSON; charset=utf-8"}):
        [event] = harbor.parse(encode(doc), headers, source="harbor").events
        assert event.event_id == "66e18103-09c1-41f6-982f-37df223f3eeb"


@pytest.mark.parametrize(
    "name",
    ["harbor_docs_default_artifact_pushed.json", "harbor_docs_cloudevents_artifact_pushed.json"],
)
def test_several_resources_get_indexed_ids(name: str) -> None:
    doc = tagged(name)
    first = resources_of(doc)[0]
    untagged = {**first, "tag": PUSHED_DIGEST}
    resources_of(doc)[:] = [first, untagged, {**first, "tag": "1.2.4"}]
    body = encode(doc)

    parsed = harbor.parse(body, JSON, source="harbor")

    base = doc.get("id") or hashlib.sha256(body).hexdigest()
    assert [(e.event_id, e.tag) for e in parsed.events] == [
        (f"{base}/0", "1.2.3"),
        (f"{base}/2", "1.2.4"),
    ]
    assert (parsed.ignored, parsed.problems) == (1, ())


def test_body_hash_id_is_stable_for_the_same_body_and_differs_for_another() -> None:
    doc = tagged("harbor_docs_default_artifact_pushed.json")
    body = encode(doc)
    doc["occur_at"] += 1
    later = encode(doc)

    first = harbor.parse(body, JSON, source="harbor").events[0].event_id
    again = harbor.parse(body, JSON, source="harbor").events[0].event_id
    other = harbor.parse(later, JSON, source="harbor").events[0].event_id

    assert first == again == hashlib.sha256(body).hexdigest()
    assert other != first


@pytest.mark.parametrize(
    "kind",
    [
        "PULL_ARTIFACT",
        "SCANNING_COMPLETED",
        "SCANNING_FAILED",
        "SCANNING_STOPPED",
        "QUOTA_EXCEED",
        "QUOTA_WARNING",
        "REPLICATION",
        "TAG_RETENTION",
        "pullImage",
    ],
)
def test_other_default_types_count_once_whatever_they_hold(kind: str) -> None:
    doc = {"type": kind, "occur_at": 1680502372, "event_data": {"resources": "not read"}}

    assert harbor.parse(encode(doc), JSON, source="harbor") == Parsed(ignored=1)


def test_cloudevents_types_do_not_apply_to_the_default_format() -> None:
    doc = tagged("harbor_docs_default_artifact_pushed.json")
    doc["type"] = "harbor.artifact.pushed"

    assert harbor.parse(encode(doc), JSON, source="harbor") == Parsed(ignored=1)


# --- registry host ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_url", "expected"),
    [
        ("harbor.example.com/lib/app:1.2.3", "harbor.example.com"),
        ("Harbor.Example.com/lib/app@sha256:954b", "harbor.example.com"),
        ("harbor:8443/lib/app:1.2.3", "harbor:8443"),
        ("localhost/lib/app:1.2.3", "localhost"),
        ("https://harbor.example.com/lib/app:1.2.3", "harbor.example.com"),
        ("lib/app:1.2.3", None),
        ("app:1.2.3", None),
        ("", None),
        (None, None),
    ],
)
def test_registry_host_from_resource_url(resource_url: str | None, expected: str | None) -> None:
    doc = tagged("harbor_docs_default_artifact_pushed.json")
    resources_of(doc)[0]["resource_url"] = resource_url

    parsed = harbor.parse(encode(doc), JSON, source="harbor")

    if expected is None:
        assert parsed == Parsed(
            problems=("resources[0]: PUSH_ARTIFACT without a registry host in resource_url",)
        )
        parsed = harbor.parse(encode(doc), JSON, source="harbor", registry="configured")
        expected = "configured"
    assert [event.registry for event in parsed.events] == [expected]


# --- bodies that cannot be used, and resources that cannot --------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"<html>", JSON, "body is not valid JSON"),
        (b"", JSON, "body is not valid JSON"),
        (b"[]", JSON, "body is not a JSON object"),
        (b"{}", JSON, "body has no 'type'"),
        (b'{"type": 3}', JSON, "body has no 'type'"),
        (b'{"type": "PUSH_ARTIFACT"}', JSON, "'event_data.resources' is not a non-empty list"),
        (
            b'{"type": "PUSH_ARTIFACT", "event_data": {"resources": {}}}',
            JSON,
            "'event_data.resources' is not a non-empty list",
        ),
        (
            b'{"type": "DELETE_ARTIFACT", "event_data": {"resources": []}}',
            JSON,
            "'event_data.resources' is not a non-empty list",
        ),
        (
            b'{"specversion": "1.0", "type": "harbor.artifact.pushed", "data": null}',
            CLOUDEVENTS,
            "'data.resources' is not a non-empty list",
        ),
    ],
)
def test_unusable_bodies(body: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(PayloadError) as raised:
        harbor.parse(body, headers, source="harbor")

    assert str(raised.value) == reason


def without(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    *parents, last = path
    holder = changed
    for key in parents:
        holder = holder[key]
    del holder[last]
    return changed


DEFAULT_PUSH = "harbor_docs_default_artifact_pushed.json"
CE_PUSH = "harbor_docs_cloudevents_artifact_pushed.json"


@pytest.mark.parametrize(
    ("name", "path", "reason"),
    [
        (
            DEFAULT_PUSH,
            ("event_data", "repository"),
            "resources[0]: PUSH_ARTIFACT without event_data.repository.repo_full_name",
        ),
        (DEFAULT_PUSH, ("occur_at",), "resources[0]: PUSH_ARTIFACT without a valid occur_at"),
        (
            CE_PUSH,
            ("data", "repository"),
            "resources[0]: harbor.artifact.pushed without data.repository.repo_full_name",
        ),
        (CE_PUSH, ("time",), "resources[0]: harbor.artifact.pushed without a valid time"),
        (CE_PUSH, ("id",), "resources[0]: harbor.artifact.pushed without id"),
    ],
)
def test_a_push_missing_a_field_is_a_problem(name: str, path: tuple[str, ...], reason: str) -> None:
    doc = without(tagged(name), *path)

    assert harbor.parse(encode(doc), JSON, source="harbor") == Parsed(problems=(reason,))


@pytest.mark.parametrize("occur_at", ["1680501893", True, None, 1e300, float("inf")])
def test_invalid_occur_at_is_a_problem(occur_at: object) -> None:
    doc = tagged(DEFAULT_PUSH)
    doc["occur_at"] = occur_at

    parsed = harbor.parse(encode(doc), JSON, source="harbor")

    assert parsed.problems == ("resources[0]: PUSH_ARTIFACT without a valid occur_at",)


def test_a_push_without_digest_is_a_problem() -> None:
    doc = tagged(DEFAULT_PUSH)
    del resources_of(doc)[0]["digest"]

    parsed = harbor.parse(encode(doc), JSON, source="harbor")

    assert parsed == Parsed(problems=("resources[0]: PUSH_ARTIFACT without digest",))


def test_a_delete_with_neither_tag_nor_digest_is_a_problem() -> None:
    doc = document("harbor_docs_default_artifact_deleted.json")
    resources_of(doc)[0] = {"resource_url": "localhost/harbor/alpine"}

    parsed = harbor.parse(encode(doc), JSON, source="harbor")

    assert parsed == Parsed(problems=("resources[0]: DELETE_ARTIFACT without tag or digest",))


def test_bad_resources_are_problems_and_good_ones_are_kept() -> None:
    doc = tagged(DEFAULT_PUSH)
    resources: list[Any] = resources_of(doc)
    good = resources[0]
    resources[:] = ["oops", good, {**good, "digest": None}]
    body = encode(doc)

    parsed = harbor.parse(body, JSON, source="harbor")

    assert [event.event_id for event in parsed.events] == [f"{hashlib.sha256(body).hexdigest()}/1"]
    assert parsed.problems == (
        "resources[0]: not a JSON object",
        "resources[2]: PUSH_ARTIFACT without digest",
    )


def test_repository_from_namespace_and_name_when_full_name_is_missing() -> None:
    doc = without(tagged(DEFAULT_PUSH), "event_data", "repository", "repo_full_name")

    [event] = harbor.parse(encode(doc), JSON, source="harbor").events

    assert event.repository == "harbor/alpine"


# --- never anything but PayloadError ------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "type",
        "specversion",
        "id",
        "time",
        "occur_at",
        "operator",
        "event_data",
        "data",
        "resources",
        "repository",
        "repo_full_name",
        "digest",
        "tag",
        "resource_url",
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "PUSH_ARTIFACT",
            "DELETE_ARTIFACT",
            "harbor.artifact.pushed",
            "1.0",
            "2023-04-03T06:04:46Z",
            "harbor.example.com/lib/app:1",
            PUSHED_DIGEST,
        ]
    )
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=25,
)


@settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
@given(value=JSON_VALUES, cloudevents=st.booleans())
def test_arbitrary_json_raises_only_payload_error(value: object, cloudevents: bool) -> None:
    try:
        parsed = harbor.parse(encode(value), CLOUDEVENTS if cloudevents else JSON, source="h")
    except PayloadError:
        return
    assert isinstance(parsed, Parsed)


# --- scan notices -------------------------------------------------------------------------------

SCANNED_DIGEST = PUSHED_DIGEST  # the docs examples scan the pushed alpine
SCANNING = {
    "default": "harbor_docs_default_scanning_completed.json",
    "cloudevents": "harbor_docs_cloudevents_scanning_completed.json",
}
SCAN_TYPES = {
    "default": {
        "SCANNING_COMPLETED": harbor.ScanEnd.COMPLETED,
        "SCANNING_FAILED": harbor.ScanEnd.FAILED,
        "SCANNING_STOPPED": harbor.ScanEnd.STOPPED,
    },
    "cloudevents": {
        "harbor.scan.completed": harbor.ScanEnd.COMPLETED,
        "harbor.scan.failed": harbor.ScanEnd.FAILED,
        "harbor.scan.stopped": harbor.ScanEnd.STOPPED,
    },
}


def notice(
    status: harbor.ScanEnd = harbor.ScanEnd.COMPLETED,
    digest: str = SCANNED_DIGEST,
    repository: str = "harbor/alpine",
) -> harbor.ScanNotice:
    return harbor.ScanNotice(repository=repository, digest=digest, status=status)


def scan_data(doc: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = doc["data"] if "specversion" in doc else doc["event_data"]
    return data


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scan_notices_of_every_docs_example(name: str) -> None:
    headers, body = load_recorded(HARBOR / name)

    expected = (notice(),) if "scanning_completed" in name else ()
    assert harbor.scan_notices(body, headers) == expected


@pytest.mark.parametrize(
    ("form", "kind", "status"),
    [(form, kind, status) for form, types in SCAN_TYPES.items() for kind, status in types.items()],
)
def test_scan_notice_of_each_way_a_scan_ends(form: str, kind: str, status: harbor.ScanEnd) -> None:
    doc = document(SCANNING[form])
    doc["type"] = kind

    assert harbor.scan_notices(encode(doc), JSON) == (notice(status),)
    assert harbor.parse(encode(doc), JSON, source="harbor") == Parsed(ignored=1)


@pytest.mark.parametrize("form", sorted(SCANNING))
def test_scan_notice_without_a_scan_overview(form: str) -> None:
    """harbor#21005: a scheduled scan's notification may come without any result."""
    doc = document(SCANNING[form])
    del resources_of(doc)[0]["scan_overview"]
    scan_data(doc)["scan"] = {}

    assert harbor.scan_notices(encode(doc), JSON) == (notice(),)


@pytest.mark.parametrize(
    ("scan", "expected"),
    [
        ({"scan_type": "vulnerability"}, (notice(),)),
        ({}, (notice(),)),
        ("not an object", (notice(),)),
        ({"scan_type": "sbom"}, ()),
    ],
)
def test_only_vulnerability_scans_are_noticed(scan: object, expected: tuple[object, ...]) -> None:
    doc = document(SCANNING["default"])
    scan_data(doc)["scan"] = scan

    assert harbor.scan_notices(encode(doc), JSON) == expected


def test_scan_notices_one_per_digest_in_order() -> None:
    doc = document(SCANNING["cloudevents"])
    first = resources_of(doc)[0]
    scan_data(doc)["resources"] = [
        first,
        {"digest": DELETED_DIGEST, "tag": "3.8"},
        {"digest": "not-a-digest"},
        {"tag": "latest"},
        "not an object",
        first,
    ]

    assert harbor.scan_notices(encode(doc), JSON) == (notice(), notice(digest=DELETED_DIGEST))


def test_a_cloudevents_scan_type_is_not_one_of_the_default_format() -> None:
    doc = document(SCANNING["default"])
    doc["type"] = "harbor.scan.completed"

    assert harbor.scan_notices(encode(doc), JSON) == ()


def test_cloudevents_scan_notice_by_content_type_alone() -> None:
    doc = document(SCANNING["cloudevents"])
    del doc["specversion"]

    assert harbor.scan_notices(encode(doc), CLOUDEVENTS) == (notice(),)
    assert harbor.scan_notices(encode(doc), JSON) == ()


def test_the_repository_from_namespace_and_name() -> None:
    doc = document(SCANNING["default"])
    scan_data(doc)["repository"] = {"namespace": "team", "name": "tools/app"}

    assert harbor.scan_notices(encode(doc), JSON) == (notice(repository="team/tools/app"),)


def _scan_doc_without(*path: str) -> bytes:
    doc = document(SCANNING["default"])
    return encode(without(doc, *path))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[" * 100_000, id="too-deep"),
        pytest.param(_scan_doc_without("type"), id="no-type"),
        pytest.param(_scan_doc_without("event_data"), id="no-data"),
        pytest.param(_scan_doc_without("event_data", "resources"), id="no-resources"),
        pytest.param(_scan_doc_without("event_data", "repository"), id="no-repository"),
        pytest.param(
            encode({"type": "SCANNING_COMPLETED", "event_data": {"resources": {"a": 1}}}),
            id="resources-not-a-list",
        ),
        pytest.param(
            encode(
                {
                    "type": "SCANNING_COMPLETED",
                    "event_data": {
                        "resources": [{"digest": SCANNED_DIGEST}],
                        "repository": {"repo_full_name": "Not/A Repository"},
                    },
                }
            ),
            id="bad-repository",
        ),
    ],
)
def test_unusable_scan_notifications_say_nothing(body: bytes) -> None:
    assert harbor.scan_notices(body, JSON) == ()


def test_scan_notices_keep_to_the_budget() -> None:
    doc = document(SCANNING["default"])
    resources_of(doc)[:] = [{"digest": SCANNED_DIGEST}] * 3

    assert harbor.scan_notices(encode(doc), JSON, budget=Budget(records=2)) == ()
    assert harbor.scan_notices(encode(doc), JSON, budget=Budget(records=3)) == (notice(),)
    long = Budget(field_bytes=len(SCANNED_DIGEST) - 1)
    assert harbor.scan_notices(encode(doc), JSON, budget=long) == ()


@pytest.mark.parametrize("cloudevents", [False, True])
@pytest.mark.parametrize("overview", [True, False])
@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("scanned", harbor.ScanEnd.COMPLETED),
        ("failed", harbor.ScanEnd.FAILED),
        ("stopped", harbor.ScanEnd.STOPPED),
    ],
)
def test_the_fakes_scan_webhooks_are_noticed(
    cloudevents: bool, overview: bool, outcome: str, status: harbor.ScanEnd
) -> None:
    fake = FakeHarbor()
    getattr(fake, outcome)("team/tools/app", SCANNED_DIGEST)
    headers, body = fake.scan_webhook(
        "team/tools/app", SCANNED_DIGEST, cloudevents=cloudevents, overview=overview
    )

    assert harbor.scan_notices(body, headers) == (notice(status, repository="team/tools/app"),)
    assert harbor.parse(body, headers, source="harbor") == Parsed(ignored=1)


@pytest.mark.parametrize("form", sorted(SCANNING))
def test_the_fakes_scan_webhooks_follow_the_docs_examples(form: str) -> None:
    fake = FakeHarbor(host="localhost")
    fake.scanned("harbor/alpine", SCANNED_DIGEST)
    cloudevents = form == "cloudevents"
    headers, body = fake.scan_webhook(
        "harbor/alpine", SCANNED_DIGEST, cloudevents=cloudevents, scan_type=None
    )
    made, docs = json.loads(body), document(SCANNING[form])

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items()}
        if isinstance(value, list):
            return [shape(item) for item in value]
        return type(value).__name__

    assert shape(made) == shape(docs)
    assert list(made) == list(docs)
    assert scan_data(made)["resources"][0]["resource_url"] == resources_of(docs)[0]["resource_url"]
    assert headers["Content-Type"] == (CLOUDEVENTS if cloudevents else JSON)["Content-Type"]


@settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
@given(value=JSON_VALUES, cloudevents=st.booleans())
def test_scan_notices_of_arbitrary_json_never_raise(value: object, cloudevents: bool) -> None:
    notices = harbor.scan_notices(encode(value), CLOUDEVENTS if cloudevents else JSON)

    assert all(isinstance(found, harbor.ScanNotice) for found in notices)
