"""``regdeploy reload`` and the configuration ``regdeploy status`` shows, against a running
regdeploy started from a file (the real app on a real port, a real PostgreSQL, a recording
deployer): what they print and their exit status as the file changes, breaks and is mended."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.cli import main
from receiver.config import loading as configuration
from receiver.errors import ConfigError
from tests.support.api import Client
from tests.support.app import StartApp
from tests.support.cli_env import isolated_client
from tests.support.pushes import NAME, REGISTRY, repository
from tests.support.settings import API_TOKEN, READ_TOKEN

OTHER = "team/other"


@dataclass(frozen=True, slots=True)
class Shown:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class Served:
    """The app, the file it was started from, and the CLI pointed at it."""

    client: Client
    path: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client.server.port}"

    async def cli(self, *args: str, token: str = API_TOKEN) -> Shown:
        """``regdeploy ARGS --url URL --token TOKEN`` in a thread (the app runs in this event
        loop), with what it printed."""
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, [*args, "--url", self.url, "--token", token])
        printed = self.capsys.readouterr()
        return Shown(code, printed.out, printed.err)

    async def fingerprint(self) -> str:
        shown = await self.cli("status", "--json")
        found: str = json.loads(shown.out)["configuration"]["fingerprint"]
        return found

    def edit(self, **sections: Any) -> None:
        """Rewrite the file with ``sections`` replacing its own."""
        document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        self.path.write_text(yaml.safe_dump({**document, **sections}), encoding="utf-8")

    def problems(self) -> list[str]:
        """What ``check-config`` finds wrong with the file now."""
        with pytest.raises(ConfigError) as checked:
            configuration.load(self.path, env={})
        return list(checked.value.problems)


@pytest.fixture(autouse=True)
def no_client_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from isolated_client(monkeypatch, tmp_path)


@pytest.fixture
async def served(start_app: StartApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Served:
    path = tmp_path / "config.yaml"
    client, _ = await start_app(config_file=path)
    return Served(client, path, capsys)


def other_repository(**overrides: Any) -> dict[str, Any]:
    return repository(name=OTHER, image=f"{REGISTRY}/{OTHER}", **overrides)


async def test_the_same_file_again_is_unchanged(served: Served) -> None:
    before = await served.fingerprint()

    shown = await served.cli("reload")

    assert (shown.code, shown.err) == (0, "")
    [line] = shown.lines
    assert line.startswith(f"{served.path}: unchanged")
    assert before in line
    assert await served.fingerprint() == before


async def test_a_new_repository_runs_under_a_new_fingerprint(served: Served) -> None:
    before = await served.fingerprint()
    served.edit(repositories=[repository(), other_repository()])

    shown = await served.cli("reload")

    assert (shown.code, shown.err) == (0, "")
    [line] = shown.lines  # nothing waits for a restart
    assert line.startswith(f"{served.path}: reloaded")
    after = await served.fingerprint()
    assert after != before
    assert after in line
    status = await served.cli("status")
    assert status.code == 0
    [configuration_line] = [x for x in status.lines if x.startswith("config ")]
    assert configuration_line.split()[1:4] == [str(served.path), "(fingerprint", f"{after},"]
    repos = json.loads((await served.cli("repos", "--json")).out)["repositories"]
    assert sorted(r["name"] for r in repos) == [NAME, OTHER]


async def test_a_broken_file_is_refused_with_its_problems_and_the_old_one_runs_on(
    served: Served,
) -> None:
    before = await served.fingerprint()
    served.edit(repositories=[repository(), other_repository(policy="sometimes")])
    [problem] = served.problems()
    assert "sometimes" in problem

    shown = await served.cli("reload")

    assert (shown.code, shown.err) == (2, "")
    assert shown.lines[0].startswith(f"{served.path}: refused, 1 problem")
    assert before in shown.lines[0]
    assert shown.lines[1:] == [f"  - {problem}"]
    assert await served.fingerprint() == before
    status = await served.cli("status")
    assert status.code == 0
    refused = status.lines.index(next(x for x in status.lines if "last reload REFUSED at" in x))
    assert status.lines[refused].endswith(", for 1 problem:")
    assert status.lines[refused + 1].strip() == f"- {problem}"
    repos = json.loads((await served.cli("repos", "--json")).out)["repositories"]
    assert [r["name"] for r in repos] == [NAME]

    as_json = await served.cli("reload", "--json")
    assert as_json.code == 2
    assert json.loads(as_json.out)["problems"] == [problem]

    served.edit(repositories=[repository()])  # mended: the refusal is history
    assert (await served.cli("reload")).code == 0
    assert "REFUSED" not in (await served.cli("status")).out


async def test_what_is_read_only_at_the_start_says_it_waits_for_a_restart(
    served: Served,
) -> None:
    document = yaml.safe_load(served.path.read_text(encoding="utf-8"))
    served.edit(server={**document["server"], "port": document["server"]["port"] + 1})

    shown = await served.cli("reload")

    assert shown.code == 0
    assert shown.lines[0].startswith(f"{served.path}: reloaded")
    assert shown.lines[-1] == "restart needed for: server.port"
    status = await served.cli("status")
    assert "restart needed for: server.port" in status.out


async def test_a_read_token_may_not_reload(served: Served) -> None:
    shown = await served.cli("reload", token=READ_TOKEN)
    assert (shown.code, shown.out) == (1, "")
    assert shown.err == "regdeploy: this token may only read (HTTP 403)\n"


async def test_a_service_started_without_a_file_cannot_reload(
    start_app: StartApp, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client, _ = await start_app()
    served = Served(client, tmp_path / "none.yaml", capsys)

    shown = await served.cli("reload")

    assert (shown.code, shown.out) == (1, "")
    assert shown.err == (
        "regdeploy: this regdeploy was started without a configuration file to read again "
        "(HTTP 409)\n"
    )
    [configuration_line] = [x for x in (await served.cli("status")).lines if "fingerprint" in x]
    assert configuration_line.split()[:3] == ["config", "(no", "file)"]
