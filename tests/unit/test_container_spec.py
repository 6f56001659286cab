"""The create body of a replacement container, derived from ``docker inspect`` of the old one.

The inspect dicts below follow Docker Engine API 1.41: the old container runs
``registry.internal:5000/team/web:1.25`` on the user network ``app_net``; its image declares an
entrypoint, a command, env, labels, a working dir, a user, a healthcheck, a stop signal, a
``VOLUME`` and an exposed port.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployers.container_spec import Replacement, replacement

CONTAINER_ID = "3f4e5d6c7b8a" + "0123456789abcdef" * 3 + "0123"
SHORT_ID = CONTAINER_ID[:12]
OLD_REFERENCE = "registry.internal:5000/team/web:1.25"
NEW_REFERENCE = "registry.internal:5000/team/web@sha256:" + "fedcba9876543210" * 4
CACHE_VOLUME = "9a8b7c6d5e4f" + "a1b2c3d4e5f60718" * 3 + "2930"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ABSENT = object()


def image_config() -> dict[str, Any]:
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "web",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": {"80/tcp": {}},
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": [PATH_ENV, "LANG=C.UTF-8", "WEB_VERSION=1.25"],
        "Cmd": ["web", "--listen", ":80"],
        "Healthcheck": {
            "Test": ["CMD", "wget", "-q", "-O-", "http://localhost/health"],
            "Interval": 30_000_000_000,
            "Timeout": 5_000_000_000,
            "Retries": 3,
        },
        "Image": "sha256:" + "aa" * 32,
        "Volumes": {"/var/cache/web": {}},
        "WorkingDir": "/srv/web",
        "Entrypoint": ["/docker-entrypoint.sh"],
        "OnBuild": None,
        "Labels": {
            "maintainer": "Web Maintainers",
            "org.opencontainers.image.version": "1.25",
        },
        "StopSignal": "SIGQUIT",
    }


def image() -> dict[str, Any]:
    """``docker image inspect`` of the old container's image."""
    return {
        "Id": "sha256:" + "bb" * 32,
        "RepoTags": [OLD_REFERENCE],
        "RepoDigests": ["registry.internal:5000/team/web@sha256:" + "cc" * 32],
        "Parent": "",
        "Created": "2024-01-10T09:00:00.000000000Z",
        "Container": "",
        "DockerVersion": "24.0.7",
        "Author": "",
        "Config": image_config(),
        "Architecture": "amd64",
        "Os": "linux",
        "Size": 187_654_321,
        "RootFS": {"Type": "layers", "Layers": ["sha256:" + "dd" * 32]},
    }


def endpoint(aliases: list[str] | None, ip: str, **extra: Any) -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": aliases,
        "NetworkID": "7c0f" + "ab" * 30,
        "EndpointID": "1e2d" + "cd" * 30,
        "Gateway": ip.rsplit(".", 1)[0] + ".1",
        "IPAddress": ip,
        "IPPrefixLen": 16,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "02:42:ac:14:00:05",
        "DriverOpts": None,
        **extra,
    }


def cache_mount(*, rw: bool = True) -> dict[str, Any]:
    """The anonymous volume Docker made for the image's ``VOLUME /var/cache/web``."""
    return {
        "Type": "volume",
        "Name": CACHE_VOLUME,
        "Source": f"/var/lib/docker/volumes/{CACHE_VOLUME}/_data",
        "Destination": "/var/cache/web",
        "Driver": "local",
        "Mode": "",
        "RW": rw,
        "Propagation": "",
    }


def container(
    *,
    config: dict[str, Any] | None = None,
    host: dict[str, Any] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    networks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``docker inspect`` of ``docker run -d --name web --network app_net IMAGE``, with the
    given keys of Config and HostConfig replaced (the operator's flags)."""
    base_config = image_config()
    base_config.update(Hostname=SHORT_ID, Image=OLD_REFERENCE)
    base_config.update(config or {})
    base_host: dict[str, Any] = {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
        "NetworkMode": "app_net",
        "PortBindings": {},
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": None,
        "CapDrop": None,
        "Dns": [],
        "ExtraHosts": None,
        "Links": None,
        "Privileged": False,
        "ReadonlyRootfs": False,
        "Memory": 268_435_456,
        "NanoCpus": 500_000_000,
        "Mounts": None,
    }
    base_host.update(host or {})
    return {
        "Id": CONTAINER_ID,
        "Created": "2024-02-01T12:00:00.000000000Z",
        "Path": "/docker-entrypoint.sh",
        "Args": ["web", "--listen", ":80"],
        "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0},
        "Image": "sha256:" + "bb" * 32,
        "Name": "/web",
        "RestartCount": 0,
        "Driver": "overlay2",
        "HostConfig": base_host,
        "Mounts": [cache_mount()] if mounts is None else mounts,
        "Config": base_config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "5b4a" + "ef" * 30,
            "Ports": {"80/tcp": None},
            "Networks": (
                {"app_net": endpoint(["web", SHORT_ID], "172.20.0.5")}
                if networks is None
                else networks
            ),
        },
    }


def create_of(old: dict[str, Any]) -> dict[str, Any]:
    return dict(replacement(old, image(), NEW_REFERENCE).create)


# --- what came from the image is left to the new image -----------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("Env", [], id="env"),
        pytest.param("Labels", {}, id="labels"),
        pytest.param("Entrypoint", None, id="entrypoint"),
        pytest.param("Cmd", None, id="cmd-with-default-entrypoint"),
        pytest.param("WorkingDir", ABSENT, id="working-dir"),
        pytest.param("User", ABSENT, id="user"),
        pytest.param("Healthcheck", ABSENT, id="healthcheck"),
        pytest.param("StopSignal", ABSENT, id="stop-signal"),
        pytest.param("Volumes", None, id="volumes"),
        pytest.param("ExposedPorts", None, id="exposed-ports"),
        pytest.param("Hostname", ABSENT, id="hostname-is-the-short-id"),
    ],
)
def test_values_equal_to_the_old_images_defaults_are_dropped(key: str, expected: object) -> None:
    create = create_of(container())

    assert create.get(key, ABSENT) == expected


def test_only_the_image_default_entries_of_env_and_labels_are_dropped() -> None:
    create = create_of(
        container(
            config={
                "Env": [PATH_ENV, "LANG=de_DE.UTF-8", "WEB_VERSION=1.25", "APP_MODE=production"],
                "Labels": {
                    "maintainer": "ops@example.com",
                    "org.opencontainers.image.version": "1.25",
                    "regdeploy.enable": "true",
                },
            }
        )
    )

    assert create["Env"] == ["LANG=de_DE.UTF-8", "APP_MODE=production"]
    assert create["Labels"] == {"maintainer": "ops@example.com", "regdeploy.enable": "true"}


# --- what the operator set carries over --------------------------------------------------------

CUSTOM_HEALTHCHECK = {"Test": ["CMD-SHELL", "curl -fs http://localhost:8080/ready"], "Retries": 5}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            {"Cmd": ["web", "--listen", ":8080"]},
            {"Entrypoint": None, "Cmd": ["web", "--listen", ":8080"]},
            id="cmd",
        ),
        pytest.param(
            {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["exec web --debug"]},
            {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["exec web --debug"]},
            id="entrypoint-and-cmd",
        ),
        pytest.param(
            {"Entrypoint": ["/usr/bin/tini", "--"]},
            {"Entrypoint": ["/usr/bin/tini", "--"], "Cmd": ["web", "--listen", ":80"]},
            id="entrypoint-keeps-a-cmd-equal-to-the-default",
        ),
        pytest.param({"User": "1000:1000"}, {"User": "1000:1000"}, id="user"),
        pytest.param({"WorkingDir": "/data"}, {"WorkingDir": "/data"}, id="working-dir"),
        pytest.param(
            {"Healthcheck": CUSTOM_HEALTHCHECK}, {"Healthcheck": CUSTOM_HEALTHCHECK}, id="health"
        ),
        pytest.param(
            {"Healthcheck": {"Test": ["NONE"]}},
            {"Healthcheck": {"Test": ["NONE"]}},
            id="healthcheck-disabled",
        ),
        pytest.param({"StopSignal": "SIGTERM"}, {"StopSignal": "SIGTERM"}, id="stop-signal"),
        pytest.param({"Hostname": "web.internal"}, {"Hostname": "web.internal"}, id="hostname"),
        pytest.param(
            {"Volumes": {"/var/cache/web": {}, "/scratch": {}}},
            {"Volumes": {"/scratch": {}}},
            id="volumes",
        ),
    ],
)
def test_what_the_operator_set_is_kept(config: dict[str, Any], expected: dict[str, Any]) -> None:
    create = create_of(container(config=config))

    assert {key: create.get(key, ABSENT) for key in expected} == expected


def test_the_image_is_the_new_reference() -> None:
    create = create_of(container())

    assert create["Image"] == NEW_REFERENCE


def test_host_settings_carry_over() -> None:
    create = create_of(container())

    host = create["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m"}}
    assert (host["Memory"], host["NanoCpus"], host["NetworkMode"]) == (
        268_435_456,
        500_000_000,
        "app_net",
    )


def test_without_the_old_image_everything_is_kept() -> None:
    old = container(config={"Env": [PATH_ENV, "LANG=C.UTF-8", "WEB_VERSION=1.25", "A=1"]})

    create = dict(replacement(old, None, NEW_REFERENCE).create)

    kept = ("Env", "Labels", "Entrypoint", "Cmd", "WorkingDir", "User", "Healthcheck")
    assert {k: create[k] for k in kept} == {k: old["Config"][k] for k in kept}
    assert create["StopSignal"] == "SIGQUIT"
    assert create["Volumes"] == {"/var/cache/web": {}}
    assert create["ExposedPorts"] == {"80/tcp": {}}
    assert "Hostname" not in create


# --- ports and links ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exposed", "bindings", "expected"),
    [
        pytest.param(
            {"80/tcp": {}},
            {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
            {"80/tcp": {}},
            id="binding-of-an-image-port",
        ),
        pytest.param(
            {"80/tcp": {}},
            {"9090/udp": [{"HostIp": "127.0.0.1", "HostPort": "9090"}]},
            {"9090/udp": {}},
            id="binding-of-another-port",
        ),
        pytest.param(
            {"80/tcp": {}, "9000/tcp": {}},
            {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
            {"9000/tcp": {}, "80/tcp": {}},
            id="operator-expose-and-binding",
        ),
        pytest.param({"80/tcp": {}}, {}, None, id="no-bindings"),
    ],
)
def test_port_bindings_make_exposed_ports(
    exposed: dict[str, Any], bindings: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    create = create_of(container(config={"ExposedPorts": exposed}, host={"PortBindings": bindings}))

    assert create["ExposedPorts"] == expected
    assert create["HostConfig"]["PortBindings"] == bindings


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        pytest.param(["/db:/web/database"], ["db:database"], id="alias"),
        pytest.param(
            ["/db:/web/db", "/cache:/web/redis"], ["db:db", "cache:redis"], id="two-links"
        ),
        pytest.param(None, None, id="none"),
        pytest.param([], None, id="empty"),
    ],
)
def test_links_are_written_as_create_takes_them(
    links: list[str] | None, expected: list[str] | None
) -> None:
    create = create_of(container(host={"Links": links}))

    assert create["HostConfig"]["Links"] == expected


# --- volumes -----------------------------------------------------------------------------------


def test_an_anonymous_volume_is_handed_over_by_name() -> None:
    create = create_of(container())

    assert create["HostConfig"]["Binds"] == [f"{CACHE_VOLUME}:/var/cache/web"]


def test_a_read_only_anonymous_volume_stays_read_only() -> None:
    create = create_of(container(mounts=[cache_mount(rw=False)]))

    assert create["HostConfig"]["Binds"] == [f"{CACHE_VOLUME}:/var/cache/web:ro"]


def test_without_volumes_there_are_no_binds() -> None:
    create = create_of(container(mounts=[]))

    assert create["HostConfig"]["Binds"] is None


BIND_MOUNT = {
    "Type": "bind",
    "Source": "/srv/web/conf",
    "Destination": "/etc/web/conf.d",
    "Mode": "ro",
    "RW": False,
    "Propagation": "rprivate",
}
NAMED_MOUNT = {
    "Type": "volume",
    "Name": "webdata",
    "Source": "/var/lib/docker/volumes/webdata/_data",
    "Destination": "/var/www",
    "Driver": "local",
    "Mode": "z",
    "RW": True,
    "Propagation": "",
}
TMPFS_MOUNT = {"Type": "tmpfs", "Source": "", "Destination": "/run", "Mode": "", "RW": True}


@pytest.mark.parametrize(
    ("host", "mounts", "binds"),
    [
        pytest.param(
            {"Binds": ["/srv/web/conf:/etc/web/conf.d:ro"]},
            [BIND_MOUNT],
            ["/srv/web/conf:/etc/web/conf.d:ro"],
            id="bind-mount",
        ),
        pytest.param(
            {"Binds": ["webdata:/var/www:z"]},
            [NAMED_MOUNT],
            ["webdata:/var/www:z"],
            id="named-volume-by-v",
        ),
        pytest.param(
            {"Mounts": [{"Type": "volume", "Source": "webdata", "Target": "/var/www"}]},
            [NAMED_MOUNT],
            None,
            id="named-volume-by-mount",
        ),
        pytest.param(
            {"Mounts": [{"Type": "tmpfs", "Target": "/run"}]},
            [TMPFS_MOUNT],
            None,
            id="tmpfs",
        ),
    ],
)
def test_bind_mounts_and_named_volumes_are_untouched(
    host: dict[str, Any], mounts: list[dict[str, Any]], binds: list[str] | None
) -> None:
    old = container(host=host, mounts=mounts)

    create = create_of(old)

    assert create["HostConfig"]["Binds"] == binds
    assert create["HostConfig"]["Mounts"] == old["HostConfig"]["Mounts"]


def test_named_and_anonymous_volumes_together() -> None:
    old = container(
        host={"Binds": ["/srv/web/conf:/etc/web/conf.d:ro", "webdata:/var/www"]},
        mounts=[BIND_MOUNT, cache_mount(), NAMED_MOUNT],
    )

    create = create_of(old)

    assert create["HostConfig"]["Binds"] == [
        "/srv/web/conf:/etc/web/conf.d:ro",
        "webdata:/var/www",
        f"{CACHE_VOLUME}:/var/cache/web",
    ]


# --- networks ----------------------------------------------------------------------------------


def test_the_network_of_the_network_mode_is_configured_at_create() -> None:
    new = replacement(container(), image(), NEW_REFERENCE)

    assert new.create["NetworkingConfig"] == {"EndpointsConfig": {"app_net": {"Aliases": ["web"]}}}
    assert new.networks == ()


def test_the_other_networks_are_connected_afterwards_with_their_settings() -> None:
    old = container(
        networks={
            "monitoring": endpoint([SHORT_ID], "172.21.0.9"),
            "app_net": endpoint(["web", "frontend", SHORT_ID], "172.20.0.5"),
            "backend": endpoint(
                ["web", "api", SHORT_ID],
                "10.5.0.20",
                IPAMConfig={"IPv4Address": "10.5.0.20"},
                Links=["db:database"],
                DriverOpts={"com.example.mtu": "1400"},
            ),
        }
    )

    new = replacement(old, image(), NEW_REFERENCE)

    assert new.create["NetworkingConfig"] == {
        "EndpointsConfig": {"app_net": {"Aliases": ["web", "frontend"]}}
    }
    assert [(name, dict(settings)) for name, settings in new.networks] == [
        (
            "backend",
            {
                "Aliases": ["web", "api"],
                "IPAMConfig": {"IPv4Address": "10.5.0.20"},
                "Links": ["db:database"],
                "DriverOpts": {"com.example.mtu": "1400"},
            },
        ),
        ("monitoring", {}),
    ]


@pytest.mark.parametrize(
    ("mode", "networks"),
    [
        pytest.param("host", {"host": endpoint(None, "")}, id="host"),
        pytest.param("none", {"none": endpoint(None, "")}, id="none"),
        pytest.param("container:db", {}, id="container"),
        pytest.param("bridge", {"bridge": endpoint(None, "172.17.0.3")}, id="bridge"),
        pytest.param("default", {"bridge": endpoint(None, "172.17.0.3")}, id="default"),
    ],
)
def test_special_network_modes_get_no_endpoint_config(mode: str, networks: dict[str, Any]) -> None:
    new = replacement(
        container(host={"NetworkMode": mode}, networks=networks), image(), NEW_REFERENCE
    )

    assert "NetworkingConfig" not in new.create
    assert new.networks == ()
    assert new.create["HostConfig"]["NetworkMode"] == mode


def test_a_bridge_container_joins_its_user_networks_afterwards() -> None:
    old = container(
        host={"NetworkMode": "bridge"},
        networks={
            "bridge": endpoint(None, "172.17.0.3"),
            "backend": endpoint(["web", SHORT_ID], "10.5.0.20"),
        },
    )

    new = replacement(old, image(), NEW_REFERENCE)

    assert "NetworkingConfig" not in new.create
    assert [(name, dict(settings)) for name, settings in new.networks] == [
        ("backend", {"Aliases": ["web"]})
    ]


# --- the inputs ----------------------------------------------------------------------------------


def test_the_inputs_are_not_changed() -> None:
    old = container(
        config={"Env": [PATH_ENV, "A=1"], "Hostname": SHORT_ID},
        host={
            "Binds": ["webdata:/var/www"],
            "Links": ["/db:/web/database"],
            "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        },
        mounts=[cache_mount(), NAMED_MOUNT],
        networks={
            "app_net": endpoint(["web", SHORT_ID], "172.20.0.5"),
            "backend": endpoint(["web", SHORT_ID], "10.5.0.20", IPAMConfig={"IPv4Address": "x"}),
        },
    )
    old_image = image()
    old_before, image_before = copy.deepcopy(old), copy.deepcopy(old_image)

    new = replacement(old, old_image, NEW_REFERENCE)

    assert old == old_before
    assert old_image == image_before
    assert new.create["HostConfig"]["Binds"] == [
        "webdata:/var/www",
        f"{CACHE_VOLUME}:/var/cache/web",
    ]


def test_the_create_body_is_read_only() -> None:
    new: Replacement = replacement(container(), image(), NEW_REFERENCE)

    with pytest.raises(TypeError):
        new.create["Image"] = "other"  # type: ignore[index]


OPERATOR_ENV = st.lists(
    st.from_regex(r"[A-Z][A-Z0-9_]{0,8}=[a-z0-9./:-]{0,12}", fullmatch=True), max_size=6
)


@given(operator_env=OPERATOR_ENV, image_first=st.booleans())
def test_env_keeps_exactly_the_operators_entries_in_order(
    operator_env: list[str], image_first: bool
) -> None:
    image_env = image_config()["Env"]
    env = image_env + operator_env if image_first else operator_env + image_env

    create = create_of(container(config={"Env": env}))

    assert create["Env"] == [e for e in operator_env if e not in image_env]
