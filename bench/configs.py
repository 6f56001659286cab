"""regdeploy configurations for the benchmarks, as an operator would write them.

One Distribution source whose registry name (``registry.bench:5000``) stands for no running
registry, so its digests are not confirmed (``confirm_digests: false``); the reconciler off (it
would ask that registry); everything else at its default, logging included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import pushes
from bench.processes import free_port


def service(
    *,
    db_uri: str,
    repositories: Sequence[dict[str, Any]] = (),
    nomad_url: str | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": free_port()},
        "database": {"url": db_uri},
        "sources": [
            {
                "name": pushes.SOURCE,
                "format": "distribution",
                "token": pushes.SOURCE_TOKEN,
                "registry": pushes.REGISTRY,
                "confirm_digests": False,
            }
        ],
        "api": {"tokens": [{"name": "bench", "token": pushes.API_TOKEN, "scope": "read"}]},
        "repositories": list(repositories),
        "reconciler": {"interval_seconds": 0},
    }
    if nomad_url is not None:
        config["nomad"] = {"address": nomad_url}
    return config


def watched(name: str, *, job: str, policy: str = "minor") -> dict[str, Any]:
    """A watched repository of the bench registry whose one target is Nomad job ``job``."""
    return {
        "name": name,
        "image": f"{pushes.REGISTRY}/{name}",
        "policy": policy,
        "targets": [{"nomad": {"job": job}}],
    }


def job(job_id: str, image: str, *, opt_in: bool = False) -> dict[str, Any]:
    """A Nomad job of the fake (see ``bench.nomad_runner``)."""
    return {"id": job_id, "image": image, "meta": {"regdeploy.enable": "true"} if opt_in else None}
