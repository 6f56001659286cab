"""How the CLI shows the API's answers: aligned tables, times, images and targets."""

from __future__ import annotations

import pytest

from receiver.cli import views
from receiver.views.answers import (
    ConfigurationJson,
    ProcessJson,
    ReloadJson,
    RepositoryJson,
    StatusJson,
    TargetJson,
)

DIGEST = "sha256:" + "ab" * 32
PATH = "/etc/regdeploy/config.yaml"
LOADED = "2026-12-01T11:06:41.5+00:00"
REFUSED = "2026-12-01T12:00:00+00:00"
PROBLEMS = [
    "repositories[1].policy: unknown policy 'sometimes'",
    "sources[0].token: expected a string",
]


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


def process(role: str, id: str, fingerprint: str, path: str = PATH) -> ProcessJson:
    return {
        "id": id,
        "role": role,
        "config_path": path,
        "fingerprint": fingerprint,
        "started_at": LOADED,
        "loaded_at": LOADED,
        "restart_needed": [],
        "refused_at": None,
        "refusal": None,
        "seen_at": LOADED,
    }


def status_answer(
    processes: list[ProcessJson] | None = None,
    *,
    path: str = PATH,
    restart_needed: list[str] | None = None,
    refused_at: str | None = None,
    refusal: list[str] | None = None,
    processes_agree: bool = True,
) -> StatusJson:
    """A service that is well, running the configuration these say."""
    runs: ConfigurationJson = {
        "process": "web-1",
        "path": path,
        "fingerprint": "0123456789abcdef",
        "loaded_at": LOADED,
        "restart_needed": restart_needed or [],
        "refused_at": refused_at,
        "refusal": refusal,
        "processes_agree": processes_agree,
    }
    return {
        "status": "ok",
        "version": "1.0.0",
        "database": {"embedded": False, "reachable": True, "message": None},
        "deployers": [{"kind": "docker", "reachable": True, "message": None}],
        "deployer_switches": [],
        "dry_run": False,
        "worker": {"enabled": True},
        "queue": None,
        "freezes": [],
        "reconciler": {
            "enabled": False,
            "interval_seconds": 0,
            "holder": None,
            "last_round_at": None,
            "next_round_at": None,
        },
        "configuration": runs,
        "processes": processes or [process("serve", "web-1", runs["fingerprint"])],
    }


HEAD = f"{PATH} (fingerprint 0123456789abcdef, loaded 2026-12-01 11:06:41)"


@pytest.mark.parametrize(
    ("answer", "lines"),
    [
        pytest.param(status_answer(), [HEAD], id="all is well: one line"),
        pytest.param(
            status_answer(path=""),
            ["(no file) (fingerprint 0123456789abcdef, loaded 2026-12-01 11:06:41)"],
            id="started without a file",
        ),
        pytest.param(
            status_answer(refused_at=REFUSED, refusal=PROBLEMS),
            [
                HEAD,
                "last reload REFUSED at 2026-12-01 12:00:00, for 2 problems:",
                "  - repositories[1].policy: unknown policy 'sometimes'",
                "  - sources[0].token: expected a string",
            ],
            id="a refused reload",
        ),
        pytest.param(
            status_answer(refused_at=REFUSED, refusal=PROBLEMS[:1]),
            [
                HEAD,
                "last reload REFUSED at 2026-12-01 12:00:00, for 1 problem:",
                "  - repositories[1].policy: unknown policy 'sometimes'",
            ],
            id="a refused reload of one problem",
        ),
        pytest.param(
            status_answer(restart_needed=["server.port", "database.*"]),
            [HEAD, "restart needed for: server.port, database.*"],
            id="keys that wait for a restart",
        ),
        pytest.param(
            status_answer(
                [
                    process("serve", "web-1", "0123456789abcdef"),
                    process("worker", "worker-12", "fedcba9876543210", "/srv/old.yaml"),
                ],
                processes_agree=False,
            ),
            [
                HEAD,
                "processes DISAGREE on it:",
                "  serve   web-1      fingerprint 0123456789abcdef  /etc/regdeploy/config.yaml",
                "  worker  worker-12  fingerprint fedcba9876543210  /srv/old.yaml",
            ],
            id="processes that disagree",
        ),
        pytest.param(
            status_answer(
                [process("serve", "web-1", "0123456789abcdef"), process("serve", "web-2", "f")],
                processes_agree=False,
                restart_needed=["server.host"],
                refused_at=REFUSED,
                refusal=PROBLEMS[1:],
            ),
            [
                HEAD,
                "last reload REFUSED at 2026-12-01 12:00:00, for 1 problem:",
                "  - sources[0].token: expected a string",
                "restart needed for: server.host",
                "processes DISAGREE on it:",
                "  serve  web-1  fingerprint 0123456789abcdef  /etc/regdeploy/config.yaml",
                "  serve  web-2  fingerprint f                 /etc/regdeploy/config.yaml",
            ],
            id="all of it, in that order",
        ),
        pytest.param(
            status_answer(
                [
                    process("serve", "web-1", "0123456789abcdef"),
                    {
                        **process("worker", "worker-12", "0123456789abcdef"),
                        "refused_at": REFUSED,
                        "refusal": PROBLEMS[1:],
                    },
                ]
            ),
            [
                HEAD,
                "worker worker-12: last reload of /etc/regdeploy/config.yaml REFUSED at "
                "2026-12-01 12:00:00 (its log names the problems)",
            ],
            id="another process refused its reload",
        ),
    ],
)
def test_status_shows_the_configuration(answer: StatusJson, lines: list[str]) -> None:
    assert views.configuration_lines(answer) == lines


def test_the_configuration_is_a_labelled_row_of_status() -> None:
    answer = status_answer(restart_needed=["server.port"])
    shown = views.status(answer, url="http://127.0.0.1:8080").splitlines()
    assert shown[-2:] == [
        f"config      {HEAD}",
        "            restart needed for: server.port",
    ]


def reload_answer(
    outcome: str,
    message: str,
    *,
    restart_needed: list[str] | None = None,
    problems: list[str] | None = None,
) -> ReloadJson:
    return {
        "outcome": outcome,
        "path": PATH,
        "fingerprint": "0123456789abcdef",
        "previous": "0123456789abcdef",
        "restart_needed": restart_needed or [],
        "problems": problems or [],
        "message": message,
    }


@pytest.mark.parametrize(
    ("answer", "lines"),
    [
        pytest.param(
            reload_answer("unchanged", f"{PATH}: unchanged"),
            [f"{PATH}: unchanged"],
            id="unchanged",
        ),
        pytest.param(
            reload_answer("reloaded", f"{PATH}: reloaded"),
            [f"{PATH}: reloaded"],
            id="reloaded",
        ),
        pytest.param(
            reload_answer(
                "reloaded", f"{PATH}: reloaded", restart_needed=["server.port", "database.*"]
            ),
            [f"{PATH}: reloaded", "restart needed for: server.port, database.*"],
            id="reloaded, some of it at the next restart",
        ),
        pytest.param(
            reload_answer("refused", f"{PATH}: refused, 2 problems", problems=PROBLEMS),
            [
                f"{PATH}: refused, 2 problems",
                "  - repositories[1].policy: unknown policy 'sometimes'",
                "  - sources[0].token: expected a string",
            ],
            id="refused",
        ),
    ],
)
def test_a_reload_says_what_it_did(answer: ReloadJson, lines: list[str]) -> None:
    assert views.reloading(answer).splitlines() == lines
