"""Locate the real components (binaries) that tests need.

A missing component skips the test with the apt package to install, except in CI
(``CI=true``), where it fails: CI must never silently skip a real-component test.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

# Debian package that provides each binary the tests use.
APT_PACKAGES: dict[str, str] = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "busybox": "busybox-static",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "docker-compose": "docker-compose",
    "chromium": "chromium",
    "wrk": "wrk",
}


def in_ci() -> bool:
    """True when running in CI (env ``CI`` is ``true``, case-insensitive)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def require_binary(name: str, *, package: str | None = None) -> str:
    """Return the absolute path of executable ``name``.

    When it is not on PATH: fail in CI, otherwise skip, naming the apt package to install.
    """
    path = shutil.which(name)
    if path is not None:
        return os.path.abspath(path)
    pkg = package or APT_PACKAGES.get(name, name)
    reason = (
        f"required binary {name!r} not found on PATH; install it with: apt-get install -y {pkg}"
    )
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing component is a failure)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Whether TCP port ``port`` on 127.0.0.1 is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
