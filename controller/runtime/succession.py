"""What one leader keeps for the next and takes over from the last: the time rules' history
(controller.coordination.handover), the budget forecast's memory
(controller.coordination.spend_handover) and each tenant's tokens today
(controller.coordination.usage_handover), all in NATS KV, so that a successor holds what its
predecessor held rather than learn it all again, and spends no budget twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from controller.coordination.handover import HistoryHandover
from controller.coordination.spend_handover import SpendHandover
from controller.coordination.usage_handover import UsageHandover
from controller.core.engine import Engine
from controller.core.wording import plural

log = logging.getLogger("agentdash.handover")


class Succession:
    """The loop's handovers: taken over once on becoming leader, before its first decision;
    handed on at the end of each tick it leads."""

    def __init__(
        self,
        engine: Engine,
        *,
        handover: HistoryHandover | None,
        spend_handover: SpendHandover | None,
        usage_handover: UsageHandover | None = None,
    ) -> None:
        self.engine = engine
        self.handover = handover
        """Where the leader keeps the time rules' history for the next one (NATS KV)."""
        self._restored = False
        self.spend_handover = spend_handover
        """Where the leader keeps the budget forecast's memory for the next one (NATS KV)."""
        self._spend_restored = False
        self.usage_handover = usage_handover
        """Where the leader keeps each tenant's tokens today for the next one (NATS KV)."""
        self._usage_restored = False

    async def take_over(self, leading: bool, now: float) -> None:
        """On becoming leader, before its first decision: take in what the last leader
        remembered (the time rules' history, each tenant's tokens today, the budget
        forecast), to hold what it held, and say in a line what that was."""
        taken: list[str] = []
        if self.handover is not None and leading != self._restored:
            if leading:
                pools = await self.handover.restore(self.engine.history, now)
                self.engine.touch_all()
                taken.append(f"the history of {plural(pools, 'pool')}")
            self._restored = leading
        usage = self.usage_handover
        if usage is not None and leading != self._usage_restored:
            if leading:  # before the spend: its samples read the tokens
                tenants = await usage.restore(now)
                self.engine.touch_all()
                taken.append(f"the tokens today of {plural(tenants, 'tenant')}")
            self._usage_restored = leading
        spend = self.spend_handover
        if spend is not None and leading != self._spend_restored:
            if leading:  # paced tenants are claimed at every step: no pool to touch
                tenants = await spend.restore(self.engine.spend, now)
                taken.append(f"the spend forecast of {plural(tenants, 'tenant')}")
            self._spend_restored = leading
        if taken:
            _tell_taken(taken, usage.missing if usage is not None else [])

    async def hand_on(self, leading: bool, now: float) -> None:
        """While leading: keep what the next leader takes over. The three saves go side by
        side: each waits up to its timeout for a NATS that does not answer (and makes its
        bucket again after a NATS that lost its store), so one after the other they would
        hold the tick, and every scale call after it, for three such waits. A follower takes
        in the leader's count of tokens today instead, at most every 10 s, apart from the
        tick (UsageHandover.follow)."""
        if not leading:
            if self.usage_handover is not None:
                self.usage_handover.follow(now)
            return
        saves: list[Awaitable[None]] = []
        if self.handover is not None:
            saves.append(self.handover.save(self.engine.history, now))
        if self.spend_handover is not None:
            saves.append(self.spend_handover.save(self.engine.spend, now))
        if self.usage_handover is not None:
            saves.append(self.usage_handover.save(now))
        await asyncio.gather(*saves)

    async def hand_on_last(self, leading: bool, now: float) -> None:
        """While leading, as it stops in order: each tenant's tokens today, however recently
        they were last saved (the next process would spend again what was reported since).
        The time rules' history was saved at the end of the last tick. A follower drops its
        read of the leader's count on its way."""
        if self.usage_handover is None:
            return
        await self.usage_handover.stop_following()
        if leading:
            await self.usage_handover.save(now, last=True)


def _tell_taken(taken: list[str], missing: list[str]) -> None:
    """One line a takeover: what it took over, and each tenant whose tokens today it found
    none of (a leader that wrote none: its hard cap counts only what this process has read,
    which an operator should know)."""
    said = "took over from NATS KV " + ", ".join(taken)
    if missing:
        said += (
            f"; no count of tokens today for {', '.join(missing)}: counted from the reports "
            "this process has read alone"
        )
    log.info(said)
