"""The regdeploy processes that run now, and the configuration each runs (``processes``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from receiver.store.connector import Connector, as_json
from receiver.store.records import ProcessState

#: How often a process says (again) which configuration it runs, and how long after its last
#: word it still counts as running.
SEEN_SECONDS = 10.0
GONE_SECONDS = 3 * SEEN_SECONDS


class ProcessQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def announce(self, process: ProcessState) -> None:
        """Say (again) that ``process`` runs, and what."""
        params = {f.name: getattr(process, f.name) for f in dataclasses.fields(process)}
        params["refusal"] = None if process.refusal is None else as_json(list(process.refusal))
        params["restart_needed"] = as_json(list(process.restart_needed))
        await self._db.execute("announce_process", params)

    async def seen(self, *, within: float = GONE_SECONDS) -> list[ProcessState]:
        """The processes that said so within the last ``within`` seconds, oldest first."""
        rows = await self._db.all("processes_seen", {"seconds": within})
        return [_state(row) for row in rows]

    async def leave(self, process_id: str) -> None:
        await self._db.execute("leave_process", {"id": process_id})


def _state(row: dict[str, Any]) -> ProcessState:
    refusal, later = row.pop("refusal"), row.pop("restart_needed")
    return ProcessState(
        **row,
        refusal=tuple(refusal) if isinstance(refusal, list) else None,
        restart_needed=tuple(later),
    )
