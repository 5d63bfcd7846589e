"""Who logs an operator action another process took, read from the shared overrides: the
leader, once, so that the daemons' logs have each action once (docs/operating.md).

A follower leaves an action to the leader, but keeps it until the leader says it has read
that revision of the overrides (each decisions message names the newest it has read): a
leader killed with -9, or stopped, while its lease still ran never read it, and the follower
that took over had left it to that leader: a pin taken a second after the leader's kill -9
was in no daemon's log. A follower that comes to lead logs those it still keeps. A leader
whose lease has run out (it was stopped, SIGSTOP, and has not yet ticked to learn it lost the
lease) is not taken at its word: it keeps what it reads, as a follower does, until its next
renewal says whether it leads (else the action was logged by both).

A process that starts is told too of the actions written before it ran that no leader logged
(the `logged` mark, controller.coordination.logged_mark): a pin taken on a dashboard while no
daemon ran was in no daemon's log. The leader raises that mark whenever it keeps nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.core.events import ActionEvent

if TYPE_CHECKING:
    from controller.runtime.loop import Reconciler

log = logging.getLogger("agentdash")

KEPT = 1_000
"""The most actions kept for a leader never heard (a dashboard with no daemon running)."""


class OthersActions:
    """The leader's log of the actions other processes took."""

    def __init__(self, loop: Reconciler, emit: Callable[[dict[str, Any]], None]) -> None:
        self._loop = loop
        self._emit = emit
        self._kept: list[tuple[ActionEvent, str, int]] = []
        """Each action left to the leader, where it came from, and its overrides revision."""

    def told(self, event: ActionEvent, origin: str, revision: int) -> None:
        """An action another process took, as the shared overrides read it."""
        if self._leads_now():
            self._emit({**event.as_dict(), "from": origin})
            return
        self._kept = [*self._kept[-(KEPT - 1) :], (event, origin, revision)]
        what = f"{event.action} {event.target} by {event.who} from {origin}"
        log.debug("%s: the leader logs it", what)

    def leader_read(self, leader: str, revision: int) -> None:
        """The leader has read the overrides up to `revision` (its decisions message)."""
        if leader == self._loop.leader and not self._loop.leading:
            self._kept = [kept for kept in self._kept if kept[2] > revision]

    def ticked(self) -> None:
        """After each tick: a new leader logs what the last one had not read."""
        if self._kept and self._leads_now():
            for event, origin, _ in self._kept:
                self._emit({**event.as_dict(), "from": origin})
            self._kept = []

    def all_logged(self) -> bool:
        """Whether this process leads, and has logged every action it was told of."""
        return not self._kept and self._leads_now()

    def _leads_now(self) -> bool:
        lease = self._loop.lease
        return self._loop.leading and (lease is None or lease.valid_until > time.monotonic())
