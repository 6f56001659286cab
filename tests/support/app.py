"""The app under test, started by one factory: the ``start_app`` fixture (``tests/conftest.py``).

It serves the real app on the test's database through pytest-aiohttp's test client, with the
configuration of ``tests.support.settings.make_config`` for team/app on ``registry.test:5000``
(digests not confirmed: that name stands for no running registry) and a recording deployer.
A test file wraps it only where it adds something of its own (release control's clock and
rounds, a fake Nomad agent, a worker switch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from deployers.base import Deployer, Deployers
from receiver.app import init_app
from receiver.clock import Clock
from receiver.config import loading as configuration
from receiver.config.loading import Config
from receiver.reloading import ConfigSource
from tests.support.api import Client, ClientFactory
from tests.support.pushes import REGISTRY, WEB, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import config_document

#: A worker that polls, retries and takes over stalled deploys within a test's patience.
FAST_WORKER: Mapping[str, Any] = {
    "poll_interval_seconds": 0.2,
    "stall_timeout_seconds": 3,
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.2,
}


class AppUnderTest(NamedTuple):
    """The started app's test client and its recording deployer (a tuple, so that a test
    writes ``client, deployer = await start_app()``)."""

    client: Client
    deployer: RecordingDeployer


class StartApp:
    """Starts apps on one database (several may share it, and a deployer, as replicas or a
    restart do): the ``start_app`` fixture."""

    def __init__(self, aiohttp_client: ClientFactory, db_uri: str) -> None:
        self._aiohttp_client = aiohttp_client
        self._db_uri = db_uri

    async def __call__(
        self,
        *,
        repositories: Sequence[Mapping[str, Any]] | None = None,
        running: str | None = None,
        deployer: RecordingDeployer | None = None,
        deployers: Sequence[Deployer] | None = None,
        worker: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        port: int | None = None,
        config_file: Path | None = None,
        **config: Any,
    ) -> AppUnderTest:
        """Start the app; every option has a default:

        - ``repositories``: the ``repositories:`` entries (default: team/app with target
          ``web``, ``tests.support.pushes.repository()``);
        - ``running``: the image ``web`` runs before the app starts (default: nothing);
        - ``deployer``: the recording deployer (default: a new one);
        - ``deployers``: the app's deployers where they are not just ``deployer`` (another kind
          beside it, or one instead of it);
        - ``worker``: the ``worker:`` section as written (default: ``make_config``'s, the
          worker off);
        - ``clock``: the clock the app judges time by (default: the machine's);
        - ``port``: the port to serve on (default: any free one);
        - ``config_file``: the file the configuration is written to and read from, as
          ``serve --config FILE`` reads it, so that a reload reads it again (default: none, and
          the app cannot be reloaded);
        - ``config``: any other top-level section of ``make_config`` (``api``, ``notifiers``,
          ``dry_run``, ...).
        """
        deployer = deployer or RecordingDeployer()
        if running is not None:
            deployer.run(WEB, running)
        document = config_document(
            self._db_uri,
            registry=REGISTRY,
            confirm_digests=False,  # registry.test names no running registry
            repositories=list(repositories) if repositories is not None else [repository()],
            **({} if worker is None else {"worker": dict(worker)}),
            **config,
        )
        source = None if config_file is None else _written(config_file, document)
        settings = source.load() if source else configuration.parse(document, env={})
        chosen = Deployers([deployer] if deployers is None else deployers)
        app = init_app(settings, deployers=chosen, clock=clock, source=source)
        server = {} if port is None else {"port": port}
        return AppUnderTest(await self._aiohttp_client(app, server_kwargs=server), deployer)


def _written(path: Path, document: Mapping[str, Any]) -> ConfigSource:
    """``document`` written to ``path``, and how a reload reads it again."""
    path.write_text(yaml.safe_dump(dict(document)), encoding="utf-8")

    def load() -> Config:
        # Read without this machine's environment, as make_config parses: a DOCKER_HOST or
        # NOMAD_ADDR of whoever runs the tests turns no deployer on.
        return configuration.load(path, env={})

    return ConfigSource(path=str(path), load=load)
