"""The console's sessions: who signed in (a token's name and scope), their CSRF token, a
message for their next page, and the forms they already sent."""

from __future__ import annotations

from collections.abc import Collection

from receiver.store.connector import Connector
from receiver.store.records import ConsoleSession


class SessionQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def create_session(
        self, *, id_hash: str, token_name: str, scope: str, csrf_token: str, seconds: float
    ) -> ConsoleSession:
        """A new session for ``seconds``; the sessions that expired meanwhile go."""
        params = {
            "id_hash": id_hash,
            "token_name": token_name,
            "scope": scope,
            "csrf_token": csrf_token,
            "seconds": seconds,
        }
        async with self._db.transaction() as tx:
            await tx.execute("purge_console_sessions")
            row = await tx.one("create_console_session", params)
        assert row is not None  # INSERT ... RETURNING
        return ConsoleSession(**row)

    async def find_session(self, id_hashes: list[str]) -> ConsoleSession | None:
        """The unexpired session of one of ``id_hashes``, if there is one."""
        row = await self._db.one("find_console_session", {"id_hashes": id_hashes})
        return ConsoleSession(**row) if row is not None else None

    async def open_sessions(self, id_hashes: Collection[str]) -> set[str]:
        """Those of ``id_hashes`` whose session still holds (not ended, not expired)."""
        rows = await self._db.all("open_console_sessions", {"id_hashes": list(id_hashes)})
        return {row["id_hash"] for row in rows}

    async def end_session(self, id_hash: str) -> None:
        await self._db.execute("delete_console_session", {"id_hash": id_hash})

    async def set_flash(self, id_hash: str, flash: str | None) -> None:
        """Keep ``flash`` for the session's next page (None: it was shown)."""
        await self._db.execute("set_console_flash", {"id_hash": id_hash, "flash": flash})

    async def first_submission(self, id_hash: str, form_token: str) -> bool:
        """Record that the session sent the form ``form_token``: True the first time only."""
        params = {"id_hash": id_hash, "form_token": form_token}
        return await self._db.one("record_console_submission", params) is not None
