"""Watched repositories: seeded from the configuration, changed through the API, audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.references import ImageName
from receiver.config.repositories import WatchedRepository
from receiver.errors import UnknownRepository
from receiver.store.connector import Connector, Row, as_json
from receiver.store.records import AuditEntry, RepositoryState, restored_target, stored_target

# The fields the API may change.
CHANGEABLE = ("pinned_tag", "auto_deploy", "policy")


class RepositoryQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def seed_repositories(self, repositories: Sequence[WatchedRepository]) -> None:
        """Write the configured repositories; keep what the API changed; retire the rest."""
        async with self._db.transaction() as tx:
            for repo in repositories:
                await tx.execute("seed_repository", _seed_params(repo))
            await tx.execute("deactivate_repositories", {"names": [r.name for r in repositories]})

    async def list_repositories(self, *, name: str | None = None) -> list[RepositoryState]:
        rows = await self._db.all("list_repositories", {"name": name})
        return [_state(row) for row in rows]

    async def get_repository(self, name: str) -> RepositoryState:
        found = await self.list_repositories(name=name)
        if not found:
            raise UnknownRepository(f"no watched repository named {name!r}")
        return found[0]

    async def repositories_for_image(self, image: ImageName) -> list[RepositoryState]:
        params = {"registry": image.registry, "repository": image.repository}
        return [_state(row) for row in await self._db.all("repositories_for_image", params)]

    async def change_repository(
        self, name: str, changes: Mapping[str, Any], *, actor: str
    ) -> tuple[RepositoryState, dict[str, tuple[Any, Any]]]:
        """Apply ``changes`` (a subset of CHANGEABLE); audit each field that really changed.

        Returns the new state and ``{field: (old, new)}`` of what changed.
        """
        async with self._db.transaction() as tx:
            row = await tx.one("lock_repository", {"name": name})
            if row is None:
                raise UnknownRepository(f"no watched repository named {name!r}")
            old = {f: row[f] for f in CHANGEABLE}
            new = {**old, **changes}
            changed = {f: (old[f], new[f]) for f in CHANGEABLE if old[f] != new[f]}
            await tx.execute("update_repository", {**new, "name": name, "fields": list(changed)})
            for field, (before, after) in changed.items():
                audit = {"field": field, "old_value": as_json(before), "new_value": as_json(after)}
                await tx.execute("insert_audit", {"name": name, "actor": actor, **audit})
        return await self.get_repository(name), changed

    async def audit(self, name: str, *, actor: str, field: str, old: object, new: object) -> None:
        """Record a change made through the API that is not one of CHANGEABLE (a forced
        deploy)."""
        params = {"old_value": as_json(old), "new_value": as_json(new)}
        await self._db.execute(
            "insert_audit", {"name": name, "actor": actor, "field": field, **params}
        )

    async def list_audit(self, name: str, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self._db.all("list_audit", {"name": name, "limit": limit})
        return [AuditEntry(**row) for row in rows]


def _seed_params(repo: WatchedRepository) -> dict[str, Any]:
    return {
        "name": repo.name,
        "registry": repo.image.registry,
        "repository": repo.image.repository,
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "match_prerelease": repo.match_prerelease,
        "filters": as_json([dict(f) for f in repo.filters]),
        "targets": as_json([stored_target(t) for t in repo.targets]),
        "notify": as_json(list(repo.notify)),
    }


def _state(row: Row) -> RepositoryState:
    rules = WatchedRepository(
        name=row["name"],
        image=ImageName(registry=row["registry"], repository=row["repository"]),
        pinned_tag=row["pinned_tag"],
        auto_deploy=row["auto_deploy"],
        policy=row["policy"],
        match_prerelease=row["match_prerelease"],
        filters=tuple(row["filters"]),
        targets=tuple(restored_target(t) for t in row["targets"]),
        notify=tuple(row["notify"]),
    )
    return RepositoryState(
        rules=rules, overrides=tuple(row["overrides"]), updated_at=row["updated_at"]
    )
