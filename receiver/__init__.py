"""The running regdeploy service: CLI, configuration, web app, store."""

from __future__ import annotations


def version() -> str:
    """The installed package's version (``unknown`` when run from a tree nobody installed)."""
    # Imported here: importlib.metadata costs a client command's start-up a tenth of its time,
    # and only ``--version`` and the service's status need it.
    from importlib import metadata

    try:
        return metadata.version("regdeploy")
    except metadata.PackageNotFoundError:
        return "unknown"
