"""What the loop says about the lease after each renewal (controller.coordination.lease):

- a line when this process starts or stops leading, and whom it follows;
- a broken lease (an entry that names no holder): one warning with its revision and value,
  and no more than one per `QUIET_S` however often it is written again (a flood must not
  flood the log);
- the lease as a problem in `SourceHealth` (so /healthz is not ready, and the dashboard's
  header says why) while it is broken and this process does not lead, or while no valid
  leader has held it for more than its holder's TTL (a Kubernetes Lease's own
  leaseDurationSeconds, which may differ from this process's --lease-ttl): nothing scales
  then, and a probe that said ready would hide it.

Each is a log line and a HealthEvent on the bus.

And `Bench`: a leader cut off from the cluster gives the lease up (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from controller.coordination.lease import BrokenLease, Lease
from controller.core.events import EventBus, HealthEvent
from controller.runtime.actuation import CutOff
from controller.runtime.health import SourceHealth

log = logging.getLogger("agentdash.loop")

SOURCE = "lease"
QUIET_S = 10.0
"""The least time between two lines about a broken lease."""
STEP_DOWN_TTLS = 3
"""A leader whose scale calls have met no API server that answered it (or knew it: 401) for
this many of the lease's TTLs gives the lease up, and sits out one TTL."""


def read_again_in(
    *, read_at: float, ttl: float, holder_ttl: float, call_deadline: float, now: float
) -> float:
    """Seconds until a process that does not lead must read the lease again (`read_at`: when
    it last did): before what it read names no leader any more, by the shorter of its own TTL
    and the holder's (a Kubernetes Lease's holder keeps its own, and is named for only that
    long after its last renewal seen). The read starts a call deadline early, but never more
    than a third of that TTL: a deadline longer than the TTL (a --lease-ttl three times the
    holder's) would have it read again at once, read after read."""
    within = min(ttl, holder_ttl)
    return read_at + within - min(call_deadline, within / 3) - now


class LeaseTeller:
    def __init__(
        self, lease: Lease, health: SourceHealth, bus: EventBus, timer: Callable[[], float]
    ) -> None:
        self.lease = lease
        self._health = health
        self._bus = bus
        self._timer = timer
        self._held_at: float | None = None
        """timer() when a valid leader (this process or another) was last known."""
        self._seen_broken: int | None = None
        """The revision of the last broken entry noted (told, or left untold)."""
        self._followed: str | None = None
        """The leader this process last said it follows (None: none said since it led)."""
        self._told_at: float | None = None
        self._untold = 0
        """Broken entries seen since the last line about one (within QUIET_S of it)."""

    def renewed(self, was: bool, leading: bool, leader: str | None, now: float) -> None:
        """After a renewal: `was` and `leading`, whether this process led before and now;
        `leader`, who leads as it knows (None: no valid leader known)."""
        broken = self._due_broken()
        if broken is not None:
            self._tell_broken(broken, leading, now)
        elif leading != was or (not leading and leader not in (None, self._followed)):
            # A follower says whom it follows when it learns it: a leader that lost the lease
            # in a NATS stall said "not leading", and nothing once another led.
            self._tell_change(leading, leader, now)
        if leading != was or leader is not None:
            self._followed = None if leading else leader
        self._judge(leading, leader, now)

    def _due_broken(self) -> BrokenLease | None:
        """The last broken entry, if not noted yet and due a line."""
        broken = self.lease.last_broken
        if broken is None or broken.revision == self._seen_broken:
            return None
        self._seen_broken = broken.revision
        at = self._timer()
        if self._told_at is not None and at - self._told_at < QUIET_S:
            self._untold += 1
            return None
        self._told_at = at
        return broken

    def _tell_broken(self, broken: BrokenLease, leading: bool, now: float) -> None:
        if leading:
            then = "this process took it back"
        else:
            then = f"taken over if no valid holder writes it within {self.lease.ttl:g} s"
        more = f" ({self._untold} more since the last line)" if self._untold else ""
        self._untold = 0
        detail = (
            f"broken: revision {broken.revision} holds {broken.value}, not an agentdash lease:"
            f" not followed; {then}{more}"
        )
        log.warning("lease: %s", detail)
        self._bus.publish(HealthEvent(ts=now, source=SOURCE, ok=leading, detail=detail))

    def _tell_change(self, leading: bool, leader: str | None, now: float) -> None:
        if leading or leader is not None:
            detail = "leading" if leading else f"following {leader}"
        elif self.lease.broken is not None:
            detail = "not leading: the lease is broken"
        else:
            why = f" ({self.lease.unwritten})" if self.lease.unwritten else ""
            detail = f"not leading: the lease cannot be renewed{why}, and no leader is known"
        log.info("lease: %s", detail)
        ok = leading or leader is not None
        self._bus.publish(HealthEvent(ts=now, source=SOURCE, ok=ok, detail=detail))

    def _judge(self, leading: bool, leader: str | None, now: float) -> None:
        """The lease as a problem, or not: broken (told already, so set quietly), or no valid
        leader for more than the holder's TTL (told as a source failing, and recovering).
        The holder's (controller.coordination.lease.Lease.holder_ttl), not this process's: a
        standby reads the lease within it, and takes over once the holder's lease has run
        out. By its own, a reader at 60 s beside a holder at 5 s that died would wait 60 s
        more to say so, and one at 5 s beside a holder at 60 s would say so while a standby
        may still be about to take over."""
        at = self._timer()
        ttl = self.lease.holder_ttl
        if self._held_at is None or leading or leader is not None:
            self._held_at = at
        broken = self.lease.broken
        if broken is not None and not leading:
            self._health.problems[SOURCE] = (
                f"broken: revision {broken.revision} holds {broken.value}, not an agentdash lease"
            )
        elif at - self._held_at > ttl:
            no_leader = f"no valid leader for more than the lease's TTL ({ttl:g} s)"
            if self.lease.unwritten:
                no_leader += f"; this process cannot write it: {self.lease.unwritten}"
            self._health.unhealthy(SOURCE, no_leader, now)
        else:
            self._health.healthy(SOURCE, now)


class Bench:
    """A leader cut off from the cluster steps down, so that another controller, which may
    reach the API server, takes over. The lease says only that its holder reaches NATS: with
    a NATS lease, a leader behind a stalled network, or whose token the API server no longer
    knew (401), led for good and nothing scaled, while a follower that could reach the API
    server waited (found on a real kube-apiserver). It gives the lease up after
    STEP_DOWN_TTLS of its TTLs without an answer, and does not contend for one TTL, time for
    a follower to take it; where the API server is away for every controller, the lease
    passes among them once a few TTLs, and nothing could scale anyway."""

    def __init__(self, lease: Lease) -> None:
        self._lease = lease
        self._contends = lease.contend
        """Whether this process contends at all (a read-only dashboard never does)."""
        self.until = -math.inf
        """Until when (the loop's clock) it sits out."""

    def before_renewal(self, now: float) -> None:
        self._lease.contend = self._contends and now >= self.until

    async def after_renewal(self, leading: bool, cut_off: CutOff | None, now: float) -> bool:
        """Whether this process still leads: it steps down if cut off long enough."""
        patience = STEP_DOWN_TTLS * self._lease.ttl
        if not leading or cut_off is None or now - cut_off.since < patience:
            return leading
        log.warning(
            "lease: given up, for another controller to scale: no answer from the Kubernetes"
            " API for %.0f s (%s); not contending for %g s",
            now - cut_off.since,
            cut_off.why,
            self._lease.ttl,
        )
        with contextlib.suppress(TimeoutError):  # else it expires by itself
            await asyncio.wait_for(self._lease.release(), self._lease.ttl / 4)
        self.until = now + self._lease.ttl
        self._lease.contend = False
        return False
