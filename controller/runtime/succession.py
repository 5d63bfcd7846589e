"""What one leader keeps for the next and takes over from the last: the time rules' history
(controller.coordination.handover) and the budget forecast's memory
(controller.coordination.spend_handover), both in NATS KV, so that a successor holds what its
predecessor held rather than learn it all again.
"""

from __future__ import annotations

from controller.coordination.handover import HistoryHandover
from controller.coordination.spend_handover import SpendHandover
from controller.core.engine import Engine


class Succession:
    """The loop's handovers: taken over once on becoming leader, before its first decision;
    handed on at the end of each tick it leads."""

    def __init__(
        self,
        engine: Engine,
        *,
        handover: HistoryHandover | None,
        spend_handover: SpendHandover | None,
    ) -> None:
        self.engine = engine
        self.handover = handover
        """Where the leader keeps the time rules' history for the next one (NATS KV)."""
        self._restored = False
        self.spend_handover = spend_handover
        """Where the leader keeps the budget forecast's memory for the next one (NATS KV)."""
        self._spend_restored = False

    async def take_over(self, leading: bool, now: float) -> None:
        """On becoming leader, before its first decision: take in what the last leader
        remembered (the time rules' history, the budget forecast), to hold what it held."""
        if self.handover is not None and leading != self._restored:
            if leading:
                await self.handover.restore(self.engine.history, now)
                self.engine.touch_all()
            self._restored = leading
        spend = self.spend_handover
        if spend is not None and leading != self._spend_restored:
            if leading:  # paced tenants are claimed at every step: no pool to touch
                await spend.restore(self.engine.spend, now)
            self._spend_restored = leading

    async def hand_on(self, leading: bool, now: float) -> None:
        """While leading: keep what the next leader takes over."""
        if self.handover is not None and leading:
            await self.handover.save(self.engine.history, now)
        if self.spend_handover is not None and leading:
            await self.spend_handover.save(self.engine.spend, now)
