"""structlog set-up: JSON lines when stdout is not a terminal, readable lines on one.

``LOG_LEVEL`` (debug, info, warning, error) and ``LOG_FORMAT`` (json, console) override the
defaults. Events have fixed snake_case names; callers pass chosen fields, never bodies, headers
or secrets.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure(*, env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    level = _LEVELS.get(env.get("LOG_LEVEL", "info").lower(), logging.INFO)
    fmt = env.get("LOG_FORMAT", "").lower() or ("console" if sys.stdout.isatty() else "json")
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (aiohttp's access log is replaced by our
    # own webhook_received / api_request lines) only speak up for warnings.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
