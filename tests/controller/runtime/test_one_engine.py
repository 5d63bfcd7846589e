"""One engine, two clocks: the live loop (controller.runtime.loop.Reconciler, an asyncio shell)
and the backtest's shell (controller.simulate.shell.VirtualLoop, virtual time), fed the same
readings, make the same decisions and the same scale calls at the same instants.

The backtest runs a generated workload and records, at every tick, what its engine was fed
(every pool's reading and every tenant's tokens), what it decided and which patches it made.
The live loop then replays that tape through its real sources' interfaces (a lag source, a
usage source and an actuator that answer from the tape, at the tape's instants): a patch
the backtest could not pay for from its Kubernetes qps budget fails live too, so both count
the same scale steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import pytest

from controller.actuators.base import Actuator
from controller.core.config import Config, load_config
from controller.core.model import (
    PoolObservation,
    PoolState,
    PoolUnavailable,
    QueueStats,
    ScaleDecision,
    Usage,
)
from controller.runtime.loop import Reconciler
from controller.simulate.cluster import Cluster
from controller.simulate.generate import generate
from controller.simulate.shell import VirtualLoop
from tests.support.builders import replay
from tests.support.fleets import (
    every_ceiling_tight,
    production_windows,
    throttled,
)

pytestmark = pytest.mark.e2e

EXAMPLE = load_config(Path(__file__).parents[3] / "examples" / "agentdash.yaml")


class Tick:
    def __init__(
        self,
        now: float,
        readings: list[PoolObservation | None],
        tokens: dict[str, int],
        decisions: list[ScaleDecision],
        patched: set[str],
        tasks: dict[str, int],
    ) -> None:
        self.now, self.readings, self.tokens = now, readings, tokens
        self.decisions, self.patched, self.tasks = decisions, patched, tasks


class Recording(VirtualLoop):
    """The backtest's shell, keeping a tape of every tick."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.tape: list[Tick] = []

    def tick(self, now: float, cluster: Cluster) -> float:
        actions = len(self.actions)
        due = super().tick(now, cluster)
        engine = self.engine
        self.tape.append(
            Tick(
                now,
                list(engine.readings),
                dict(engine.observations.tokens_today),
                engine.decisions(),
                {pool for _, pool, _, _ in self.actions[actions:]},
                dict(engine.tasks_today),
            )
        )
        return due


class Tape(Actuator):
    """The live loop's sources and actuator, answering from the tape at its current tick."""

    def __init__(self, config: Config) -> None:
        self.names = list(config.pools)
        self.at: Tick | None = None
        self.calls: list[tuple[float, str, int]] = []

    # the lag source
    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        assert self.at is not None
        return {
            name: QueueStats(r.pending, r.ack_pending, r.arrival_rate, r.stale)
            for name, r in zip(self.names, self.at.readings, strict=True)
            if r is not None
        }

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        """The tape says when the backtest woke: the replay ticks at those instants."""

    # the usage source
    def usage(self, now: float) -> Usage:
        assert self.at is not None
        readings = [
            (name, r) for name, r in zip(self.names, self.at.readings, strict=True) if r is not None
        ]
        means = {n: r.mean_task_seconds for n, r in readings if r.mean_task_seconds is not None}
        prices = {n: r.task_tokens for n, r in readings if r.task_tokens is not None}
        return Usage(self.at.tokens, means, tasks_today=self.at.tasks, task_tokens=prices)

    # the actuator
    async def observe(self) -> Mapping[str, PoolState]:
        assert self.at is not None
        return {
            name: PoolState(r.replicas, r.ready)
            for name, r in zip(self.names, self.at.readings, strict=True)
            if r is not None
        }

    async def scale(self, pool: str, replicas: int) -> None:
        assert self.at is not None
        if pool not in self.at.patched:
            raise PoolUnavailable(pool, "the backtest's qps budget had no token for it")
        self.calls.append((self.at.now, pool, replicas))

    async def close(self) -> None:
        pass


def numbers(d: ScaleDecision) -> tuple[object, ...]:
    """What a decision does (its reasons quote figures: see the module docstring)."""
    return d.pool, d.current, d.desired, d.recommendation, d.held, d.observed, d.until


async def replay_live(cfg: Config, tape: list[Tick]) -> tuple[list[list[ScaleDecision]], Tape]:
    source = Tape(cfg)
    now = [0.0]
    loop = Reconciler(cfg, source, source, source, clock=lambda: now[0])
    seen = []
    for tick in tape:
        source.at = tick
        now[0] = tick.now
        seen.append(await loop.tick())
    return seen, source


CASES = [
    (EXAMPLE, "bursty", 2, 1),
    (EXAMPLE, "diurnal", 3, 5),
    (production_windows(), "spiky", 3, 7),
    (every_ceiling_tight(), "bursty", 3, 11),
    (throttled(), "bursty", 2, 23),
]


@pytest.mark.parametrize(("cfg", "shape", "hours", "seed"), CASES)
async def test_the_live_loop_decides_as_the_backtest_did(
    cfg: Config, shape: str, hours: float, seed: int
) -> None:
    tasks = generate(cfg, shape, hours, seed)
    virtual = Recording(cfg)
    replay(cfg, tasks, virtual)
    assert virtual.actions, "the workload scaled nothing: nothing to compare"
    live, source = await replay_live(cfg, virtual.tape)
    for tick, decided in zip(virtual.tape, live, strict=True):
        assert [numbers(d) for d in decided] == [numbers(d) for d in tick.decisions], tick.now
    assert source.calls == [(t, pool, to) for t, pool, _, to in virtual.actions]


async def test_a_throttled_backtest_and_the_live_loop_agree_on_every_retry() -> None:
    """The qps budget defers patches in the backtest; live, those calls fail and are decided
    again at the next tick, as the backtest retries them."""
    cfg = throttled()
    virtual = Recording(cfg)
    replay(cfg, generate(cfg, "bursty", 2, 23), virtual)
    assert virtual.throttled > 0
    live, source = await replay_live(cfg, virtual.tape)
    assert len(source.calls) == len(virtual.actions)
    assert [numbers(d) for d in live[-1]] == [numbers(d) for d in virtual.tape[-1].decisions]
