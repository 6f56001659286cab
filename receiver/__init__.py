"""The running regdeploy service: CLI, configuration, web app, store."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed package's version (``unknown`` when run from a tree nobody installed)."""
    try:
        return metadata.version("regdeploy")
    except metadata.PackageNotFoundError:
        return "unknown"
