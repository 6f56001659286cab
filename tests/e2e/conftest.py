"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components import free_port, require_binary
from tests.conftest import REGISTRY_TOKEN
from tests.e2e.registry import Registry


@pytest.fixture
def notifying(tmp_path: Path) -> Iterator[tuple[Registry, int]]:
    """A real registry that will notify regdeploy (``/webhooks/registry`` with the registry
    source's token) on the free port it yields with it; regdeploy is the test's to start."""
    for tool in ("docker-registry", "skopeo", "busybox"):
        require_binary(tool)
    port = free_port()
    with Registry(
        tmp_path / "registry",
        notify_url=f"http://127.0.0.1:{port}/webhooks/registry",
        notify_token=REGISTRY_TOKEN,
    ) as started:
        yield started, port
