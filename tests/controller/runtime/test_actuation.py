"""Acting on decisions (ScaleCalls), in-process: a call that lands is told and counted, one that
fails or hangs marks its pool failing and is decided again, no call starts without the lease
for its whole deadline, and a dry run tells each would-be change once. The lease's clock is
injected; the engine and the event bus are the real ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from controller.actuators.base import Desire, Fence, Wanted
from controller.core.engine import Engine
from controller.core.events import Event, EventBus, HealthEvent, ScaleEvent
from controller.core.model import (
    PoolObservation,
    PoolState,
    PoolUnavailable,
    ScaleConflict,
    ScaleDecision,
    SourceError,
)
from controller.runtime.actuation import CONFLICTS_ARE_A_FIGHT, ScaleCalls
from controller.runtime.health import STEADY_S, SourceHealth
from controller.runtime.put_backs import FIGHT_QUIET_S, PUT_BACKS_ARE_A_FIGHT
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool

NOW = 1_000_000.0
LEASE_CLOCK = 50.0
"""The monotonic time the lease is read at (a FakeClock that stands still)."""


class Cluster:
    """An actuator that records each scale; it fails with `error`, or answers only once
    `answer` is set."""

    def __init__(self) -> None:
        self.scaled: list[tuple[str, int]] = []
        self.error: Exception | None = None
        self.answer: asyncio.Event | None = None

    async def observe(self) -> Mapping[str, PoolState]:
        return {}

    async def scale(self, pool: str, replicas: int) -> None:
        if self.answer is not None:
            await self.answer.wait()
        if self.error is not None:
            raise self.error
        self.scaled.append((pool, replicas))

    async def close(self) -> None:
        pass


class ExplainingCluster(Cluster):
    """An actuator that also says why, and keeps the fence the loop gave it."""

    def __init__(self) -> None:
        super().__init__()
        self.fences: list[Fence | None] = []

    async def scale_with_reason(
        self,
        pool: str,
        replicas: int,
        decision: ScaleDecision,
        now: float,
        fence: Fence | None,
        desire: Desire | None = None,
    ) -> Wanted | None:
        self.fences.append(fence)
        await self.scale(pool, replicas)
        return Wanted(decision, now)

    def take_landed(self, pool: str) -> Wanted | None:
        return None

    @property
    def problems(self) -> Mapping[str, str]:
        return {}

    @property
    def left_by_choice(self) -> frozenset[str]:
        return frozenset()


class Lease:
    """A lease this process holds until `valid_until` (on the injected clock)."""

    holder = "me"
    leader_name: str | None = "me"
    contend = True

    def __init__(self, valid_until: float) -> None:
        self.valid_until = valid_until

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        pass


class Setup:
    """ScaleCalls over one pool, "web", at 1 replica and wanting 3."""

    def __init__(
        self, cluster: Cluster | None = None, *, lease: Lease | None = None, deadline: float = 3.0
    ) -> None:
        self.engine = Engine(config({"web": pool("acme", max_replicas=10)}), exact_reasons=True)
        self.engine.read(0, PoolObservation(pending=3, ack_pending=0, replicas=1, ready=1))
        self.engine.step(NOW)
        self.decision = self.engine.decision(0)
        bus = EventBus()
        self.events = bus.subscribe()
        self.health = SourceHealth(bus)
        self.cluster = cluster or Cluster()
        self.leading = True
        self.timer = FakeClock(LEASE_CLOCK)
        self.calls = ScaleCalls(
            self.cluster,
            self.engine,
            self.health,
            bus,
            lease=lease,
            leads=lambda: self.leading,
            deadline=deadline,
            timer=self.timer,
        )

    async def act(self, *, dry_run: bool = False) -> None:
        call = self.calls.act(0, self.decision, NOW, dry_run=dry_run)
        if call is not None:
            await call

    def told(self) -> list[Event]:
        seen = []
        while not self.events.empty():
            seen.append(self.events.get_nowait())
        return seen

    def decided_again(self) -> bool:
        return 0 in self.engine.step(NOW + 1)


async def test_a_call_that_lands_is_told_and_counted() -> None:
    setup = Setup()
    await setup.act()

    assert setup.cluster.scaled == [("web", 3)]
    (event,) = setup.told()
    assert isinstance(event, ScaleEvent)
    assert (event.pool, event.old, event.new, event.dry_run) == ("web", 1, 3, False)
    assert setup.health.problems == {}
    assert setup.decided_again()  # the rate policies count the step


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (
            PoolUnavailable("web", "Deployment agents/web not found"),
            "Deployment agents/web not found",
        ),
        (SourceError("cannot reach the API server"), "cannot reach the API server"),
    ],
)
async def test_a_failed_call_marks_its_pool_failing_and_is_decided_again(
    error: Exception, problem: str
) -> None:
    setup = Setup()
    setup.cluster.error = error
    await setup.act()

    assert setup.health.problems == {"scale web": problem}
    assert [type(e) for e in setup.told()] == [HealthEvent]
    assert setup.decided_again()

    setup.calls.settled("web", NOW + 1)  # nothing left to do: nothing failing ...
    setup.health.flush(NOW + 1 + STEADY_S)  # ... for long enough to say so
    assert setup.health.problems == {}
    (event,) = setup.told()
    assert isinstance(event, HealthEvent)
    assert (event.source, event.ok) == ("scale web", True)


async def test_a_call_refused_for_a_conflict_is_decided_again_and_is_no_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = Setup()
    setup.cluster.error = ScaleConflict("web", "Deployment agents/web changed since it was read")
    with caplog.at_level(logging.INFO, logger="agentdash.loop"):
        await setup.act()

    assert setup.health.problems == {}  # nothing failed: someone else wrote first
    assert setup.told() == []  # no scale told, no health event
    assert setup.decided_again()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "INFO",
            "web: not scaled: Deployment agents/web changed since it was read; deciding again",
        )
    ]


async def test_conflicts_that_last_are_a_fight_told_as_a_failure_until_a_call_lands() -> None:
    """Every PATCH refused for a conflict (an HPA or a script scaling the same Deployment):
    the pool never scaled, and all an operator saw was an info line a tick, /healthz 200."""
    setup = Setup()
    setup.cluster.error = ScaleConflict("web", "Deployment agents/web changed since it was read")
    for _ in range(CONFLICTS_ARE_A_FIGHT - 1):
        await setup.act()
        assert setup.health.problems == {}  # a race, not yet a fight
    await setup.act()

    assert setup.health.problems == {
        "scale web": f"Deployment agents/web changed since it was read, "
        f"{CONFLICTS_ARE_A_FIGHT} times in a row: is another writer scaling it?"
    }
    assert setup.decided_again()
    setup.cluster.error = None
    await setup.act()
    assert setup.cluster.scaled  # it landed: the fight is over
    setup.health.flush(NOW + 1 + STEADY_S)
    assert setup.health.problems == {}


async def scale_from(setup: Setup, found: int, now: float) -> ScaleDecision:
    """The pool read at `found` replicas, with 3 tasks waiting, decided and acted on at `now`."""
    setup.engine.read(0, PoolObservation(pending=3, ack_pending=0, replicas=found, ready=found))
    setup.engine.step(now)
    decision = setup.engine.decision(0)
    call = setup.calls.act(0, decision, now, dry_run=False)
    if call is not None:
        await call
    return decision


async def test_replicas_another_writer_keeps_setting_are_a_fight_though_no_call_is_refused() -> (
    None
):
    """An HPA setting the replicas every 15 s, between two of agentdash's reads: no PATCH was
    ever refused, each side undid the other's every write, and nothing was said."""
    setup = Setup()
    await scale_from(setup, 1, NOW)  # agentdash sets 3
    for n in range(1, PUT_BACKS_ARE_A_FIGHT + 1):
        assert setup.health.problems == {}
        decision = await scale_from(setup, 1, NOW + 15 * n)  # set back to 1 by another writer
        assert (decision.current, decision.desired) == (1, 3)
    assert setup.cluster.scaled == [("web", 3)] * (PUT_BACKS_ARE_A_FIGHT + 1)
    assert setup.health.problems == {
        "scale web": "another writer keeps setting its replicas (1 over the 3 set here, "
        f"{PUT_BACKS_ARE_A_FIGHT} times in a row or more): is an HPA or a script scaling it?"
    }
    # between the other writer's writes the pool is where agentdash wants it: still a fight
    last = NOW + 15 * PUT_BACKS_ARE_A_FIGHT
    setup.calls.settled("web", last + 10)
    setup.health.flush(last + 10 + STEADY_S)
    assert "scale web" in setup.health.problems
    # once no write has been undone for FIGHT_QUIET_S, it is over
    setup.calls.settled("web", last + FIGHT_QUIET_S)
    setup.health.flush(last + FIGHT_QUIET_S + STEADY_S)
    assert setup.health.problems == {}


async def test_a_read_from_before_the_last_scale_landed_is_no_other_writer() -> None:
    """A decision of the tick in which the last scale landed may have read the replicas from
    before it: no fight however often that happens."""
    setup = Setup()
    await scale_from(setup, 1, NOW)
    for _ in range(2 * PUT_BACKS_ARE_A_FIGHT):
        await scale_from(setup, 1, NOW)
    assert setup.health.problems == {}


async def test_a_hung_call_ends_at_its_deadline_and_names_it() -> None:
    setup = Setup(deadline=0.3)
    setup.cluster.answer = asyncio.Event()  # never set: the cluster never answers
    await setup.act()

    assert setup.health.problems == {"scale web": "no answer within 0.3 s"}
    assert setup.cluster.scaled == []
    assert setup.decided_again()


async def test_a_call_the_lease_ran_out_on_is_decided_again_and_no_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The process frozen (SIGSTOP, a VM paused) with a call in flight, past its lease: on
    waking, the call's deadline has passed, as the lease has. The API server was not slow (it
    may never have been asked): the call was a failure of the pool's scale calls, a warning
    `scale call failing: no answer within 2.0 s` on a process about to follow, and a first
    step to giving the lease up as cut off from the API."""
    caplog.set_level(logging.INFO, "agentdash.loop")
    cluster = ExplainingCluster()
    setup = Setup(cluster, lease=Lease(valid_until=LEASE_CLOCK + 0.3))
    cluster.answer = asyncio.Event()  # asked, or waiting its turn, as the process froze
    call = setup.calls.act(0, setup.decision, NOW, dry_run=False)
    assert call is not None
    await eventually(lambda: bool(cluster.fences))  # the call has begun
    setup.timer.advance(10.0)  # frozen: the lease's clock ran on past it
    await call

    assert setup.health.problems == {}
    assert setup.calls.cut_off is None
    assert setup.cluster.scaled == []
    assert setup.decided_again()
    assert "web: not scaled: the lease ran out before the call ended" in caplog.text


async def test_a_pool_with_a_call_in_flight_is_not_called_again_until_it_ends() -> None:
    setup = Setup()
    answer = setup.cluster.answer = asyncio.Event()
    first = setup.calls.act(0, setup.decision, NOW, dry_run=False)
    assert first is not None
    second = setup.calls.act(0, setup.decision, NOW, dry_run=False)

    assert second is None
    assert "web" in setup.calls.in_flight
    answer.set()
    await setup.calls.settle()
    assert setup.cluster.scaled == [("web", 3)]
    assert setup.calls.in_flight == {}


@pytest.mark.parametrize(
    ("left", "leading", "deadline"),
    [
        (10.0, True, 3.0),  # plenty of lease: the call's own deadline
        (1.0, True, 1.0),  # cut to what is left of the lease
        (0.2, True, None),  # too little left: the next tick renews first
        (10.0, False, None),  # another process leads
    ],
)
def test_a_calls_deadline_is_what_is_surely_left_of_the_lease(
    left: float, leading: bool, deadline: float | None
) -> None:
    setup = Setup(lease=Lease(valid_until=LEASE_CLOCK + left))
    setup.leading = leading
    assert setup.calls.deadline_now() == deadline


def test_without_a_lease_every_call_has_its_whole_deadline() -> None:
    assert Setup(deadline=2.5).calls.deadline_now() == 2.5


@pytest.mark.parametrize("left", [0.1, -5.0])
async def test_no_call_starts_without_the_lease_for_its_deadline(left: float) -> None:
    setup = Setup(lease=Lease(valid_until=LEASE_CLOCK + left))
    await setup.act()

    assert setup.cluster.scaled == []
    assert setup.told() == []
    assert setup.decided_again()


async def test_no_call_starts_once_this_process_follows() -> None:
    setup = Setup(lease=Lease(valid_until=LEASE_CLOCK + 10.0))
    setup.leading = False
    await setup.act()

    assert setup.cluster.scaled == []
    assert setup.decided_again()


async def test_the_fence_holds_while_leading_and_closes_when_the_lease_is_lost() -> None:
    cluster = ExplainingCluster()
    setup = Setup(cluster, lease=Lease(valid_until=LEASE_CLOCK + 1.0))
    await setup.act()

    (fence,) = cluster.fences
    assert fence is not None
    by = fence()
    assert by is not None
    assert by <= asyncio.get_running_loop().time() + 1.0  # no later than the lease allows
    setup.leading = False
    assert fence() is None  # a write after the call no longer goes out


async def test_a_dry_run_tells_each_would_be_change_once_and_scales_nothing() -> None:
    setup = Setup()
    await setup.act(dry_run=True)
    await setup.act(dry_run=True)  # the same change, the next tick: said already

    (event,) = setup.told()
    assert isinstance(event, ScaleEvent)
    assert (event.pool, event.old, event.new, event.dry_run) == ("web", 1, 3, True)
    assert setup.cluster.scaled == []

    setup.calls.settled("web", NOW)  # the change went away: the next one is told afresh
    await setup.act(dry_run=True)
    assert len(setup.told()) == 1

    setup.calls.end_dry_run()  # a later dry run tells it again
    await setup.act(dry_run=True)
    assert len(setup.told()) == 1
