"""Run the real regdeploy service with the recording deployer, for tests that kill it.

    python -m tests.support.serve_recording CONFIG STATE_FILE DELAY_SECONDS

The deployer keeps what each target runs in STATE_FILE and logs every deploy it starts and
finishes beside it (STATE_FILE with the suffix .log), so a test sees what happened across a kill.
``SIGHUP`` reads CONFIG again, as ``regdeploy serve`` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from deployers.base import Deployers
from receiver import logs
from receiver.app import init_app
from receiver.config import loading as configuration
from receiver.reloading import ConfigSource
from tests.support.recording import RecordingDeployer


def main() -> None:
    config_path, state_file, delay = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    logs.configure()
    config = configuration.load(config_path)
    deployer = RecordingDeployer(delay=delay, state_file=state_file)
    source = ConfigSource(path=config_path, load=lambda: configuration.load(config_path))
    app = init_app(config, deployers=Deployers([deployer]), source=source)
    web.run_app(app, host=config.server.host, port=config.server.port, print=None)


if __name__ == "__main__":
    main()
