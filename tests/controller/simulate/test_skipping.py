"""The engine claims only the pools whose inputs changed; that gives exactly the result of
`decide` over every pool at every tick with every recommendation recorded (the reference
below): the same scale steps at the same instants, the same waits, the same cost."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from controller.core.accounting import DAY_S, ReplicaSeconds
from controller.core.config import Config, load_config
from controller.core.model import Observations
from controller.core.policy import decide
from controller.core.spend import SpendBook
from controller.core.spend_read import PACE_READ_S, SpendRead
from controller.simulate.cluster import Cluster
from controller.simulate.generate import generate
from controller.simulate.report import summarize
from controller.simulate.shell import VirtualLoop, _holds_back, _tokens
from controller.simulate.trace import Trace
from tests.support.builders import replay, trace, waking_bursts
from tests.support.factories import config, pool
from tests.support.fleets import (
    every_ceiling_tight,
    one_waking_pool,
    production_windows,
    throttled,
)

pytestmark = pytest.mark.e2e

EXAMPLE = load_config(Path(__file__).parents[3] / "examples" / "agentdash.yaml")


class EveryPoolEveryTick(VirtualLoop):
    """The reference: the same shell, but `decide` over every pool at every tick and every
    recommendation recorded, with no engine."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.decided = 0
        self.spent = ReplicaSeconds({name: t.clock for name, t in config.tenants.items()})
        self.spend = SpendBook(config)
        self.read: tuple[dict[str, float], dict[str, SpendRead]] = ({}, {})
        """The replica-seconds and spend the pace reads: at the first tick of each minute."""
        self.next_read = -math.inf

    def tick(self, now: float, cluster: Cluster) -> float:
        self.ticks += 1
        woken, self.woken = self.woken, set()
        self.calls.refill(now)
        self._depart(now, cluster)
        every = range(len(self.names))
        self.readings = readings = [
            self._read(i, cluster, now, not woken or i in woken) for i in every
        ]
        replicas = dict.fromkeys(self.config.tenants, 0)
        for spec, reading in zip(self.pool_configs, readings, strict=True):
            replicas[spec.tenant] += reading.replicas
        for tenant, count in replicas.items():
            self.spent.set(tenant, count, now)
        tokens = {name: _tokens(tenant) for name, tenant in cluster.tenants.items()}
        lags = dict.fromkeys(tokens, 0)
        for spec, reading in zip(self.pool_configs, readings, strict=True):
            lags[spec.tenant] += reading.lag if reading.stale is None else 0
        for name, used in tokens.items():
            self.spend.observe(name, used, now, cluster.tenants[name].done, lags[name])
        if now >= self.next_read:
            self.next_read = (math.floor(now / PACE_READ_S) + 1) * PACE_READ_S
            spend = {name: tenant.read(now) for name, tenant in self.spend.tenants.items()}
            self.read = (self.spent.today(now), spend)
        spent, read = self.read
        observations = Observations(
            dict(zip(self.names, readings, strict=True)),
            tokens,
            tasks_today={name: tenant.done for name, tenant in cluster.tenants.items()},
            replica_seconds_today=spent,
            spend={
                name: at.priced(self.spend.tenants[name].per_task()) for name, at in read.items()
            },
        )
        decisions = decide(self.config, observations, history=self.history, now=now)
        self.decided += len(decisions)
        self.history.record_tick(decisions, observations, now)
        for i, d in enumerate(decisions):
            if d.changes and self.calls.take():  # in pool order, as long as the bucket pays
                self.history.record_scale(d.pool, now, d.current, d.desired)
                self.actions.append((now, d.pool, d.current, d.desired))
                cluster.scale(i, d.desired, now)
            self.wakes[i] = d.desired == 0 and d.observed
            cluster.hold(i, any(_holds_back(r) for r in d.reasons))
        return self.next_tick(now)


def separate_ceilings() -> Config:
    """Two tenants each short of its own max_pods (two groups of pools that do not compete)
    and, at peaks, a cluster quota short too, which joins them into one."""
    tenants = {
        "acme": {"tier": "enterprise", "max_pods": 4},
        "globex": {"tier": "growth", "max_pods": 3},
        "initech": {"tier": "starter"},
    }
    return config(
        {
            "research": pool("acme", max_replicas=8),
            "support": pool("acme", max_replicas=6, concurrency=2),
            "triage": pool("globex", max_replicas=7),
            "review": pool("globex", max_replicas=5),
            "summarize": pool("initech", max_replicas=8, activation_lag=1),
        },
        tenants,
        max_pods=10,
    )


def past_midnight(cfg: Config, shape: str, hours: float, seed: int) -> Trace:
    """A generated trace moved to end `hours` after midnight: budgets fill up before it and
    reset at it, with tasks waiting."""
    tasks = generate(cfg, shape, 2 * hours, seed)
    shift = DAY_S - hours * 3600
    return Trace.build(
        tasks.pools,
        zip([t + shift for t in tasks.t], tasks.pool, tasks.work_s, tasks.tokens, strict=True),
    )


CASES = [
    (EXAMPLE, "bursty", 2, 1),
    (EXAMPLE, "spiky", 2, 3),
    (EXAMPLE, "diurnal", 3, 5),
    (production_windows(), "bursty", 3, 2),
    (production_windows(), "spiky", 3, 7),
    (every_ceiling_tight(), "bursty", 3, 11),
    (every_ceiling_tight(), "diurnal", 3, 13),
    (throttled(), "bursty", 3, 23),
]


@pytest.mark.parametrize(("cfg", "shape", "hours", "seed"), CASES)
def test_skipping_ticks_changes_nothing(cfg: Config, shape: str, hours: float, seed: int) -> None:
    tasks = generate(cfg, shape, hours, seed)
    naive, fast = EveryPoolEveryTick(cfg), VirtualLoop(cfg)
    every_tick = replay(cfg, tasks, naive)
    skipping = replay(cfg, tasks, fast)
    assert fast.actions == naive.actions
    assert skipping.steps == every_tick.steps
    assert list(skipping.wait) == list(every_tick.wait)
    assert skipping.delayed == every_tick.delayed
    assert skipping.pod_seconds == every_tick.pod_seconds
    assert summarize(cfg, tasks, skipping) == summarize(cfg, tasks, every_tick)
    assert fast.ticks == naive.ticks  # the same tick instants, some just not decided
    assert fast.claimed < naive.decided


@pytest.mark.parametrize("seed", [17, 19])
def test_claiming_what_changed_is_exact_across_midnight(seed: int) -> None:
    cfg = every_ceiling_tight()
    tasks = past_midnight(cfg, "bursty", 1.5, seed)
    naive, fast = EveryPoolEveryTick(cfg), VirtualLoop(cfg)
    every_tick = replay(cfg, tasks, naive)
    claiming = replay(cfg, tasks, fast)
    assert any(every_tick.delayed)  # budgets held tasks back before midnight
    assert fast.actions == naive.actions
    assert list(claiming.wait) == list(every_tick.wait)
    assert claiming.delayed == every_tick.delayed
    assert summarize(cfg, tasks, claiming) == summarize(cfg, tasks, every_tick)


def test_a_pool_held_for_its_tail_decides_as_every_tick_would() -> None:
    # The keep-alive counts the tasks arriving at each rate read, claimed again or not.
    cfg = one_waking_pool()
    tasks = waking_bursts(cfg, "chat", seed=2, quiet=0.02, hours=4)
    naive, fast, explained = (
        EveryPoolEveryTick(cfg),
        VirtualLoop(cfg),
        VirtualLoop(cfg, explain=True),
    )
    every_tick = replay(cfg, tasks, naive)
    skipping = replay(cfg, tasks, fast)
    replay(cfg, tasks, explained)
    assert explained.explained is not None
    assert any("held for the tail" in r.detail for e in explained.explained for r in e.reasons)
    assert fast.actions == naive.actions
    assert list(skipping.wait) == list(every_tick.wait)


def test_a_sparse_workload_skips_most_ticks_with_the_same_result() -> None:
    cfg = production_windows()
    tasks = trace(cfg, *[(900.0 * k + 0.5, "research", 60.0, 100) for k in range(12)])
    naive, fast = EveryPoolEveryTick(cfg), VirtualLoop(cfg)
    assert replay(cfg, tasks, fast).steps == replay(cfg, tasks, naive).steps
    assert fast.actions == naive.actions
    assert fast.claimed < fast.ticks / 5
    assert fast.skipped > fast.ticks * 0.9  # quiet ticks are counted, not stepped


def test_a_paced_tenant_is_decided_when_its_figures_move_not_at_every_tick() -> None:
    """A budget pace reads the tenant's forecast once a minute, its tokens and its pools'
    readings as they move: between those, its pools are neither claimed nor stepped."""
    cfg = config(
        {"a": pool("t", max_replicas=10)},
        {"t": {"tier": "enterprise", "daily_token_budget": 1_000_000, "hard_cap": True}},
    )
    tasks = trace(cfg, *[(6.0 * k, "a", 30.0, 1000) for k in range(2400)])  # 2.4M tokens
    naive, fast = EveryPoolEveryTick(cfg), VirtualLoop(cfg)
    every_tick = replay(cfg, tasks, naive)
    claiming = replay(cfg, tasks, fast)
    assert sum(every_tick.delayed) > 1000  # paced, then the cap: the tasks it pays for ran
    assert every_tick.completed == 1000  # 1,000,000 tokens: the budget, to the token
    assert fast.actions == naive.actions
    assert list(claiming.wait) == list(every_tick.wait)
    assert fast.claimed < fast.ticks / 5
    assert fast.skipped > fast.ticks / 2


def test_the_kubernetes_qps_budget_spaces_out_patches() -> None:
    cfg = throttled()
    tasks = generate(cfg, "bursty", 2, 23)
    fast = VirtualLoop(cfg)
    replay(cfg, tasks, fast)
    assert fast.throttled > 0
    times = [t for t, *_ in fast.actions]
    # A bucket of 2 refilled at 0.2 a second: no 10 s holds more than 2 + 2 patches.
    assert all(sum(1 for u in times if t <= u < t + 10) <= 4 for t in times)


@pytest.mark.parametrize(("shape", "seed"), [("bursty", 29), ("spiky", 33)])
def test_groups_of_short_ceilings_allocated_apart_decide_as_the_whole(
    shape: str, seed: int
) -> None:
    cfg = separate_ceilings()
    tasks = generate(cfg, shape, 3, seed)
    naive, fast = EveryPoolEveryTick(cfg), VirtualLoop(cfg)
    made: list[int] = []  # how many groups each new set of short ceilings made
    split = fast.engine.ceilings._groups

    def groups(short: tuple[int, ...]) -> list[list[int]]:
        made.append(len(split(short)))
        return split(short)

    fast.engine.ceilings._groups = groups  # type: ignore[method-assign]
    every_tick = replay(cfg, tasks, naive)
    apart = replay(cfg, tasks, fast)
    assert fast.actions == naive.actions
    assert list(apart.wait) == list(every_tick.wait)
    assert summarize(cfg, tasks, apart) == summarize(cfg, tasks, every_tick)
    assert 2 in made  # the two tenants apart
    assert 1 in made  # joined by the cluster's quota


def test_the_first_level_learning_from_a_wake_is_exact() -> None:
    """A wake from zero teaches the first level its miss one cold start after it
    (controller.core.keepalive): a burst over within that cold start leaves the pool held by
    the plan that was, until the lesson; the engine claims it again then, as deciding at
    every tick would."""
    cfg = config({"assist": pool("acme", max_replicas=20, target_lag_per_replica=2)})
    rng = random.Random(5)
    rows: list[tuple[float, str, float, int]] = []
    t = 0.0
    for _ in range(60):
        t += rng.uniform(60.0, 400.0)
        tasks = rng.choice((1, 1, 2, 30))
        rows += [(t + 0.2 * i, "assist", rng.uniform(1.0, 4.0), 100) for i in range(tasks)]
    tasks = trace(cfg, *rows)
    naive, fast = EveryPoolEveryTick(cfg), VirtualLoop(cfg)
    assert replay(cfg, tasks, fast).steps == replay(cfg, tasks, naive).steps
    assert fast.actions == naive.actions
