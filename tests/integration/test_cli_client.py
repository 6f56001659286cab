"""The ``regdeploy`` API client commands against a running regdeploy (the real app on a real
port, a real PostgreSQL, a recording deployer), as a user runs them: what they print, what
``--json`` prints, and their exit status."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployers.base import Target
from handlers.references import parse_name, short_digest
from receiver import version
from receiver.cli import build_parser, main
from receiver.decide.trust.policy import Check, CheckOutcome, CheckResult
from receiver.reloading import services_of
from receiver.store.connector import as_json
from receiver.store.records import Deployment
from receiver.views.reads import DeploymentView, ReadModel
from tests.support.api import Client, settle
from tests.support.app import StartApp
from tests.support.cli_env import isolated_client
from tests.support.components import free_port
from tests.support.polling import until
from tests.support.pushes import NAME, REGISTRY, WEB, digest, push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import API_TOKEN, READ_TOKEN

ROOT = Path(__file__).resolve().parents[2]
CLIENT_COMMANDS = [
    "repos",
    "pin",
    "unpin",
    "auto-deploy",
    "deploy",
    "explain",
    "deployments",
    "events",
    "status",
    "reload",
    "approve",
    "reject",
    "freeze",
    "unfreeze",
    "freezes",
]
LABELLED = Target(kind="recording", name="cache")


def short(n: int) -> str:
    """How the CLI shows digest ``n``."""
    return short_digest(digest(n))


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Running:
    """The service under test, its recording deployer, and the CLI pointed at it."""

    client: Client
    deployer: RecordingDeployer
    url: str
    capsys: pytest.CaptureFixture[str]

    async def cli(self, *args: str, token: str | None = API_TOKEN) -> Result:
        """``regdeploy ARGS --url URL [--token TOKEN]`` in a thread (the service runs in this
        event loop), with what it printed."""
        given = [*args, "--url", self.url, *(["--token", token] if token else [])]
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, given)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


Start = Callable[..., Awaitable[Running]]


@pytest.fixture(autouse=True)
def no_client_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from isolated_client(monkeypatch, tmp_path)


@pytest.fixture
def start(start_app: StartApp, capsys: pytest.CaptureFixture[str]) -> Start:
    """The service with its worker on, watching team/app with ``repo``'s settings, on a port
    the CLI is pointed at."""

    async def started(running: str | None = None, **repo: Any) -> Running:
        """``running``: the image ``web`` runs before the service starts, so that the first
        listing of what runs where already says so."""
        client, deployer = await start_app(
            running=running,
            repositories=[repository(**repo)],
            worker={"poll_interval_seconds": 0.2, "enabled": True},
            port=free_port(),
        )
        return Running(client, deployer, f"http://127.0.0.1:{client.server.port}", capsys)

    return started


# -- every command parses and tells its version ---------------------------------------------------


@pytest.mark.parametrize("command", [None, *CLIENT_COMMANDS, "serve", "db", "check-config"])
def test_version_everywhere(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*([command] if command else []), "--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"regdeploy {version()}\n"


def test_every_client_command_takes_url_token_and_json() -> None:
    parser = build_parser()
    needs = {"pin": ["r", "t"], "unpin": ["r"], "auto-deploy": ["r", "on"]}
    needs |= {"deploy": ["r"], "explain": ["r"], "approve": ["1"], "reject": ["1"]}
    needs |= {"freeze": ["--reason", "x"]}
    for command in CLIENT_COMMANDS:
        args = parser.parse_args(
            [command, *needs.get(command, []), "--url", "http://h:1", "--token", "t", "--json"]
        )
        assert (args.url, args.token, args.json) == ("http://h:1", "t", True)


# -- the commands --------------------------------------------------------------------------------


async def test_repos_lists_each_repository_with_its_tags(start: Start) -> None:
    running = await start()
    for tag, n in [("1.0.0", 1), ("1.1.0", 2)]:
        await push(running.client, tag, n)

    shown = await running.cli("repos")
    as_json = await running.cli("repos", "--json")

    assert shown.code == 0
    assert shown.out.splitlines() == [
        "NAME      IMAGE                        PIN  AUTO-DEPLOY  POLICY  TARGETS        TAGS",
        "team/app  registry.test:5000/team/app  -    on           minor   recording:web  "
        "1.1.0, 1.0.0",
    ]
    [repo] = as_json.json()["repositories"]
    assert (repo["name"], repo["tags"], repo["policy"]) == (NAME, ["1.1.0", "1.0.0"], "minor")


async def test_pin_deploys_and_says_what_to_follow(start: Start) -> None:
    running = await start(running=ref("1.1.0", 2))
    await push(running.client, "1.0.0", 1)

    shown = await running.cli("pin", NAME, "1.0.0")

    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == 'team/app: pinned_tag: "" → "1.0.0"; deploying 1.0.0 to recording:web'
    assert lines[2].split() == ["TARGET", "RUNNING", "WANTS", "DEPLOY", "REASON"]
    assert lines[3].split() == [
        "recording:web",
        f"1.1.0@{short(2)}",
        f"1.0.0@{short(1)}",
        "yes",
        "pinned",
        "to",
        "1.0.0",
    ]
    assert re.match(r"deployment \d+ planned: `regdeploy deployments --repo team/app", lines[5])
    await settle(running.client)
    assert running.deployer.deployed(WEB) == [ref("1.0.0", 1)]


async def test_unpin_auto_deploy_and_deploy(start: Start) -> None:
    running = await start(pinned_tag="1.0.0")
    running.deployer.run(WEB, ref("1.0.0", 1))
    for tag, n in [("1.0.0", 1), ("1.1.0", 2), ("1.2.0", 3)]:
        await push(running.client, tag, n)
    await settle(running.client)

    off = await running.cli("auto-deploy", NAME, "off")
    assert (off.code, off.out) == (0, "team/app: auto_deploy: true → false\n")

    unpinned = await running.cli("unpin", NAME, "--json")
    assert unpinned.json()["message"] == (
        'team/app: pinned_tag: "1.0.0" → ""; deploying 1.2.0 to recording:web'
    )
    await settle(running.client)

    deployed = await running.cli("deploy", NAME, "1.1.0")
    assert deployed.out.splitlines()[0] == "deploying 1.1.0 to recording:web"
    await settle(running.client)

    again = await running.cli("deploy", NAME, "1.1.0")
    assert again.out.splitlines()[0] == (
        f"nothing deployed: recording:web: already runs 1.1.0@sha256:{2:064x}"
    )
    assert running.deployer.deployed(WEB) == [ref("1.2.0", 3), ref("1.1.0", 2)]


async def test_explain_shows_every_tag_for_every_target(start: Start) -> None:
    running = await start(running=ref("1.0.0", 1))
    running.deployer.discoverable.append((LABELLED, parse_name(f"{REGISTRY}/{NAME}")))
    running.deployer.run(LABELLED, ref("1.1.0", 2))
    for tag, n in [("1.0.0", 1), ("1.1.0", 2), ("2.0.0", 3)]:
        await push(running.client, tag, n)
    await settle(running.client)

    shown = await running.cli("explain", NAME, "--target", "web")

    assert shown.code == 0, shown.err
    assert shown.out.splitlines() == [
        "team/app (registry.test:5000/team/app): policy minor, auto_deploy on, not pinned",
        "tags, newest first: 2.0.0, 1.1.0, 1.0.0",
        "",
        f"recording:web (configured) runs 1.1.0@{short(2)}",
        f"  now: stay (1.1.0@{short(2)}, already runs 1.1.0@{digest(2)})",
        "",
        "  TAG    DIGEST               A PUSH WOULD  REASON",
        f"  2.0.0  {short(3)}  skip          2.0.0 is a new major version (policy minor)",
        f"  1.1.0  {short(2)}  skip          already runs 1.1.0@{short(2)}",
        f"  1.0.0  {short(1)}  skip          1.0.0 is lower than running 1.1.0",
    ]
    every = (await running.cli("explain", NAME, "--json")).json()
    assert [t["target_key"] for t in every["targets"]] == [WEB.key, LABELLED.key]


async def test_explain_shows_each_targets_last_checks_a_line_each(start: Start) -> None:
    running = await start(running=ref("1.0.0", 1))
    await push(running.client, "1.1.0", 2)
    await settle(running.client)
    store = services_of(running.client.app).store
    [deployed] = await store.deployments.list_deployments(limit=5)
    said = [
        CheckResult(check=Check.SIGNATURE, outcome=CheckOutcome.PASSED,
                    words="verified by key ops-2025 (legacy .sig)"),
        CheckResult(check=Check.PLATFORM, outcome=CheckOutcome.PASSED,
                    words="covers linux/amd64, linux/arm64"),
    ]  # fmt: skip
    checks = as_json([c.as_json() for c in said])
    await store.connector.execute("record_checks", {"id": deployed.id, "checks": checks})

    status = (await store.deployments.get_deployment(deployed.id)).status.value
    assert status == "succeeded"
    shown = (await running.cli("explain", NAME, "--target", "web")).out.splitlines()

    assert shown[5:8] == [
        f"  checks (deployment {deployed.id}, app:1.1.0@{short(2)}, {status}):",
        "    signature: verified by key ops-2025 (legacy .sig)",
        "    platform: covers linux/amd64, linux/arm64",
    ]


async def test_deployments_and_events_are_tables_newest_first(start: Start) -> None:
    running = await start(running=ref("1.0.0", 1))
    await push(running.client, "1.1.0", 2)
    await settle(running.client)

    deployments = (await running.cli("deployments", "--repo", NAME)).out.splitlines()
    events = (await running.cli("events")).out.splitlines()

    assert deployments[0].split() == (
        ["ID", "CREATED", "TARGET", "REPOSITORY", "IMAGE", "STATUS", "TRIGGER", "REASON"]
    )
    reason = f"1.1.0 is newer than running 1.0.0 (now on {ref('1.1.0', 2)})"
    assert deployments[1].split()[3:] == [
        *("recording:web", NAME, f"1.1.0@{short(2)}", "succeeded", "push"),
        *reason.split(),
    ]
    assert events[0].split() == [
        "ID",
        "RECEIVED",
        "SOURCE",
        "ACTION",
        "REPOSITORY",
        "TAG",
        "DIGEST",
        "STATUS",
    ]
    assert events[1].split()[3:] == [
        *("registry", "push", f"{REGISTRY}/{NAME}", "1.1.0", short(2), "done")
    ]
    listed = (await running.cli("deployments", "--json")).json()["deployments"]
    assert [d["status"] for d in listed] == ["succeeded"]


async def test_deployments_follow_shows_each_change_until_ctrl_c(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks = 0
    listed = ReadModel.deployments

    async def counted(self: ReadModel, found: Sequence[Deployment]) -> list[DeploymentView]:
        nonlocal looks
        looks += 1
        return await listed(self, found)

    monkeypatch.setattr(ReadModel, "deployments", counted)
    running = await start(running=ref("1.0.0", 1))
    command = ["deployments", "--follow", "--json", "--url", running.url, "--token", API_TOKEN]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "receiver",
        *command,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # A shell without job control starts background jobs with SIGINT ignored, and Python
        # then leaves it ignored: give the command Ctrl-C as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    try:
        # It has looked once, and found nothing (with --json it prints nothing then).
        await until("the CLI has looked at the deployments", lambda: looks > 0, seconds=20)
        await push(running.client, "1.1.0", 2)
        seen: list[str] = []
        while "succeeded" not in seen:
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            seen.append(json.loads(line)["status"])
        assert seen[-1] == "succeeded"
        assert set(seen) <= {"planned", "running", "succeeded"}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = await asyncio.wait_for(process.wait(), 20)
        finally:
            if process.returncode is None:  # it ignored Ctrl-C: leave nothing running
                process.kill()
                await process.wait()
    assert code == 0
    assert process.stderr is not None
    assert await process.stderr.read() == b""


async def test_status_says_ok_and_exits_0(start: Start) -> None:
    running = await start()

    shown = await running.cli("status")

    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == f"regdeploy {version()} at {running.url}: ok"
    assert lines[1].split() == ["database", "up", "(external)"]
    assert lines[2].split() == ["deployers", "recording:", "reachable"]
    assert "docker off: no deployers.docker section" in lines[3]
    assert lines[5].split()[:3] == ["queue", "0", "events"]
    assert (await running.cli("status", "--json")).json()["status"] == "ok"


# -- failures -------------------------------------------------------------------------------------


async def test_a_wrong_token_prints_the_servers_message_and_exits_1(start: Start) -> None:
    running = await start()
    shown = await running.cli("repos", token="not-a-token")
    assert (shown.code, shown.out) == (1, "")
    assert shown.err == "regdeploy: missing or wrong API token (HTTP 401)\n"


async def test_no_token_at_all_says_where_one_goes(start: Start) -> None:
    running = await start()
    shown = await running.cli("status", token=None)
    assert shown.code == 1
    assert shown.err.splitlines() == [
        "regdeploy: missing or wrong API token (HTTP 401)",
        "regdeploy: give an API token with --token, $REGDEPLOY_TOKEN or $REGDEPLOY_TOKEN_FILE",
    ]


async def test_a_read_token_may_read_but_not_pin(start: Start) -> None:
    running = await start()
    await push(running.client, "1.0.0", 1)
    assert (await running.cli("repos", token=READ_TOKEN)).code == 0
    refused = await running.cli("pin", NAME, "1.0.0", token=READ_TOKEN)
    assert (refused.code, refused.err) == (1, "regdeploy: this token may only read (HTTP 403)\n")


async def test_a_tag_nobody_pushed_is_refused_with_the_servers_message(start: Start) -> None:
    running = await start()
    shown = await running.cli("pin", NAME, "1.4.0")
    assert shown.code == 1
    assert shown.err == (
        "regdeploy: tag '1.4.0' of team/app is not in the registry (as far as it told) (HTTP 400)\n"
    )


async def test_an_unknown_repository_is_refused(start: Start) -> None:
    running = await start()
    shown = await running.cli("explain", "no/such")
    assert (shown.code, shown.err) == (
        1,
        "regdeploy: no watched repository named 'no/such' (HTTP 404)\n",
    )


async def test_the_token_comes_from_the_environment_or_a_file(
    start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = await start()
    monkeypatch.setenv("REGDEPLOY_TOKEN", API_TOKEN)
    assert (await running.cli("repos", token=None)).code == 0
    monkeypatch.delenv("REGDEPLOY_TOKEN")
    default = tmp_path / "home" / ".config" / "regdeploy" / "token"
    default.parent.mkdir(parents=True)
    default.write_text(API_TOKEN + "\n")
    assert (await running.cli("repos", token=None)).code == 0


def test_a_service_that_is_not_running_is_one_line_naming_the_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["status", "--url", url, "--token", API_TOKEN]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"regdeploy: no regdeploy answers at {url} (connection refused); start one "
        "(`make run`, `regdeploy serve`) or give its address with --url, $REGDEPLOY_URL or "
        "$REGDEPLOY_PORT\n"
    )


def test_the_url_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("REGDEPLOY_URL", url)
    assert main(["repos"]) == 3
    assert f"no regdeploy answers at {url} " in capsys.readouterr().err


def test_without_a_url_the_port_comes_from_the_environment_as_make_run_serves_on_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("REGDEPLOY_PORT", str(port))
    assert main(["repos"]) == 3
    assert f"no regdeploy answers at http://127.0.0.1:{port} " in capsys.readouterr().err
    monkeypatch.setenv("REGDEPLOY_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["repos"]) == 3
    assert f":{port} " not in capsys.readouterr().err


async def test_status_finds_the_service_on_the_port_of_the_environment(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = await start()
    monkeypatch.setenv("REGDEPLOY_PORT", running.url.rsplit(":", 1)[1])
    running.capsys.readouterr()

    code = await asyncio.to_thread(main, ["status", "--token", API_TOKEN])

    assert code == 0
    assert running.capsys.readouterr().out.splitlines()[0] == (
        f"regdeploy {version()} at {running.url}: ok"
    )
