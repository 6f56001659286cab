"""Watched repositories: seeded from the configuration, changed through the API, audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg2.extras import Json

from deployers.base import Target
from handlers.errors import RegdeployError
from handlers.references import ImageName
from receiver.records import AuditEntry, RepositoryState
from receiver.store.database import Database
from receiver.watchlist import WatchedRepository

# The fields the API may change.
CHANGEABLE = ("pinned_tag", "auto_deploy", "policy")


class UnknownRepository(RegdeployError):
    """No active watched repository has that name."""


class RepositoryQueries(Database):
    async def seed_repositories(self, repositories: Sequence[WatchedRepository]) -> None:
        """Write the configured repositories; keep what the API changed; retire the rest."""
        async with self._transaction() as cur:
            for repo in repositories:
                await cur.execute(self._queries["seed_repository"], _seed_params(repo))
            await cur.execute(
                self._queries["deactivate_repositories"], {"names": [r.name for r in repositories]}
            )

    async def list_repositories(self, *, name: str | None = None) -> list[RepositoryState]:
        rows = await self._fetch("list_repositories", {"name": name})
        return [_state(row) for row in rows]

    async def get_repository(self, name: str) -> RepositoryState:
        found = await self.list_repositories(name=name)
        if not found:
            raise UnknownRepository(f"no watched repository named {name!r}")
        return found[0]

    async def repositories_for_image(self, image: ImageName) -> list[RepositoryState]:
        params = {"registry": image.registry, "repository": image.repository}
        return [_state(row) for row in await self._fetch("repositories_for_image", params)]

    async def change_repository(
        self, name: str, changes: Mapping[str, Any], *, actor: str
    ) -> tuple[RepositoryState, dict[str, tuple[Any, Any]]]:
        """Apply ``changes`` (a subset of CHANGEABLE); audit each field that really changed.

        Returns the new state and ``{field: (old, new)}`` of what changed.
        """
        async with self._transaction() as cur:
            await cur.execute(self._queries["lock_repository"], {"name": name})
            row = await cur.fetchone()
            if row is None:
                raise UnknownRepository(f"no watched repository named {name!r}")
            old = dict(zip(CHANGEABLE, row, strict=True))
            new = {**old, **changes}
            changed = {f: (old[f], new[f]) for f in CHANGEABLE if old[f] != new[f]}
            await cur.execute(
                self._queries["update_repository"], {**new, "name": name, "fields": list(changed)}
            )
            for field, (before, after) in changed.items():
                await cur.execute(
                    self._queries["insert_audit"],
                    {
                        "name": name,
                        "actor": actor,
                        "field": field,
                        "old_value": Json(before),
                        "new_value": Json(after),
                    },
                )
        return await self.get_repository(name), changed

    async def list_audit(self, name: str, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self._fetch("list_audit", {"name": name, "limit": limit})
        return [AuditEntry(**row) for row in rows]

    async def repository_tags(self, image: ImageName) -> dict[str, str]:
        """The catalog of one repository: tag -> digest."""
        params = {"registry": image.registry, "repository": image.repository}
        return {row["tag"]: row["digest"] for row in await self._fetch("repository_tags", params)}


def _seed_params(repo: WatchedRepository) -> dict[str, Any]:
    return {
        "name": repo.name,
        "registry": repo.image.registry,
        "repository": repo.image.repository,
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "match_prerelease": repo.match_prerelease,
        "filters": Json([dict(f) for f in repo.filters]),
        "targets": Json([t.as_json() for t in repo.targets]),
        "notify": Json(list(repo.notify)),
    }


def _state(row: dict[str, Any]) -> RepositoryState:
    rules = WatchedRepository(
        name=row["name"],
        image=ImageName(registry=row["registry"], repository=row["repository"]),
        pinned_tag=row["pinned_tag"],
        auto_deploy=row["auto_deploy"],
        policy=row["policy"],
        match_prerelease=row["match_prerelease"],
        filters=tuple(row["filters"]),
        targets=tuple(Target.from_json(t) for t in row["targets"]),
        notify=tuple(row["notify"]),
    )
    return RepositoryState(
        rules=rules, overrides=tuple(row["overrides"]), updated_at=row["updated_at"]
    )
