"""Docker Distribution notifications: every recorded request, the docs examples, and errors."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import distribution, payload
from handlers.events import Action, Parsed
from receiver.errors import PayloadError
from tests.support.fixture_files import FIXTURES, load_recorded

RECORDED = FIXTURES / "distribution"
DOCS = FIXTURES / "distribution-docs"
V1 = {"Content-Type": distribution.ENVELOPE_V1}
V2 = {"Content-Type": distribution.ENVELOPE_V2}


@dataclass(frozen=True)
class Expected:
    """What one recorded request holds: at most one event, as the registry sent them one by one."""

    action: Action | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None  # a prefix
    registry: str = "127.0.0.1:5056"

    @property
    def events(self) -> int:
        return 0 if self.action is None else 1

    @property
    def ignored(self) -> int:
        return 1 - self.events


IGNORED = Expected()
LOCAL = "localhost:5056"
EXPECTED = {
    "01-push-oci-manifest-push-blob.json": IGNORED,
    "02-push-oci-manifest-push-blob.json": IGNORED,
    "03-push-oci-manifest-push-manifest.json": Expected(
        action=Action.PUSH, repository="team/app", tag="1.0.0", digest="sha256:a9e0"
    ),
    "04-push-docker-v2s2-pull-blob.json": IGNORED,
    "05-push-docker-v2s2-push-blob.json": IGNORED,
    "06-push-docker-v2s2-push-manifest.json": Expected(
        action=Action.PUSH, repository="team/app", tag="1.1.0", digest="sha256:4ef6"
    ),
    "07-overwrite-tag-pull-blob.json": IGNORED,
    "08-overwrite-tag-pull-blob.json": IGNORED,
    "09-overwrite-tag-push-manifest.json": Expected(
        action=Action.PUSH, repository="team/app", tag="1.0.0", digest="sha256:2aa1"
    ),
    "10-retag-same-digest-pull-manifest.json": IGNORED,
    "11-retag-same-digest-pull-blob.json": IGNORED,
    "12-retag-same-digest-pull-blob.json": IGNORED,
    "13-retag-same-digest-pull-blob.json": IGNORED,
    "14-retag-same-digest-push-manifest.json": Expected(
        action=Action.PUSH, repository="team/app", tag="latest", digest="sha256:4ef6"
    ),
    "15-cross-repo-mount-pull-manifest.json": IGNORED,
    "16-cross-repo-mount-pull-blob.json": IGNORED,
    "17-cross-repo-mount-mount-blob.json": IGNORED,
    "18-cross-repo-mount-pull-blob.json": IGNORED,
    "19-cross-repo-mount-push-blob.json": IGNORED,
    "20-cross-repo-mount-push-manifest.json": Expected(
        action=Action.PUSH, repository="other/app", tag="1.1.0", digest="sha256:4ef6"
    ),
    "21-pull-manifest-pull-manifest.json": IGNORED,
    "22-push-oci-index-multiarch-pull-blob.json": IGNORED,
    "23-push-oci-index-multiarch-mount-blob.json": IGNORED,
    "24-push-oci-index-multiarch-push-blob.json": IGNORED,
    "25-push-oci-index-multiarch-push-manifest.json": IGNORED,  # child manifest, no tag
    "26-push-oci-index-multiarch-pull-blob.json": IGNORED,
    "27-push-oci-index-multiarch-push-blob.json": IGNORED,
    "28-push-oci-index-multiarch-push-manifest.json": IGNORED,  # child manifest, no tag
    "29-push-oci-index-multiarch-push-manifest.json": Expected(
        action=Action.PUSH, repository="team/multi", tag="2.0.0", digest="sha256:ca2b"
    ),
    "30-head-manifest-before-delete.json": IGNORED,
    "31-delete-manifest-by-digest.json": Expected(
        action=Action.DELETE, repository="team/app", digest="sha256:4ef6", registry=LOCAL
    ),
    "32-delete-manifest-tag-event-a.json": Expected(
        action=Action.DELETE, repository="team/app", tag="1.1.0", registry=LOCAL
    ),
    "33-delete-manifest-tag-event-b.json": Expected(
        action=Action.DELETE, repository="team/app", tag="latest", registry=LOCAL
    ),
}


def recorded_event(name: str) -> dict[str, Any]:
    """The single raw event of a recorded request, to build variants from."""
    document = json.loads((RECORDED / name).read_bytes())
    event: dict[str, Any] = document["body"]["events"][0]
    return event


def envelope(*events: object) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def test_the_table_covers_every_recorded_request() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in RECORDED.iterdir())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_request(name: str) -> None:
    expected = EXPECTED[name]
    headers, body = load_recorded(RECORDED / name)

    parsed = distribution.parse(body, headers, source="hub")

    assert (len(parsed.events), parsed.ignored, parsed.problems) == (
        expected.events,
        expected.ignored,
        (),
    )
    if expected.action is None:
        return
    [event] = parsed.events
    raw = json.loads(body)["events"][0]
    assert event.action is expected.action
    assert event.repository == expected.repository
    assert event.tag == expected.tag
    if expected.digest is None:
        assert event.digest is None
    else:
        assert event.digest is not None
        assert event.digest.startswith(expected.digest)
        assert event.digest == raw["target"]["digest"]
    assert event.registry == expected.registry
    assert event.event_id == raw["id"]
    assert event.source == "hub"
    assert event.actor is None
    assert event.media_type == raw["target"].get("mediaType")
    assert event.occurred_at.tzinfo is UTC
    assert event.occurred_at.isoformat()[:23] == raw["timestamp"][:23]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_configured_registry_replaces_the_request_host(name: str) -> None:
    headers, body = load_recorded(RECORDED / name)

    parsed = distribution.parse(body, headers, source="hub", registry="Registry.Example.COM")

    assert all(event.registry == "registry.example.com" for event in parsed.events)


def test_first_tagged_push_in_detail() -> None:
    headers, body = load_recorded(RECORDED / "03-push-oci-manifest-push-manifest.json")

    [event] = distribution.parse(body, headers, source="hub").events

    assert event.digest == (
        "sha256:a9e055099b6cbdea524246498e439ef863f21643ddc85572098d6ddf9c6ec28d"
    )
    assert event.event_id == "6b6dd803-d134-4902-9841-c92f735b42bd"
    assert event.media_type == "application/vnd.oci.image.manifest.v1+json"
    # 13:17:58.167119017Z: nine fractional digits, truncated to microseconds
    assert event.occurred_at == datetime(2026, 11, 22, 13, 17, 58, 167119, tzinfo=UTC)


def test_multi_arch_push_batched_keeps_only_the_tagged_index() -> None:
    names = [name for name in sorted(EXPECTED) if name.startswith(("22-", "23-", "24-", "25-"))]
    names += [name for name in sorted(EXPECTED) if name.startswith(("26-", "27-", "28-", "29-"))]
    body = envelope(*(recorded_event(name) for name in names))

    parsed = distribution.parse(body, V1, source="hub")

    assert [(e.action, e.repository, e.tag) for e in parsed.events] == [
        (Action.PUSH, "team/multi", "2.0.0")
    ]
    assert (parsed.ignored, parsed.problems) == (7, ())


# --- the examples from Distribution's docs and tests -------------------------------------------


def test_docs_envelope_with_tag_only_in_the_url() -> None:
    headers, body = load_recorded(DOCS / "distribution_test_envelope_push.json")

    parsed = distribution.parse(body, headers, source="hub")

    [event] = parsed.events
    assert (event.action, event.repository, event.tag, event.digest) == (
        Action.PUSH,
        "library/test",
        "latest",
        "sha256:0123456789abcdef0",
    )
    assert (event.registry, event.actor, event.event_id) == (
        "registrycluster.local",
        "test-actor",
        "asdf-asdf-asdf-asdf-0",
    )
    assert event.occurred_at == datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)
    assert (parsed.ignored, parsed.problems) == (2, ())  # layers, though their url says manifests


def test_docs_push_of_an_untagged_manifest_and_layers_is_all_ignored() -> None:
    headers, body = load_recorded(DOCS / "distribution_docs_push_manifest_and_layers.json")

    assert distribution.parse(body, headers, source="hub") == Parsed(ignored=3)


def test_docs_pull_is_ignored_and_its_offset_timestamp_is_read() -> None:
    headers, body = load_recorded(DOCS / "distribution_docs_pull_manifest.json")

    assert distribution.parse(body, headers, source="hub") == Parsed(ignored=1)
    assert payload.parse_rfc3339("2016-03-09T14:44:26.402973972-08:00") == datetime(
        2016, 3, 9, 22, 44, 26, 402973, tzinfo=UTC
    )


def test_docs_delete_target_by_digest() -> None:
    fragment = json.loads((DOCS / "distribution_docs_delete_target_fragment.json").read_bytes())
    event = {"id": "d1", "timestamp": "2024-05-06T07:08:09Z", "action": "delete", **fragment}

    parsed = distribution.parse(
        json.dumps(event).encode(), V2, source="hub", registry="registry.local"
    )

    [deleted] = parsed.events
    assert (deleted.action, deleted.repository, deleted.tag, deleted.digest) == (
        Action.DELETE,
        "library/test",
        None,
        "sha256:d89e1bee20d9cb344674e213b581f14fbd8e70274ecf9d10c514bab78a307845",
    )
    assert deleted.registry == "registry.local"


def test_delete_without_any_registry_host_is_a_problem() -> None:
    fragment = json.loads((DOCS / "distribution_docs_delete_target_fragment.json").read_bytes())
    event = {"id": "d1", "timestamp": "2024-05-06T07:08:09Z", "action": "delete", **fragment}

    parsed = distribution.parse(envelope(event), V1, source="hub")

    assert parsed == Parsed(problems=("events[0]: delete without a registry host",))


def test_a_bare_target_without_an_action_is_ignored() -> None:
    headers, body = load_recorded(DOCS / "distribution_docs_delete_target_fragment.json")

    assert distribution.parse(body, headers, source="hub") == Parsed(ignored=1)


# --- envelopes, content types and headers -------------------------------------------------------

PUSH_03 = "03-push-oci-manifest-push-manifest.json"


@pytest.mark.parametrize(
    "headers",
    [
        V1,
        V2,
        {"content-type": distribution.ENVELOPE_V2},
        {"CONTENT-TYPE": "application/json; charset=utf-8"},
        {"Content-Type": "Application/JSON"},
        {},
        {"Content-Type": ""},
    ],
)
@pytest.mark.parametrize("shape", ["envelope", "bare event"])
def test_accepted_content_types_and_shapes(headers: dict[str, str], shape: str) -> None:
    event = recorded_event(PUSH_03)
    body = envelope(event) if shape == "envelope" else json.dumps(event).encode()

    parsed = distribution.parse(body, headers, source="hub")

    assert [(e.action, e.tag) for e in parsed.events] == [(Action.PUSH, "1.0.0")]


def test_v2_single_event_body() -> None:
    body = json.dumps(recorded_event("32-delete-manifest-tag-event-a.json")).encode()

    [event] = distribution.parse(body, V2, source="hub").events

    assert (event.action, event.tag, event.digest, event.registry) == (
        Action.DELETE,
        "1.1.0",
        None,
        "localhost:5056",
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_body_shape_decides_whatever_the_content_type(content_type: str) -> None:
    parsed = distribution.parse(envelope(), {"Content-Type": content_type}, source="hub")
    assert parsed == distribution.parse(envelope(), V1, source="hub")


def test_header_lookup_ignores_case() -> None:
    assert payload.header({"X-Thing": "a"}, "x-thing") == "a"
    assert payload.header({"x-thing": "a"}, "X-THING") == "a"
    assert payload.header({}, "X-Thing") is None


def test_a_batch_keeps_events_in_order() -> None:
    names = [
        PUSH_03,
        "01-push-oci-manifest-push-blob.json",
        "06-push-docker-v2s2-push-manifest.json",
    ]
    body = envelope(*(recorded_event(name) for name in names))

    parsed = distribution.parse(body, V1, source="hub")

    assert [e.tag for e in parsed.events] == ["1.0.0", "1.1.0"]
    assert (parsed.ignored, parsed.problems) == (1, ())


def test_empty_envelope() -> None:
    assert distribution.parse(envelope(), V1, source="hub") == Parsed()


# --- manifest or blob, tag from the url, registry host ------------------------------------------


def push_variant(**target: object) -> dict[str, Any]:
    """The push of fixture 03 with its target fields replaced (a None value removes the field)."""
    event = copy.deepcopy(recorded_event(PUSH_03))
    event["target"].update(target)
    event["target"] = {key: value for key, value in event["target"].items() if value is not None}
    return event


MANIFEST_URL = "http://127.0.0.1:5056/v2/team/app/manifests/"
BLOB_URL = "http://127.0.0.1:5056/v2/team/app/blobs/sha256:85d2990218ab"


@pytest.mark.parametrize(
    "media_type",
    [
        "application/octet-stream",
        "application/vnd.docker.container.image.rootfs.diff+x-gtar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
    ],
)
def test_blob_media_types_are_ignored_even_with_a_manifests_url(media_type: str) -> None:
    event = push_variant(mediaType=media_type, url=MANIFEST_URL + "latest", tag=None)

    assert distribution.parse(envelope(event), V1, source="hub") == Parsed(ignored=1)


@pytest.mark.parametrize(
    ("url", "tag", "expected"),
    [
        (MANIFEST_URL + "v1", None, "v1"),
        (MANIFEST_URL + "sha256:a9e055099b6c", None, None),
        (MANIFEST_URL + "sha256%3Aa9e055099b6c", None, None),
        (MANIFEST_URL + "sha256:a9e055099b6c", "given", "given"),
        (BLOB_URL, None, None),
        (BLOB_URL, "given", None),  # a blob by its url: never deploy-relevant
        (None, "given", "given"),
        (None, None, None),
        ("http://[broken/v2/team/app/manifests/v1", None, None),
    ],
)
def test_unknown_media_type_is_judged_by_url(
    url: str | None, tag: str | None, expected: str | None
) -> None:
    event = push_variant(mediaType="application/vnd.example.unknown+json", url=url, tag=tag)

    parsed = distribution.parse(envelope(event), V1, source="hub", registry="r.example")

    assert [e.tag for e in parsed.events] == ([] if expected is None else [expected])
    assert parsed.ignored == (1 if expected is None else 0)


def test_manifest_media_type_with_a_blobs_url_is_still_a_manifest() -> None:
    event = push_variant(url=BLOB_URL)

    assert [e.tag for e in distribution.parse(envelope(event), V1, source="hub").events] == [
        "1.0.0"
    ]


def test_blob_delete_is_ignored() -> None:
    event = recorded_event("31-delete-manifest-by-digest.json")
    event["target"]["url"] = BLOB_URL

    assert distribution.parse(envelope(event), V1, source="hub") == Parsed(ignored=1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://Registry.Example.com:5000/v2/team/app/manifests/1.0.0",
            "registry.example.com:5000",
        ),
        ("https://user:secret@reg.example/v2/team/app/manifests/1.0.0", "reg.example"),
    ],
)
def test_registry_falls_back_to_the_url_host(url: str, expected: str) -> None:
    event = push_variant(url=url)
    del event["request"]

    [parsed] = distribution.parse(envelope(event), V1, source="hub").events

    assert parsed.registry == expected


@pytest.mark.parametrize("unknown", ["pull", "mount", "frobnicate", "", None, 7])
def test_other_actions_are_ignored(unknown: object) -> None:
    event = recorded_event(PUSH_03)
    event["action"] = unknown

    assert distribution.parse(envelope(event), V1, source="hub") == Parsed(ignored=1)


def test_actor_name_is_kept() -> None:
    event = push_variant()
    event["actor"] = {"name": "ci-bot"}

    [parsed] = distribution.parse(envelope(event), V1, source="hub").events

    assert parsed.actor == "ci-bot"


# --- bodies that cannot be used, and records that cannot ---------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
        (b"\xff\xfe\xfa", "body is not valid JSON"),
        (b"[]", "body is not a JSON object"),
        (b'[{"events": []}]', "body is not a JSON object"),
        (b'"events"', "body is not a JSON object"),
        (b"null", "body is not a JSON object"),
        (b'{"events": {}}', "'events' is not a list"),
        (b'{"events": null}', "'events' is not a list"),
        (b'{"hello": "world"}', "body has neither 'events' nor a single event"),
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply"),
    ],
)
def test_unusable_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as raised:
        distribution.parse(body, V1, source="hub")

    assert str(raised.value) == reason


def test_a_push_without_repository_is_a_problem_and_good_events_are_kept() -> None:
    good = [recorded_event(PUSH_03), recorded_event("06-push-docker-v2s2-push-manifest.json")]
    bad = push_variant(repository=None)
    blob = recorded_event("01-push-oci-manifest-push-blob.json")

    parsed = distribution.parse(envelope(good[0], blob, bad, good[1]), V1, source="hub")

    assert [e.event_id for e in parsed.events] == [good[0]["id"], good[1]["id"]]
    assert parsed.ignored == 1
    assert parsed.problems == ("events[2]: push without target.repository",)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"target": {"digest": None}}, "events[0]: push without target.digest"),
        ({"id": None}, "events[0]: push without id"),
        ({"id": ""}, "events[0]: push without id"),
        ({"timestamp": "yesterday"}, "events[0]: push without a valid timestamp"),
        ({"timestamp": "2026-13-22T13:17:58Z"}, "events[0]: push without a valid timestamp"),
        ({"timestamp": None}, "events[0]: push without a valid timestamp"),
        ({"id": 5, "timestamp": 5}, "events[0]: push without id, a valid timestamp"),
        ({"target": None}, "events[0]: push without target"),
        ({"target": "team/app:1.0.0"}, "events[0]: push without target"),
    ],
)
def test_unusable_pushes_are_problems(change: dict[str, Any], reason: str) -> None:
    event = push_variant()
    for key, value in change.items():
        if isinstance(value, dict):
            event[key] = {k: v for k, v in event[key].items() if k not in value}
        elif value is None:
            del event[key]
        else:
            event[key] = value

    assert distribution.parse(envelope(event), V1, source="hub") == Parsed(problems=(reason,))


def test_a_delete_with_neither_tag_nor_digest_is_a_problem() -> None:
    event = recorded_event("32-delete-manifest-tag-event-a.json")
    del event["target"]["tag"]

    parsed = distribution.parse(envelope(event), V1, source="hub")

    assert parsed == Parsed(problems=("events[0]: delete without target.tag or target.digest",))


def test_a_record_that_is_not_an_object_is_a_problem() -> None:
    parsed = distribution.parse(envelope(recorded_event(PUSH_03), "push", 3), V1, source="hub")

    assert len(parsed.events) == 1
    assert parsed.problems == ("events[1]: not a JSON object", "events[2]: not a JSON object")


def test_problems_never_quote_values() -> None:
    event = push_variant(repository=None)
    event["id"] = None
    event["timestamp"] = "Bearer secrettoken"

    [problem] = distribution.parse(envelope(event), V1, source="hub").problems

    assert "secret" not in problem


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T13:17:58.114110227Z", datetime(2026, 11, 22, 13, 17, 58, 114110, tzinfo=UTC)),
        ("2026-11-22T13:18:04.6437527Z", datetime(2026, 11, 22, 13, 18, 4, 643752, tzinfo=UTC)),
        ("2026-11-22t13:18:04.5z", datetime(2026, 11, 22, 13, 18, 4, 500000, tzinfo=UTC)),
        ("2006-01-02T15:04:05Z", datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)),
        ("2006-01-02T15:04:05.999999999+02:00", datetime(2006, 1, 2, 13, 4, 5, 999999, tzinfo=UTC)),
        ("2006-01-02 15:04:05-08:00", datetime(2006, 1, 2, 23, 4, 5, tzinfo=UTC)),
        ("2006-01-02T15:04:05", None),  # no offset: not RFC 3339
        ("2006-01-02", None),
        ("2006-02-30T15:04:05Z", None),
        ("0001-01-01T00:30:00+01:00", None),  # before datetime.min in UTC
        ("\uff12\uff10\uff10\uff16-01-02T15:04:05Z", None),  # fullwidth digits
        ("", None),
        (None, None),
    ],
)
def test_rfc3339(text: str | None, expected: datetime | None) -> None:
    parsed = payload.parse_rfc3339(text)

    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def test_nine_digit_timestamp_through_parse() -> None:
    event = push_variant()
    event["timestamp"] = "2026-11-22T13:17:58.000000001-01:00"

    [parsed] = distribution.parse(envelope(event), V1, source="hub").events

    assert parsed.occurred_at == datetime(2026, 11, 22, 14, 17, 58, tzinfo=UTC)


# --- never anything but PayloadError ------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "events",
        "id",
        "action",
        "timestamp",
        "target",
        "request",
        "host",
        "actor",
        "name",
        "mediaType",
        "url",
        "tag",
        "digest",
        "repository",
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
            "push",
            "delete",
            "pull",
            "2026-11-22T13:17:58.1Z",
            MANIFEST_URL + "v1",
            BLOB_URL,
            "application/octet-stream",
            "application/vnd.oci.image.index.v1+json",
            "sha256:ab",
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
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "content-type", "X-Other"]),
    st.sampled_from(
        [distribution.ENVELOPE_V1, distribution.ENVELOPE_V2, "application/json", "", "text/plain"]
    )
    | st.text(max_size=10),
)


# Bounded and without the slow-input health check: the suite runs on shared, busy machines.
PROPERTY = settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)


def records_of(body: bytes) -> int:
    """How many records a body that parses holds: its ``events`` list, or itself as the one
    event that newer registries send bare."""
    document = json.loads(body)
    return len(document["events"]) if "events" in document else 1


def parse_or_payload_error(body: bytes, headers: dict[str, str]) -> None:
    try:
        parsed = distribution.parse(body, headers, source="hub")
    except PayloadError:
        return
    assert isinstance(parsed, Parsed)
    # Every record is counted once: as an event, a problem, or ignored.
    assert parsed.ignored + len(parsed.events) + len(parsed.problems) == records_of(body)
    assert all(event.source == "hub" for event in parsed.events)


@PROPERTY
@given(body=st.binary(max_size=200), headers=HEADERS)
def test_arbitrary_bytes_raise_only_payload_error(body: bytes, headers: dict[str, str]) -> None:
    parse_or_payload_error(body, headers)


@PROPERTY
@given(value=JSON_VALUES, headers=HEADERS)
def test_arbitrary_json_raises_only_payload_error(value: object, headers: dict[str, str]) -> None:
    parse_or_payload_error(json.dumps(value).encode(), headers)


@PROPERTY
@given(events=st.lists(JSON_VALUES, max_size=4))
def test_arbitrary_events_never_raise(events: list[object]) -> None:
    parsed = distribution.parse(envelope(*events), V1, source="hub")

    assert parsed.ignored + len(parsed.events) + len(parsed.problems) == len(events)
