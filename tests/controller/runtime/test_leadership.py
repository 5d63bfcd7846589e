"""What the loop says about the lease (LeaseTeller), in-process on an injected clock: a broken
lease told once however often it is written, and a lease without a valid leader for longer
than its TTL as a problem (so /healthz is not ready); and when a process that does not lead
reads the lease again (read_again_in)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from controller.coordination.lease import BrokenLease
from controller.core.events import Event, EventBus, HealthEvent
from controller.runtime.health import SourceHealth
from controller.runtime.leadership import QUIET_S, LeaseTeller, read_again_in
from tests.support import FakeClock

TTL = 10.0


@dataclass
class WatchedLease:
    """What the teller reads of a lease, set by the test."""

    holder: str = "me"
    leader_name: str | None = None
    ttl: float = TTL
    holder_ttl: float = TTL
    broken: BrokenLease | None = None
    last_broken: BrokenLease | None = None
    unwritten: str | None = None
    valid_until: float = -1.0
    contend: bool = True

    def forged(self, revision: int) -> None:
        self.leader_name = None
        self.broken = self.last_broken = BrokenLease.of(revision, b'{"type":"io.nats"}')

    async def renew(self) -> bool:
        return False

    async def release(self) -> None:
        pass


class Told:
    def __init__(self, clock: FakeClock) -> None:
        self.lease = WatchedLease()
        bus = EventBus()
        self.health = SourceHealth(bus)
        self.teller = LeaseTeller(self.lease, self.health, bus, clock)
        self._events: asyncio.Queue[Event] = bus.subscribe()

    def lines(self) -> list[tuple[bool, str]]:
        seen = []
        while not self._events.empty():
            event = self._events.get_nowait()
            assert isinstance(event, HealthEvent)
            seen.append((event.ok, event.detail))
        return seen


def test_a_broken_lease_is_told_once_however_often_it_is_written() -> None:
    clock = FakeClock()
    told = Told(clock)
    told.teller.renewed(False, False, None, clock())
    for revision in range(5, 27):  # the attack, again and again: twice a second
        told.lease.forged(revision)
        told.teller.renewed(False, False, told.lease.leader_name, clock.advance(0.5))
        assert told.health.problems["lease"].startswith(f"broken: revision {revision} holds")
    lines = told.lines()
    assert len(lines) == 2  # 11 s of it: one line, and one more once the quiet is over
    assert lines[0] == (
        False,
        'broken: revision 5 holds \'{"type":"io.nats"}\', not an agentdash lease: not'
        " followed; taken over if no valid holder writes it within 10 s",
    )
    assert lines[1][1].endswith(f"({int(QUIET_S / 0.5) - 1} more since the last line)")


def test_a_leader_that_takes_its_own_entry_back_says_so_and_stays_ready() -> None:
    clock = FakeClock()
    told = Told(clock)
    told.lease.leader_name = "me"
    told.teller.renewed(False, True, "me", clock())
    told.lease.last_broken = BrokenLease.of(8, b"\x1b]0;pwned\x07")  # seen, and taken back
    told.teller.renewed(True, True, "me", clock.advance(1))
    assert told.lines() == [
        (True, "leading"),
        (
            True,
            "broken: revision 8 holds '\\x1b]0;pwned\\x07', not an agentdash lease: not"
            " followed; this process took it back",
        ),
    ]
    assert told.health.problems == {}


def test_no_valid_leader_for_longer_than_the_ttl_is_a_problem_until_one_leads() -> None:
    clock = FakeClock()
    told = Told(clock)
    told.teller.renewed(False, False, None, clock())  # NATS away, say: no leader known
    told.teller.renewed(False, False, None, clock.advance(TTL))
    assert told.health.problems == {}  # not longer than the TTL yet
    for _ in range(3):
        told.teller.renewed(False, False, None, clock.advance(1))
    assert told.health.problems == {"lease": "no valid leader for more than the lease's TTL (10 s)"}
    told.teller.renewed(False, False, "other", clock.advance(1))
    assert told.health.problems == {}
    assert told.lines() == [
        (False, "no valid leader for more than the lease's TTL (10 s)"),  # once, not a tick
        (True, "following other"),  # whom, once it is known
        (True, "recovered"),
    ]


def test_a_leader_that_lost_the_lease_says_whom_it_follows_once_another_leads() -> None:
    """A NATS stall: the leader cannot renew ("not leading"); back, another holds the lease.
    It said nothing of that, though /healthz said `follower`."""
    clock = FakeClock()
    told = Told(clock)
    told.teller.renewed(False, True, "me", clock())
    told.teller.renewed(True, False, None, clock.advance(1))  # the stall
    for _ in range(3):  # the other's name comes and goes as reads fail: said once
        told.teller.renewed(False, False, "other", clock.advance(1))
        told.teller.renewed(False, False, None, clock.advance(1))
    assert [detail for _, detail in told.lines()] == [
        "leading",
        "not leading: the lease cannot be renewed, and no leader is known",
        "following other",
    ]


@pytest.mark.parametrize(
    ("own_ttl", "lease_ttl", "holder_ttl", "next_read"),
    [
        (10, 10, 10, 10 - 10 / 3),  # every process at one TTL: a deadline before it runs out
        (15, 15, 60, 15 - 15 / 3),  # a holder at 60 s: its own TTL still sets when it reads
        (60, 60, 10, 10 - 10 / 3),  # a Kubernetes holder at 10 s, named 10 s after a renewal
        (60, 10, 10, 10 - 10 / 3),  # a NATS bucket at 10 s, taken as its own TTL
        (5, 5, 10**9, 5 - 5 / 3),
    ],
)
def test_a_process_that_does_not_lead_reads_again_within_the_holders_ttl_never_at_once(
    own_ttl: float, lease_ttl: float, holder_ttl: float, next_read: float
) -> None:
    """Its call deadline is a third of its own --lease-ttl. At 60 s beside a holder at 10 s
    that deadline is 20 s: started that early, the read would be due 10 s before the last one,
    and it would read again and again, with no pause between."""
    read_at = 100.0
    wait = read_again_in(
        read_at=read_at,
        ttl=lease_ttl,
        holder_ttl=holder_ttl,
        call_deadline=own_ttl / 3,
        now=read_at,
    )
    assert wait == pytest.approx(next_read)
    assert 0 < wait < min(lease_ttl, holder_ttl)
