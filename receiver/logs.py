"""One log stream: every record, structlog's and the standard library's, as one line on stdout.

The lines are JSON objects when stdout is not a terminal, structlog's console rendering on one;
``LOG_FORMAT`` (json, console) overrides that choice. Each line has ``timestamp`` (ISO 8601,
UTC), ``level``, ``logger`` (the name given to ``structlog.get_logger`` or ``logging.getLogger``)
and ``event`` (for a standard library record, its formatted message); an exception is the
``exception`` field of its line. Python's warnings become ``py.warnings`` lines, and an exception
that nothing caught a ``regdeploy`` line ``uncaught_exception`` instead of a traceback on stderr.

``LOG_LEVEL`` (debug, info, warning, error; default info) is the level of regdeploy's own
events. Libraries (aiohttp, asyncio, the database driver) speak from WARNING up, or from
LOG_LEVEL when that is higher. At debug they speak at debug too, which is a trickle (asyncio's
selector at start, aiohttp's rejected malformed requests), not a flood; aiohttp's access log
stays quiet at every level, as regdeploy logs its own line per request.

Events have fixed snake_case names; callers pass chosen fields, never bodies, headers or
secrets.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from types import TracebackType

import structlog
from structlog.types import Processor

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# The root logger's handler that ``configure`` installs, found again by this name when it is
# called a second time.
_HANDLER_NAME = "regdeploy"

# What every line gets, whether it comes from structlog or from the standard library.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure(*, env: Mapping[str, str] | None = None) -> None:
    """Send every log record to stdout, one line each, in one format.

    A second call replaces the first one's set-up (and its handler: no line is written twice).
    """
    env = os.environ if env is None else env
    level = _LEVELS.get(env.get("LOG_LEVEL", "info").lower(), logging.INFO)
    fmt = env.get("LOG_FORMAT", "").lower() or ("console" if sys.stdout.isatty() else "json")
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    library_level = level if level == logging.DEBUG else max(level, logging.WARNING)
    _install(_stdout_handler(console=fmt == "console", library_level=library_level), level=level)
    # regdeploy logs one line per request itself.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _stdout_handler(*, console: bool, library_level: int) -> logging.Handler:
    renderer: list[Processor] = (
        # Plain tracebacks: rich's would print every frame's locals, secrets included.
        [structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)]
        if console
        else [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    handler.addFilter(_libraries_from(library_level))
    return handler


def _libraries_from(level: int) -> Callable[[logging.LogRecord], bool]:
    """A filter passing structlog's events and other records from ``level`` up."""

    def allow(record: logging.LogRecord) -> bool:
        # ``wrap_for_formatter`` marks structlog's events, whose level was checked already.
        return record.levelno >= level or hasattr(record, "_logger")

    return allow


def _install(handler: logging.Handler, *, level: int) -> None:
    """Make ``handler`` the root logger's only one of ours, open from ``level`` up."""
    root = logging.getLogger()
    for earlier in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(earlier)
        earlier.close()
    root.addHandler(handler)
    root.setLevel(level)


def _log_uncaught(
    kind: type[BaseException], exc: BaseException, traceback: TracebackType | None
) -> None:
    structlog.get_logger("regdeploy").critical(
        "uncaught_exception", exc_info=(kind, exc, traceback)
    )
