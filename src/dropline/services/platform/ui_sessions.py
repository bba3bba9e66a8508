"""``/ui`` sessions that can be ended everywhere at once.

A session cookie is signed and carries when it was issued; the server keeps no session
rows. "Sign out everywhere" records the moment for the API key, and every page then
refuses that key's sessions issued before it, in every process (the check reads the
database, like the key's revocation)."""

from __future__ import annotations

from datetime import UTC, datetime

from dropline.services.ports import Clock
from dropline.store.uow import UowFactory


class UiSessionService:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def sign_out_everywhere(self, key_id: str) -> None:
        """End every session of ``key_id`` issued up to now."""
        async with self.uow() as uow:
            await uow.session_resets.reset(key_id, datetime.fromtimestamp(self.clock.now(), UTC))
            await uow.commit()

    async def still_valid(self, key_id: str, issued_at: float) -> bool:
        """Whether a session of ``key_id`` issued at ``issued_at`` (Unix seconds) has not
        been signed out everywhere since."""
        async with self.uow(readonly=True) as uow:
            reset = await uow.session_resets.reset_at(key_id)
        return reset is None or issued_at > reset.timestamp()
