"""The engine decides only what can have changed, and allocates each group of pools under a
short ceiling by itself; that must be exactly `decide` over every pool at every step, with
every recommendation recorded, whatever comes: readings that come and go or turn stale,
tokens that cross budget rules, ceilings that turn short and back (groups that form, merge
and split), and operators who pin, pause pools and tenants, pause the controller and resume.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

import pytest

from controller.core.config import Config
from controller.core.engine import Engine
from controller.core.history import History
from controller.core.model import Overrides, Pin, PoolObservation, PoolPause, ScaleDecision
from controller.core.policy import decide
from tests.support.factories import config, pool
from tests.support.strategies import examples

T = TypeVar("T")


def fleet(rng: random.Random) -> Config:
    """Tight ceilings that bind now and then: the cluster's quota, two tenants' max_pods, a
    provider's rpm; three tiers; a scale-up rate limit on three pools; a soft budget paced
    past 30%, a hard one, and one whose steady burn is forecast (past warn_at it is paced,
    then not once the burn stops)."""
    tenants = {
        "acme": {"tier": "enterprise", "max_pods": 6},
        "globex": {
            "tier": "growth",
            "max_pods": 5,
            "daily_token_budget": 1_000_000,
            "warn_at": 0.3,
            "hard_cap": False,
        },
        "initech": {"tier": "starter", "daily_token_budget": 500_000, "hard_cap": True},
        # At its 3,000 tokens a step (about 8M an hour), what is left runs out within the
        # minutes its burn rate is seen over: forecast, paced, then not once it stops.
        "umbrella": {"tier": "growth", "daily_token_budget": 2_000_000, "warn_at": 0.1},
    }
    pools = {}
    for k in range(12):
        tenant = list(tenants)[k % 4]
        fields = {"max_replicas": rng.randint(3, 9), "cooldown_seconds": rng.choice([0, 5, 20])}
        if k % 3 == 0:
            fields |= {"provider": "openai", "rpm_per_replica": 20}
        if k % 5 == 0:
            fields["min_replicas"] = 1
        if k % 4 == 1:  # a scale-up rate limit, which a pool has only where it sets one
            fields["behavior"] = {"scale_up": {"max_pods": 2, "period_seconds": 15}}
        pools[f"p{k}"] = pool(tenant, **fields)
    return config(pools, tenants, max_pods=rng.choice([10, 16, 40]),
                  providers={"openai": {"rpm": 200}})  # fmt: skip


def reading(rng: random.Random, replicas: int) -> PoolObservation | None:
    roll = rng.random()
    if roll < 0.05:
        return None  # not seen at all
    if roll < 0.1:
        return PoolObservation(
            pending=0,
            ack_pending=0,
            replicas=replicas,
            ready=replicas,
            stale="queue: no answer",
            stale_reads=2,
        )
    pending = rng.choice([0, 0, rng.randint(1, 30)])
    rate = rng.choice([None, rng.random() * 3])
    task = rng.choice([None, 2.0, 30.0])
    return PoolObservation(
        pending=pending,
        ack_pending=rng.randint(0, 3),
        replicas=replicas,
        ready=replicas,
        arrival_rate=rate,
        mean_task_seconds=task,
    )


def operators(rng: random.Random, names: list[str], was: Overrides, now: float) -> Overrides:
    def pin() -> Pin:
        return Pin(rng.randint(1, 4), rng.choice([None, now + rng.randint(1, 30)]))

    def pause() -> PoolPause:
        return PoolPause(rng.choice([None, 2]), rng.choice([None, now + 15]))

    roll = rng.random()
    if roll < 0.04:
        return replace(was, pins=_toggle(was.pins, rng.choice(names), pin))
    if roll < 0.07:
        return replace(was, paused_pools=_toggle(was.paused_pools, rng.choice(names), pause))
    if roll < 0.09:
        tenant = rng.choice(["acme", "globex", "umbrella"])
        return replace(was, paused_tenants=was.paused_tenants ^ {tenant})
    if roll < 0.1:
        return replace(was, paused=not was.paused)
    return was


def _toggle(said: Mapping[str, T], name: str, make: Callable[[], T]) -> dict[str, T]:
    """What operators said, with `name` said anew (`make`) or taken back if it was said."""
    out = dict(said)
    if name in out:
        del out[name]
    else:
        out[name] = make()
    return out


SEEDS = range(examples(16))  # a fast lane runs fewer (tests/support/strategies.examples)
_FORECASTS = ("no forecast yet", "(budget pace)", "not paced")


@pytest.mark.parametrize("seed", SEEDS)
def test_the_engine_decides_as_decide_over_every_pool(seed: int) -> None:
    run(seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_claiming_on_footprints_gives_the_same_numbers(seed: int) -> None:
    """The backtest's engine claims a pool again only when its reading's footprint moves: the
    reasons may quote (and name) what explained the same numbers before; the numbers are the
    same."""
    run(seed, exact_reasons=False)


@pytest.mark.e2e
def test_the_runs_exercise_every_rule_and_ceiling() -> None:
    rules: set[str] = set()
    for seed in SEEDS:
        rules |= run(seed)
    assert {"pin", "pool paused", "paused", "controller paused", "stale", "no observation",
            "tenant max_pods", "cluster max_pods", "provider rpm", "budget warning",
            "budget spent", "budget exhausted", "cooldown", "stabilization",
            "rate limit", *_FORECASTS} <= rules  # fmt: skip


def run(seed: int, *, exact_reasons: bool = True) -> set[str]:
    """One run of 600 steps; the rules its decisions gave."""
    rng = random.Random(seed)
    cfg = fleet(rng)
    names = list(cfg.pools)
    engine = Engine(cfg, exact_reasons=exact_reasons)
    reference = History(cfg)
    replicas = dict.fromkeys(names, 0)
    tokens = {"globex": 0, "initech": 0}
    steady = 0  # umbrella's: 3,000 tokens a step for 450 steps, then none
    overrides = Overrides()
    shorts = set()
    rules: set[str] = set()
    now = 1000.0
    for step in range(600):
        now += rng.choice([0.5, 1.0, 1.0, 3.0])  # steps closer than a second, and further
        for i, name in enumerate(names):
            if step == 0 or rng.random() < 0.2:
                engine.read(i, reading(rng, replicas[name]))
        if rng.random() < 0.1:
            tenant = rng.choice(list(tokens))
            tokens[tenant] += rng.randint(0, 120_000)
            for name, used in tokens.items():
                engine.tokens(name, used)
        steady += 3_000 if step < 450 else 0
        engine.tokens("umbrella", steady, tasks=steady // 1_000)
        overrides = operators(rng, names, overrides, now)
        engine.overrides(overrides)
        engine.step(now)
        got = engine.decisions()
        want = decide(cfg, engine.observations, overrides, reference, now)
        reference.record_tick(want, engine.observations, now)
        if exact_reasons:
            assert got == want, f"step {step}"
        else:
            assert list(map(_numbers, got)) == list(map(_numbers, want)), f"step {step}"
        shorts.add(engine.ceilings.short)
        rules.update(r.rule for d in got for r in d.reasons)
        for d in got:  # which of the budget warning's forecasts it read
            said = " ".join(r.detail for r in d.reasons if r.rule == "budget warning")
            rules.update(name for name in _FORECASTS if name in said)
        for d in got:  # the pools follow their decisions (a stale one keeps what it has)
            if d.changes and not overrides.paused:
                engine.scaled(names.index(d.pool), now, d.current, d.desired)
                reference.record_scale(d.pool, now, d.current, d.desired)
                replicas[d.pool] = d.desired
    assert len(shorts) > 2  # ceilings turned short and back, in more than one way
    return rules


def _numbers(d: ScaleDecision) -> tuple[object, ...]:
    return d.pool, d.current, d.desired, d.recommendation, d.held, d.observed, d.until


def test_a_budget_rule_moved_by_the_tasks_waiting_claims_the_tenants_pools_again() -> None:
    # 250,000 tokens left at 10,000 a task: 25 tasks spend it all. The landing begins when
    # two rounds of what the tenant's pools hold (the tasks in flight and the next) would
    # spend more, and ends when they would spend less: pool b, whose reading never changes,
    # may grow only while pool a's queue is short, and the engine claims it again each time
    # the rule moves.
    tenant = {"tier": "starter", "daily_token_budget": 550_000, "hard_cap": True}
    cfg = config({"a": pool("t", max_replicas=30), "b": pool("t", max_replicas=30)}, {"t": tenant})
    engine, reference = Engine(cfg, exact_reasons=True), History(cfg)
    engine.read(
        1, PoolObservation(pending=3, ack_pending=2, replicas=2, ready=2, task_tokens=10_000.0)
    )
    grown = []
    for step, waiting in enumerate([5, 30, 30, 5, 5]):
        now = 1000.0 + step
        engine.read(
            0,
            PoolObservation(
                pending=waiting, ack_pending=0, replicas=2, ready=2, task_tokens=10_000.0
            ),
        )
        engine.tokens("t", 300_000, tasks=30)
        engine.step(now)
        want = decide(cfg, engine.observations, Overrides(), reference, now)
        reference.record_tick(want, engine.observations, now)
        assert engine.decisions() == want, f"step {step}"
        grown.append(want[1].desired)
    assert grown == [5, 2, 2, 5, 5]
