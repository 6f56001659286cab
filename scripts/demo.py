"""``make demo``: a real push moves a real container, on this machine, in under a minute.

It starts a Docker Distribution registry that notifies regdeploy, a private Docker engine
(``dockerd`` under ``/tmp/dk-…``: its own data root and socket, vfs, no iptables, no bridge) and
``regdeploy serve`` with ``config.example.yaml`` told only through the environment where things
are: ``REGDEPLOY_REGISTRY_HOST`` (the registry), ``DOCKER_HOST`` (the engine, which turns the
Docker deployers on), ``REGDEPLOY_PORT``, ``REGDEPLOY_DATA_DIR`` and fresh tokens: it serves on
``$REGDEPLOY_PORT`` (8080 when it is unset, as the Makefile sets it), or on a free port when
another program holds that one (the demo says so), and the commands the demo prints call it
there. It pushes ``team/app:1.0.0`` (an image built by hand from busybox-static, as the tests
build theirs), runs the container ``demo-web`` on it with the label ``regdeploy.enable=true``,
pushes ``team/app:1.1.0`` and waits for regdeploy to move the container; it prints the
deployment with its reason, the container's new image and how to look around, and runs until
Ctrl-C (or, with ``--no-wait``, stops at once). Everything it started is stopped and removed on
the way out.

Run it as ``make demo``, which first installs the system packages and the virtualenv it needs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker

from receiver.cli import main as regdeploy
from receiver.cli.api import DEFAULT_PORT, PORT_VARIABLE, Api, configured_port
from tests.support.components import free_port, port_free
from tests.support.docker_engine import DockerEngine
from tests.support.oci import build_image
from tests.support.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "team/app"
CONTAINER = "demo-web"
TOOLS = ("docker-registry", "skopeo", "dockerd", "busybox")
START_SECONDS = 60.0
DEPLOY_SECONDS = 120.0
FINISHED = ("succeeded", "failed", "rolled_back", "conflict", "skipped")


@dataclass
class Demo:
    """What the demo started, to be stopped in reverse order."""

    work: Path
    started: float = field(default_factory=time.monotonic)
    registry: Registry | None = None
    engine: DockerEngine | None = None
    service: subprocess.Popen[bytes] | None = None
    port: int = 0
    # Fresh secrets: the API token is printed for the user, the registry's stays here.
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    registry_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def registry_host(self) -> str:
        assert self.registry is not None
        return self.registry.host

    @property
    def image(self) -> str:
        """The repository's name as the container pulls it."""
        return f"{self.registry_host}/{REPOSITORY}"

    @property
    def docker_host(self) -> str:
        assert self.engine is not None
        return self.engine.host

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f} s] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--no-wait", action="store_true", help="stop once the deploy is shown")
    args = parser.parse_args(argv)
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: run `make demo` (it installs them)", file=sys.stderr)
        return 2
    try:
        port, note = serving_port(os.environ)
    except ValueError as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 2
    # A Ctrl-C or a SIGTERM unwinds through the clean-up below (also when a shell started the
    # demo in the background, with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with running_demo(port) as demo:
        if note:
            demo.say(note)
        try:
            moved = show_a_deploy(demo)
            if moved and not args.no_wait:
                print("\nRunning until Ctrl-C; everything started here stops then.", flush=True)
                signal.pause()
        except KeyboardInterrupt:
            moved = True
        finally:
            print("\nstopping the demo's regdeploy, Docker engine and registry…", flush=True)
    return 0 if moved else 1


def serving_port(
    env: Mapping[str, str], *, is_free: Callable[[int], bool] = port_free
) -> tuple[int, str | None]:
    """The port the demo's regdeploy serves on: ``$REGDEPLOY_PORT`` (8080 when it is unset or
    empty), or a free one when that is taken, with a note saying so. Raises ``ValueError`` when
    the variable names no port."""
    wanted = configured_port(env) or DEFAULT_PORT
    if is_free(wanted):
        return wanted, None
    instead = free_port()
    return instead, (
        f"port {wanted} (${PORT_VARIABLE}) is taken by another program: regdeploy serves on "
        f"{instead} instead"
    )


@contextlib.contextmanager
def running_demo(port: int) -> Iterator[Demo]:
    demo = Demo(work=Path(tempfile.mkdtemp(prefix="rd-demo-", dir="/tmp")), port=port)
    try:
        yield demo
    finally:
        stop(demo)


def show_a_deploy(demo: Demo) -> bool:
    """Start everything, move the container with a push, and say what happened."""
    start_components(demo)
    assert demo.engine is not None
    client = demo.engine.client()
    try:
        first = push(demo, "1.0.0")
        client.images.pull(demo.image, tag="1.0.0")
        client.containers.run(
            f"{demo.image}:1.0.0",
            name=CONTAINER,
            detach=True,
            labels={"regdeploy.enable": "true"},
            stop_signal="SIGKILL",  # busybox sleep as PID 1 ignores SIGTERM
        )
        demo.say(f"pushed {REPOSITORY}:1.0.0 ({first[:19]}…) and ran the container {CONTAINER}")
        demo.say(f"        on {demo.image}:1.0.0 with the label regdeploy.enable=true")
        push(demo, "1.1.0")
        demo.say(f"pushed {REPOSITORY}:1.1.0: the registry notifies regdeploy")
        deployment = wait_for_deploy(demo)
        return report(demo, client, deployment)
    finally:
        client.close()


def start_components(demo: Demo) -> None:
    """The registry, the engine and regdeploy; each is recorded before it starts, so that an
    interruption halfway still stops it."""
    demo.registry = Registry(
        demo.work / "registry",
        notify_url=f"{demo.url}/webhooks/registry",
        notify_token=demo.registry_token,
    )
    demo.registry.start()
    demo.say(f"started docker-registry on {demo.registry.host}, notifying {demo.url}")
    demo.engine = DockerEngine(swarm=False, tls=False)
    demo.engine.start()
    demo.say(f"started a private Docker engine at {demo.engine.host}")
    start_regdeploy(demo)
    demo.say(
        f"started regdeploy on {demo.url} with config.example.yaml; its log: "
        f"{demo.work / 'regdeploy.log'}"
    )


def start_regdeploy(demo: Demo) -> None:
    """``regdeploy serve`` with the example configuration, told where things are by the
    environment alone; waits until it answers."""
    env = {
        **os.environ,
        "REGDEPLOY_HOST": "127.0.0.1",
        "REGDEPLOY_PORT": str(demo.port),
        "REGDEPLOY_DATA_DIR": str(demo.work / "data"),
        "REGDEPLOY_REGISTRY_HOST": demo.registry_host,
        "REGDEPLOY_REGISTRY_TOKEN": demo.registry_token,
        "REGDEPLOY_API_TOKEN": demo.token,
        "DOCKER_HOST": demo.docker_host,
        "LOG_FORMAT": "json",
    }
    for name in ("REGDEPLOY_CONFIG", "DATABASE_URL", "NOMAD_ADDR", "DOCKER_CERT_PATH"):
        env.pop(name, None)
    demo.log = (demo.work / "regdeploy.log").open("wb")
    demo.service = subprocess.Popen(
        [sys.executable, "-m", "receiver", "serve", "--config", "config.example.yaml"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=demo.log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_SECONDS
    while not answers(f"{demo.url}/ping"):
        if demo.service.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"regdeploy did not start; its log: {demo.work / 'regdeploy.log'}")
        time.sleep(0.2)


def push(demo: Demo, tag: str) -> str:
    """Build ``team/app:TAG`` (its ``VERSION`` env is the tag) and push it; its digest."""
    assert demo.registry is not None
    layout = demo.work / "layout"
    digest = build_image(layout, tag=tag, env={"VERSION": tag})
    demo.registry.push(layout, tag, REPOSITORY)
    return digest


def wait_for_deploy(demo: Demo) -> dict[str, Any]:
    """The deployment of 1.1.0 to the container, once it has finished."""
    api = Api(url=demo.url, token=demo.token)
    deadline = time.monotonic() + DEPLOY_SECONDS
    last = ""
    while time.monotonic() < deadline:
        found = api.get("/api/v1/deployments", {"target": f"container:{CONTAINER}"})
        for deployment in found["deployments"]:
            if deployment["tag"] != "1.1.0":
                continue
            if deployment["status"] != last:
                last = deployment["status"]
                demo.say(f"deployment {deployment['id']}: {last} ({deployment['reason']})")
            if last in FINISHED:
                return dict(deployment)
        time.sleep(0.5)
    raise RuntimeError(f"no finished deploy within {DEPLOY_SECONDS:g} s; see `regdeploy status`")


def report(demo: Demo, client: docker.DockerClient, deployment: dict[str, Any]) -> bool:
    image: str = client.containers.get(CONTAINER).attrs["Config"]["Image"]
    moved: bool = deployment["status"] == "succeeded" and image == deployment["image"]
    demo.say(f"{CONTAINER} now runs {image}")
    demo.say(
        f"{'a real push moved a real container' if moved else 'the container did NOT move'}, "
        f"{time.monotonic() - demo.started:.1f} s after the install finished"
    )
    print(f"\n$ regdeploy deployments --repo {REPOSITORY}", flush=True)
    regdeploy(["deployments", "--repo", REPOSITORY, "--url", demo.url, "--token", demo.token])
    print(
        f"\nLook around, in another terminal:\n"
        f"  export REGDEPLOY_URL={demo.url} REGDEPLOY_TOKEN={demo.token}\n"
        f"  .venv/bin/regdeploy status\n"
        f"  .venv/bin/regdeploy explain {REPOSITORY}\n"
        f"  DOCKER_HOST={demo.docker_host} docker ps\n"
        f"API: {demo.url}/api/v1/deployments (Authorization: Bearer {demo.token})",
        flush=True,
    )
    if answers(f"{demo.url}/"):
        print(f"console: {demo.url}/", flush=True)
    return moved


def stop(demo: Demo) -> None:
    """Stop and remove everything the demo started, whatever state it got to."""
    if demo.service is not None and demo.service.poll() is None:
        demo.service.terminate()  # regdeploy stops its embedded PostgreSQL with it
        try:
            demo.service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.service.kill()
            demo.service.wait()
    if demo.log is not None:
        demo.log.close()
    if demo.engine is not None:
        demo.engine.stop()
    if demo.registry is not None:
        demo.registry.stop()
    shutil.rmtree(demo.work, ignore_errors=True)


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
