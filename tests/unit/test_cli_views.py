"""How the CLI shows the API's answers: aligned tables, times, images and targets."""

from __future__ import annotations

import pytest

from receiver.cli import views
from receiver.views.answers import RepositoryJson, TargetJson

DIGEST = "sha256:" + "ab" * 32


def test_a_table_aligns_every_column_but_the_last() -> None:
    text = views.table(["A", "LONGER", "LAST"], [["x", "y", "a long last cell"], ["xyz", "", "z"]])
    assert text.splitlines() == [
        "A    LONGER  LAST",
        "x    y       a long last cell",
        "xyz          z",
    ]


def test_a_table_without_headers_or_rows() -> None:
    assert views.table(None, [["key", "value"], ["k", "v"]]) == "key  value\nk    v"
    assert views.table(None, []) == ""


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        ("2026-12-01T11:06:41.123456+00:00", "2026-12-01 11:06:41"),
        ("2026-12-01T12:06:41+01:00", "2026-12-01 11:06:41"),
        (None, "-"),
    ],
)
def test_times_are_utc_to_the_second(moment: str | None, shown: str) -> None:
    assert views.time_text(moment) == shown


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        (f"localhost:5000/team/app:1.0.0@{DIGEST}", "1.0.0@sha256:abababababab"),
        (f"localhost:5000/team/app@{DIGEST}", "sha256:abababababab"),
        ("localhost:5000/team/app:1.0.0", "1.0.0"),
        ("not a reference", "not a reference"),
        (None, "-"),
    ],
)
def test_images_are_their_tag_and_short_digest(image: str | None, shown: str) -> None:
    assert views.reference_text(image) == shown


def target(kind: str, name: str, **options: str) -> TargetJson:
    return {
        "kind": kind,
        "name": name,
        "options": options,
        "policy": None,
        "notify": [],
        "release": {},
    }


def test_targets_show_as_their_key() -> None:
    assert views.target_text(target("nomad", "app", namespace="ops", group="web")) == (
        "nomad:app[group=web,namespace=ops]"
    )
    assert views.target_text(target("container", "web")) == "container:web"


def test_no_repositories_says_where_they_come_from() -> None:
    assert views.repositories({"repositories": []}, tags={}) == (
        "no watched repositories (add some under repositories: in the configuration)"
    )


def test_a_repository_without_configured_targets_moves_labelled_workloads() -> None:
    repo: RepositoryJson = {
        "name": "team/app",
        "image": "localhost:5000/team/app",
        "pinned_tag": "",
        "auto_deploy": False,
        "policy": "minor",
        "match_prerelease": True,
        "filters": [],
        "targets": [],
        "changed_through_api": [],
        "updated_at": "2026-12-01T11:06:41+00:00",
    }
    tags = {"team/app": ["1.3.0", "1.2.0", "1.1.0", "1.0.0"]}
    [_, row] = views.repositories({"repositories": [repo]}, tags=tags).splitlines()
    assert row.split() == [
        "team/app",
        "localhost:5000/team/app",
        "-",
        "off",
        "minor",
        "(labelled)",
        "1.3.0,",
        "1.2.0,",
        "1.1.0",
        "(+1)",
    ]
