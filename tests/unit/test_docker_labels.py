"""Reading a Docker workload's labels and matching its image against a watched repository."""

from __future__ import annotations

import pytest

from deployers.base import Target
from deployers.docker_engine import DockerSettings, Labels, image_of
from handlers.references import Aliases, ImageName, ImageRef, as_written, parse_reference
from receiver.store.records import restored_target, stored_target

SETTINGS = DockerSettings()
SHA = "sha256:" + "0123456789abcdef" * 4
SHA_NEW = "sha256:" + "fedcba9876543210" * 4
INTERNAL = Aliases.from_groups([("registry.internal:5000", ["reg.local:5000", "10.0.0.5:5000"])])
HUB_APP = ImageName(registry="docker.io", repository="library/app")
TEAM_APP = ImageName(registry="registry.internal:5000", repository="team/app")


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        (" true ", True),
        ("false", False),
        ("", False),
        ("yes", False),
        (None, False),
    ],
)
def test_the_opt_in_label(value: str | None, enabled: bool) -> None:
    labels = {} if value is None else {"regdeploy.enable": value}

    assert Labels.read(labels, SETTINGS).enabled is enabled


def test_release_control_labels_are_read_into_the_target() -> None:
    labels = Labels.read(
        {
            "regdeploy.enable": "true",
            "regdeploy.window": " mon-fri 22:00-23:30 Europe/Berlin ",
            "regdeploy.approvals": "2",
            "regdeploy.settle": "",
            "regdeploy.other": "x",
        },
        SETTINGS,
    )

    target = labels.target("container", "web")
    assert dict(target.release) == {
        "window": "mon-fri 22:00-23:30 Europe/Berlin",
        "approvals": "2",
    }
    assert restored_target(stored_target(target)) == target


def test_policy_and_notify_are_read_and_trimmed() -> None:
    labels = Labels.read(
        {
            "regdeploy.enable": "true",
            "regdeploy.policy": " patch ",
            "regdeploy.notify": "ops, chat ,, mail ,",
        },
        SETTINGS,
    )

    assert labels == Labels(enabled=True, policy="patch", notify=("ops", "chat", "mail"))


@pytest.mark.parametrize("raw", [None, {}, {"regdeploy.policy": "", "regdeploy.notify": " , "}])
def test_without_labels_nothing_is_enabled_or_named(raw: dict[str, str] | None) -> None:
    assert Labels.read(raw, SETTINGS) == Labels(enabled=False, policy=None, notify=())


def test_the_configured_label_names_are_read_instead_of_the_defaults() -> None:
    settings = DockerSettings(
        opt_in_label="com.example.deploy",
        policy_label="com.example.policy",
        notify_label="com.example.notify",
    )
    raw = {
        "regdeploy.enable": "true",
        "regdeploy.policy": "major",
        "com.example.deploy": "false",
        "com.example.policy": "minor",
        "com.example.notify": "ops",
    }

    assert Labels.read(raw, settings) == Labels(enabled=False, policy="minor", notify=("ops",))


def test_a_target_carries_the_policy_and_notify_of_the_labels() -> None:
    labels = Labels(enabled=True, policy="minor", notify=("ops", "chat"))

    assert labels.target("swarm", "web") == Target(
        kind="swarm", name="web", policy="minor", notify=("ops", "chat")
    )


# --- image_of ----------------------------------------------------------------------------------

NO_ALIASES = Aliases({})


@pytest.mark.parametrize(
    ("text", "aliases", "name", "expected"),
    [
        pytest.param(
            "app:1", NO_ALIASES, HUB_APP, ImageRef(name=HUB_APP, tag="1"), id="hub-single-name"
        ),
        pytest.param(
            "docker.io/library/app:1",
            NO_ALIASES,
            HUB_APP,
            ImageRef(name=HUB_APP, tag="1"),
            id="hub-spelled-out",
        ),
        pytest.param(
            "index.docker.io/app", NO_ALIASES, HUB_APP, ImageRef(name=HUB_APP), id="hub-index"
        ),
        pytest.param(
            f"app@{SHA}", NO_ALIASES, HUB_APP, ImageRef(name=HUB_APP, digest=SHA), id="digest"
        ),
        pytest.param(
            f"registry.internal:5000/team/app:2.0@{SHA}",
            INTERNAL,
            TEAM_APP,
            ImageRef(name=TEAM_APP, tag="2.0", digest=SHA),
            id="canonical-host",
        ),
        pytest.param(
            "reg.local:5000/team/app:2.0",
            INTERNAL,
            TEAM_APP,
            ImageRef(name=ImageName(registry="reg.local:5000", repository="team/app"), tag="2.0"),
            id="alias-as-written",
        ),
        pytest.param("reg.local:5000/team/app:2.0", NO_ALIASES, TEAM_APP, None, id="unknown-alias"),
        pytest.param("app:1", NO_ALIASES, TEAM_APP, None, id="other-registry"),
        pytest.param("team/app:1", NO_ALIASES, HUB_APP, None, id="other-hub-repository"),
        pytest.param(
            "registry.internal:5000/team/api:1", INTERNAL, TEAM_APP, None, id="wrong-repo"
        ),
        pytest.param("Not An Image!", NO_ALIASES, HUB_APP, None, id="garbage"),
        pytest.param("app:bad tag", NO_ALIASES, HUB_APP, None, id="bad-tag"),
        pytest.param("app@sha256:", NO_ALIASES, HUB_APP, None, id="bad-digest"),
        pytest.param("", NO_ALIASES, HUB_APP, None, id="empty"),
        pytest.param(None, NO_ALIASES, HUB_APP, None, id="none"),
        pytest.param(42, NO_ALIASES, HUB_APP, None, id="not-text"),
    ],
)
def test_image_of(
    text: object, aliases: Aliases, name: ImageName, expected: ImageRef | None
) -> None:
    assert image_of(text, aliases, name) == expected


# --- as_written --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("running", "expected"),
    [
        pytest.param(
            "reg.local:5000/team/app:1.0",
            f"reg.local:5000/team/app:1.1@{SHA_NEW}",
            id="alias-stays",
        ),
        pytest.param(
            f"registry.internal:5000/team/app@{SHA}",
            f"registry.internal:5000/team/app:1.1@{SHA_NEW}",
            id="canonical-stays",
        ),
    ],
)
def test_as_written_keeps_the_workloads_registry_spelling(running: str, expected: str) -> None:
    image = ImageRef(name=TEAM_APP, tag="1.1", digest=SHA_NEW)

    assert str(as_written(parse_reference(running), image)) == expected


def test_as_written_changes_only_tag_and_digest() -> None:
    running = parse_reference("reg.local:5000/team/app:1.0")

    moved = as_written(running, ImageRef(name=TEAM_APP, digest=SHA_NEW))

    assert moved == ImageRef(name=running.name, tag=None, digest=SHA_NEW)
