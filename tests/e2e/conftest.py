"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import free_port
from tests.support.registry import Registry
from tests.support.settings import REGISTRY_TOKEN


@pytest.fixture
def notifying(registry_tools: None, tmp_path: Path) -> Iterator[tuple[Registry, int]]:
    """A real registry that will notify regdeploy (``/webhooks/registry`` with the registry
    source's token) on the free port it yields with it; regdeploy is the test's to start."""
    port = free_port()
    with Registry(
        tmp_path / "registry",
        notify_url=f"http://127.0.0.1:{port}/webhooks/registry",
        notify_token=REGISTRY_TOKEN,
    ) as started:
        yield started, port
