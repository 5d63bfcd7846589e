"""agentdash in virtual time: the live loop's bookkeeping (controller.loop.Reconciler) around
the very same `controller.policy.decide` and `controller.history.History`, without I/O.

As the live loop does, it ticks every `controller.interval_seconds` after the previous tick,
and at once when a task reaches a pool whose last decision was 0 replicas (a wake-up re-reads
only the woken pools' queues; the others keep their last reading). Each reading carries what
the live sources give: pending and ack_pending, replicas and ready pods, the arrival rate over
the last RATE_WINDOW_S (as controller.jetstream counts it), the moving mean task time and
today's tokens per tenant (as controller.usage's ledger keeps them, from finished tasks).

Skipping ticks. A tick changes nothing, and its decide() cannot differ from the previous
one's, when (1) the previous tick read every pool and nothing observable happened since
(cluster.version), (2) every arrival rate it read was 0.0, so the sliding window cannot move
it, and (3) no time rule can let go before this tick: no stabilization window drops a
recommendation, no rate-limit period drops a step, no cooldown ends (`_release`). Such ticks
are skipped; the next tick that does decide first replays into the history (and the rate
windows) what the skipped ticks would have recorded: the same recommendations at the last
skipped instant, which the windows' monotonic deques reduce to exactly the state a tick-by-tick
run leaves. tests/controller/simulate/test_skipping.py checks the result is identical.
"""

from __future__ import annotations

import math
from collections import deque

from controller.config import Config
from controller.history import History
from controller.model import Observations, PoolObservation, ScaleDecision
from controller.policy import decide
from controller.simulate.cluster import Cluster
from controller.sources import RATE_WINDOW_S

_NOT_READ = "queue not read yet"
_Key = tuple[tuple[int, int, float | None] | None, int, int, float | None]
_HOLDING = frozenset({"budget exhausted", "budget warning", "paused"})
"""Rules of controller.policy that hold a pool back for its tenant's budget or a pause."""


class Reconciler:
    name = "agentdash"
    gate_budgets = True

    def __init__(self, config: Config, *, skip: bool = True) -> None:
        self.config = config
        self.skip = skip
        self.names = list(config.pools)
        self.interval = config.controller.interval_seconds
        self.history = History(config)
        self.wakes = bytearray([1]) * len(self.names)  # the live loop starts with all idle
        self.woken: set[int] = set()
        self.stats: list[tuple[int, int, float | None] | None] = [None] * len(self.names)
        """Last queue reading per pool: (pending, ack_pending, arrival rate)."""
        self.samples: list[deque[tuple[float, int]]] = [deque() for _ in self.names]
        self.counts = [0] * len(self.names)
        """Arrivals per pool at the last full reading."""
        self._cache: list[tuple[_Key, PoolObservation] | None] = [None] * len(self.names)
        self._budgeted = [
            (name, [i for i, p in enumerate(config.pools.values()) if p.tenant == name])
            for name, tenant in config.tenants.items()
            if tenant.daily_token_budget is not None
        ]
        self.decisions: list[ScaleDecision] = []
        self.observations = Observations({})
        self.actions: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change actuated."""
        self.ticks = self.decided = 0
        self._seen = -1
        self._quiet = False
        self._release_at: float | None = None
        self._decided_at = 0.0
        self._skipped: deque[float] = deque(maxlen=math.ceil(RATE_WINDOW_S / self.interval) + 3)

    def initial(self) -> list[int]:
        return [pool.min_replicas for pool in self.config.pools.values()]

    def wake(self, now: float, pool: int) -> float:
        self.woken.add(pool)
        return now

    def tick(self, now: float, cluster: Cluster) -> float:
        self.ticks += 1
        woken, self.woken = self.woken, set()
        if not woken and self.skip and self._nothing_to_do(now, cluster):
            self._skipped.append(now)
            return now + self.interval
        self._catch_up()
        self.decided += 1
        seen = cluster.version  # read before acting: our own scaling is a change to observe
        observations = self._observe(now, cluster, woken)
        decisions = decide(self.config, observations, history=self.history, now=now)
        self.history.record_tick(decisions, observations, now)
        wakes = self.wakes
        for i, d in enumerate(decisions):
            if d.desired != d.current and d.changes:
                self.history.record_scale(d.pool, now, d.current, d.desired)
                self.actions.append((now, d.pool, d.current, d.desired))
                cluster.scale(i, d.desired, now)
            wakes[i] = d.desired == 0 and d.observed
        for i in self._watched(observations, cluster):
            d = decisions[i]
            cluster.hold(i, any(r.rule in _HOLDING for r in d.reasons))
        self.decisions, self.observations = decisions, observations
        self._decided_at = now
        self._seen = seen if not woken else -1
        self._release_at = None
        return now + self.interval

    def _observe(self, now: float, cluster: Cluster, woken: set[int]) -> Observations:
        pools = {}
        stats, cache, names, window = self.stats, self._cache, self.names, now - RATE_WINDOW_S
        for i, p in enumerate(cluster.pools):
            if not woken or i in woken:
                # The arrival rate as controller.jetstream measures it, per pool read.
                samples, arrived = self.samples[i], p.arrived
                samples.append((now, arrived))
                while len(samples) > 2 and samples[1][0] <= window:
                    samples.popleft()
                first_t, first_n = samples[0]
                rate = (arrived - first_n) / (now - first_t) if now > first_t else None
                stats[i] = (len(p.queue), p.running, rate)
            key = (stats[i], p.spec, p.ready, p.mean_work)
            cached = cache[i]
            if cached is None or cached[0] != key:  # frozen dataclasses are slow to build
                cached = cache[i] = (key, _observation(key))
            pools[names[i]] = cached[1]
        if not woken:
            self.counts = [p.arrived for p in cluster.pools]
            self._quiet = all(s is not None and s[2] == 0.0 for s in stats)
        return Observations(pools, _tokens_today(cluster))

    def _watched(self, observations: Observations, cluster: Cluster) -> list[int]:
        """Pools a budget rule may hold back now, or did: only their reasons need reading."""
        watched = [p.index for p in cluster.pools if p.held]
        for name, pools in self._budgeted:
            tenant = self.config.tenants[name]
            assert tenant.daily_token_budget is not None
            if observations.tokens_today.get(name, 0) >= tenant.warn_at * tenant.daily_token_budget:
                watched += pools
        return watched

    def _nothing_to_do(self, now: float, cluster: Cluster) -> bool:
        if cluster.version != self._seen or not self._quiet:
            return False
        if self._release_at is None:
            self._release_at = self._release()
        return now < self._release_at - 1e-6

    def _release(self) -> float:
        """The earliest time a time rule may decide differently from the last decision:
        an entry of a stabilization window or a rate-limit period that was still inside it
        then leaves it, or a cooldown ends. Conservative: any such time wakes the loop."""
        then = self._decided_at
        soonest = math.inf
        for name, past in self.history.pools.items():
            pool = self.config.pools[name]
            up, down = pool.behavior.scale_up, pool.behavior.scale_down
            soonest = min(
                soonest,
                _expiry(past.lows, past.up_window, then),
                _expiry(past.highs, past.down_window, then),
                _expiry(past.steps, up.period_seconds, then),
                _expiry(past.steps, down.period_seconds, then),
            )
            # Still cooling down then, by the policy's own arithmetic (idle < cooldown).
            if past.busy_at is not None and then - past.busy_at < pool.cooldown_seconds:
                soonest = min(soonest, past.busy_at + pool.cooldown_seconds)
        return soonest

    def _catch_up(self) -> None:
        """Record what the skipped ticks would have: see the module docstring."""
        if not self._skipped:
            return
        last = self._skipped[-1]
        self.history.record_tick(self.decisions, self.observations, last)
        for samples, count in zip(self.samples, self.counts, strict=True):
            for t in self._skipped:
                samples.append((t, count))
            while len(samples) > 2 and samples[1][0] <= last - RATE_WINDOW_S:
                samples.popleft()
        self._skipped.clear()


def _observation(key: _Key) -> PoolObservation:
    stats, replicas, ready, mean_work = key
    if stats is None:
        return PoolObservation(0, 0, replicas, ready, stale=_NOT_READ)
    pending, ack, rate = stats
    return PoolObservation(pending, ack, replicas, ready, rate, mean_work)


def _expiry(entries: deque[tuple[float, int]], window: float, now: float) -> float:
    """When the oldest entry still inside `window` at `now` leaves it (inf if none)."""
    for t, _ in entries:
        if t > now - window:
            return t + window
    return math.inf


def _tokens_today(cluster: Cluster) -> dict[str, int]:
    """Tokens per tenant as the policy should see them.

    A hard-capped tenant that cannot afford any task it has waiting has, for scaling, spent
    its budget: live, the next task would take it to the cap. Reporting it at the cap lets
    the policy scale its pools to zero instead of holding pods that may not start anything.
    """
    tokens = {}
    for name, tenant in cluster.tenants.items():
        waiting = [p for p in tenant.pools if p.queue]
        stuck = (tenant.budget is not None and tenant.hard_cap and bool(waiting)
                 and all(p.blocked for p in waiting))  # fmt: skip
        tokens[name] = max(tenant.used, tenant.budget or 0) if stuck else tenant.used
    return tokens
