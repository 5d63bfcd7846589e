"""Feeding the engine what the sources said, at each tick, for only the pools whose inputs may
have changed.

A source hands back the very same object for a pool whose reading did not change, so the
pools to read again are found by comparing this tick's objects with the last tick's by
identity, without a Python loop over the fleet. Pools held for want of data (a stale reading,
or never seen in the cluster) are read again at every tick: each counts its stale reads in a
row, which a pool's `fallback` rule reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from itertools import compress, count
from operator import is_not, ne
from typing import TypeVar

from controller.core.config import Config
from controller.core.engine import Engine
from controller.core.model import PoolObservation, PoolState, QueueStats, Usage
from controller.runtime.health import SourceHealth
from controller.runtime.snapshot import Trends

_NOT_READ = QueueStats(pending=0, ack_pending=0, stale="queue not read yet")
_V = TypeVar("_V")


class EngineFeed:
    """What was last fed to the engine, per pool, and the pools held for want of data."""

    def __init__(
        self, config: Config, engine: Engine, health: SourceHealth, trends: Trends
    ) -> None:
        self.config = config
        self.engine = engine
        self.health = health
        self.trends = trends
        self._fed_states: list[PoolState | None] = []
        self._fed_stats: list[QueueStats | None] = []
        self._fed_means: list[float | None] = []
        self._fed_prices: list[float | None] = []
        """Per pool, in config order: the inputs of the reading last fed to the engine."""
        self._problem: str | None = None
        """The source problem that made every pool stale at the last feed."""
        self._held: set[int] = set()
        """Pools held for want of data (stale, or not seen): read again at every tick."""
        self._stale_reads = [0] * len(engine.names)
        """Per pool, how many reads in a row were stale (a pool's `fallback` counts them)."""

    def feed(
        self,
        now: float,
        *,
        states: Mapping[str, PoolState],
        stats: Mapping[str, QueueStats],
        usage: Usage,
        unobserved: Mapping[str, str],
        chosen: Collection[str] = (),
    ) -> None:
        """Tell the engine the readings of the pools that moved or are held, their tenants'
        tokens, and the pools the actuator cannot see or does not scale (`unobserved`, with
        why): those of them with replicas in `states` keep them. `chosen`: those of them
        another autoscaler scales as their config lets it, which are no health problem."""
        engine = self.engine
        problem = self.health.source_problem()
        engine.unobserved(
            unobserved, {name: states[name].replicas for name in unobserved if name in states}
        )
        names, index = engine.names, engine.index
        in_order = (
            _in_order(states, names, index),
            _in_order(stats, names, index),
            _in_order(usage.mean_task_seconds, names, index),
            _in_order(usage.task_tokens, names, index),
        )
        todo = self._todo(problem, *in_order)
        self._fed_states, self._fed_stats, self._fed_means, self._fed_prices = in_order
        self._problem = problem
        self._read(todo, *in_order, problem=problem, unobserved=unobserved, chosen=chosen, now=now)
        stale_tokens, done = usage.stale, usage.tasks_today
        for tenant in self.config.tenants:
            engine.tokens(tenant, usage.tokens_today.get(tenant), stale_tokens, done.get(tenant))

    def _todo(
        self,
        problem: str | None,
        states: list[PoolState | None],
        stats: list[QueueStats | None],
        means: list[float | None],
        prices: list[float | None],
    ) -> Iterable[int]:
        """The pools to read again: every one when a source's problem came or went (or at
        the first feed), else those whose inputs are not the objects last fed, and the held."""
        if problem != self._problem or not self._fed_states:
            return range(len(states))
        moved = set(compress(count(), map(is_not, states, self._fed_states)))
        moved.update(compress(count(), map(is_not, stats, self._fed_stats)))
        moved.update(compress(count(), map(ne, means, self._fed_means)))
        moved.update(compress(count(), map(ne, prices, self._fed_prices)))
        return sorted(moved | self._held)

    def _read(
        self,
        todo: Iterable[int],
        states: list[PoolState | None],
        stats: list[QueueStats | None],
        means: list[float | None],
        prices: list[float | None],
        *,
        problem: str | None,
        unobserved: Mapping[str, str],
        chosen: Collection[str],
        now: float,
    ) -> None:
        engine, names, held, reads = self.engine, self.engine.names, self._held, self._stale_reads
        trends, health = self.trends, self.health
        for i in todo:
            name, state, stat = names[i], states[i], stats[i] or _NOT_READ
            if state is None or name in unobserved:  # not seen, or not ours: left alone
                engine.read(i, None)
                held.add(i)
                why = unobserved.get(name) or "not seen in the cluster yet"
                if state is not None and name in chosen:
                    health.track_stale(name, None, now)
                    health.left_alone(name, why, now)
                else:
                    health.track_stale(name, why, now)
                unread = problem or stat.stale  # its queue may be read all the same
                trends.add_lag(name, None if unread else stat.pending + stat.ack_pending)
                continue
            stale = problem or stat.stale
            if stale:
                held.add(i)
            else:
                held.discard(i)
            tally = reads[i] = reads[i] + 1 if stale else 0
            reading = PoolObservation(
                pending=stat.pending,
                ack_pending=stat.ack_pending,
                replicas=state.replicas,
                ready=state.ready,
                arrival_rate=stat.arrival_rate,
                mean_task_seconds=means[i],
                task_tokens=prices[i],
                stale=stale,
                stale_reads=tally,
            )
            engine.read(i, reading)
            trends.add_lag(name, None if stale else stat.pending + stat.ack_pending)
            health.track_stale(name, stale, now)
            health.left_alone(name, None, now)


def _in_order(
    values: Mapping[str, _V], names: list[str], index: Mapping[str, int]
) -> list[_V | None]:
    """Each name's value (None if it has none), in the order of `names` (`index`: each
    name's place). The values as they are when the mapping has exactly those keys in that
    order, as a source's usually does: a tenth of the cost of a lookup per name."""
    n = len(names)
    if len(values) == n and list(values) == names:
        return list(values.values())
    if len(values) < n // 4:  # few: place them
        placed: list[_V | None] = [None] * n
        for name, value in values.items():
            i = index.get(name)
            if i is not None:
                placed[i] = value
        return placed
    return list(map(values.get, names))
