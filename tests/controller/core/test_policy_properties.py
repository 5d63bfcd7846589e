"""Properties of the policy over random fleets (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.allocation import Claim, Demand, allocate
from controller.core.config import Config
from controller.core.demand import footprint
from controller.core.history import History
from controller.core.layout import tier_weights
from controller.core.model import Observations, Overrides, PoolObservation, ScaleDecision
from controller.core.policy import claim, decide
from tests.support.factories import config, pool
from tests.support.records import replaced
from tests.support.strategies import ARRIVAL_RATE, MEAN_TASK_SECONDS, REPLICAS, examples, fleets

SHARED = ("cluster max_pods", "provider rpm")


def ceilings(cfg: Config) -> list[tuple[str, float, dict[str, float]]]:
    """(name, capacity, cost a replica per pool) for every shared or tenant ceiling."""
    found = [("cluster", float(cfg.cluster.max_pods), {p: 1.0 for p in cfg.pools})]
    for name, tenant in cfg.tenants.items():
        if tenant.max_pods is not None:
            members = {p: 1.0 for p, c in cfg.pools.items() if c.tenant == name}
            found.append((f"tenant {name}", float(tenant.max_pods), members))
    for name, provider in cfg.providers.items():
        members = {
            p: c.rpm_per_replica
            for p, c in cfg.pools.items()
            if c.provider == name and c.rpm_per_replica > 0
        }
        found.append((f"provider {name}", provider.rpm * provider.headroom, members))
    return found


@settings(max_examples=examples(300), deadline=None)
@given(fleets())
def test_no_ceiling_is_ever_exceeded(fleet: tuple[Config, Observations, Overrides]) -> None:
    cfg, observations, overrides = fleet
    decisions = decide(cfg, observations, overrides)
    for d in decisions:  # every shortfall says which ceiling caused it
        if d.desired < d.recommendation:
            assert d.main_reason.rule in (*SHARED, "tenant max_pods"), d.reasons
    desired = {d.pool: d.desired for d in decisions}
    for pool_name, d in desired.items():
        assert 0 <= d <= cfg.pools[pool_name].max_replicas
    for name, capacity, cost in ceilings(cfg):
        used = sum(desired[p] * c for p, c in cost.items())
        assert used <= capacity + 1e-9, name


def fits_with(
    cfg: Config, decisions: list[ScaleDecision], short: str, other: str, extra: int
) -> bool:
    """Whether one more replica of `short` would fit every ceiling once `other` gave up
    `extra` replicas."""
    desired = {d.pool: d.desired for d in decisions}
    for _, capacity, cost in ceilings(cfg):
        if short not in cost:
            continue
        left = capacity - sum(desired[p] * c for p, c in cost.items())
        left += extra * cost.get(other, 0.0)
        if left + 1e-9 < cost[short]:
            return False
    return True


def floor_of(cfg: Config, d: ScaleDecision, obs: Observations, overrides: Overrides) -> int:
    pool_cfg = cfg.pools[d.pool]
    tenant = cfg.tenants[pool_cfg.tenant]
    if pool_cfg.tenant in overrides.paused_tenants:
        return 0
    used = obs.tokens_today.get(pool_cfg.tenant, 0)
    if tenant.daily_token_budget and tenant.hard_cap and used >= tenant.daily_token_budget:
        return 0
    pin = overrides.pins.get(d.pool)
    floor = max(pool_cfg.min_replicas, pin.replicas if pin else 0)
    return min(floor, pool_cfg.max_replicas)


@settings(max_examples=examples(300), deadline=None)
@given(fleets())
def test_a_lower_tier_grows_no_further_than_its_weight_while_a_higher_tier_is_short(
    fleet: tuple[Config, Observations, Overrides],
) -> None:
    """Under a short ceiling the tiers share by weight: a lower tier that grows there ends,
    per unit of weight, no higher above a higher tier left short of it than the replicas it
    would have to give up for that tier's next one (one, where a replica of each costs the
    same; more, where the higher tier's costs more of the ceiling, as 37 rpm against 1: the
    room left that its next replica cannot use goes to the lower tier)."""
    cfg, observations, overrides = fleet
    weights = tier_weights(cfg)
    decisions = decide(cfg, observations, overrides)
    for short in decisions:
        bound = {r.rule for r in short.reasons} & set(SHARED)
        for rule in bound:
            for other in decisions:
                if cfg.tier_priority(other.pool) >= cfg.tier_priority(short.pool):
                    continue
                floor = floor_of(cfg, other, observations, overrides)
                if other.desired <= max(other.current, floor):
                    continue  # it grew nothing (or to its floor): what it keeps is its own
                if rule == "provider rpm":
                    mine, theirs = cfg.pools[short.pool], cfg.pools[other.pool]
                    if theirs.provider != mine.provider or theirs.rpm_per_replica == 0:
                        continue
                if (
                    rule == "tenant max_pods"
                    and cfg.pools[other.pool].tenant != cfg.pools[short.pool].tenant
                ):
                    continue
                grown = other.desired - max(other.current, floor)
                given = next(
                    (
                        k
                        for k in range(1, grown + 1)
                        if fits_with(cfg, decisions, short.pool, other.pool, k)
                    ),
                    None,
                )
                if given is None:
                    continue  # another ceiling stops the higher tier: the growth took nothing
                low = weights[cfg.tier_of[other.pool]]
                high = weights[cfg.tier_of[short.pool]]
                assert (other.desired - given) / low <= short.desired / high, (
                    f"{other.pool} grew to {other.desired} while higher-tier {short.pool} "
                    f"got {short.desired} under {rule}"
                )


@settings(max_examples=examples(100), deadline=None)
@given(fleets())
def test_decisions_are_deterministic_whatever_the_input_order(
    fleet: tuple[Config, Observations, Overrides],
) -> None:
    cfg, observations, overrides = fleet
    first = decide(cfg, observations, overrides)
    shuffled = Observations(
        pools=dict(reversed(list(observations.pools.items()))),
        tokens_today=dict(reversed(list(observations.tokens_today.items()))),
    )
    assert decide(cfg, shuffled, overrides) == first
    assert decide(cfg, observations, overrides) == first


def _numbers(made: Claim) -> tuple[int, int, int, int, bool, int]:
    return made.current, made.floor, made.want, made.recommendation, made.held, made.kept


@given(fleets(), st.data())
@settings(max_examples=examples(150), deadline=None)
def test_a_claim_depends_on_an_observation_only_through_its_footprint(
    fleet: tuple[Config, Observations, Overrides], data: st.DataObject
) -> None:
    cfg, observations, overrides = fleet
    for name, obs in observations.pools.items():
        pool_cfg = cfg.pools[name]
        lag = obs.lag
        moved = data.draw(st.integers(0, lag))  # tasks between pending and ack_pending
        other = replaced(
            obs,
            pending=moved,
            ack_pending=lag - moved,
            ready=data.draw(REPLICAS),
            arrival_rate=data.draw(ARRIVAL_RATE),
            mean_task_seconds=data.draw(MEAN_TASK_SECONDS),
        )
        wait = cfg.target_wait[name]
        if footprint(pool_cfg, other, wait) != footprint(pool_cfg, obs, wait):
            continue
        swapped = Observations({**observations.pools, name: other}, observations.tokens_today)
        a = claim(name, pool_cfg, cfg, observations, overrides, None, 0.0)
        b = claim(name, pool_cfg, cfg, swapped, overrides, None, 0.0)
        assert _numbers(a) == _numbers(b)


@given(st.data())
@settings(max_examples=examples(300), deadline=None)
def test_a_claim_holds_until_its_time_rules_may_let_go(data: st.DataObject) -> None:
    """With the same inputs, a pool claimed again at every tick before Claim.until (its
    history recording only its own recommendation, as the loop does) claims the same."""
    cfg = config(
        {"p": pool("t", max_replicas=30, cooldown_seconds=data.draw(st.sampled_from([0, 60, 300])))}
    )
    now, history = 1200.0, History(cfg)
    current = data.draw(REPLICAS)
    # A random recent past: recommendations, and scale steps large enough to bind.
    times = data.draw(st.lists(st.floats(now - 400, now - 0.5), max_size=15))
    for t in sorted(times):
        history.record_pool("p", data.draw(st.integers(0, 25)), data.draw(st.integers(0, 2)), t)
        if data.draw(st.booleans()):
            history.record_scale("p", t, current, current + data.draw(st.integers(-12, 12)))
    lag = data.draw(st.integers(0, 40))
    observations = Observations(
        {"p": PoolObservation(pending=lag, ack_pending=0, replicas=current, ready=current)}
    )
    tick = data.draw(st.sampled_from([1.0, 5.0, 20.0]))
    first = claim("p", cfg.pools["p"], cfg, observations, Overrides(), history, now)
    t = now
    while t + tick < min(first.until, now + 700):
        history.record_pool("p", first.recommendation, lag, t)
        t += tick
        again = claim("p", cfg.pools["p"], cfg, observations, Overrides(), history, t)
        assert _numbers(again) == _numbers(first), (t, first.until)


@given(fleets(), st.data())
@settings(max_examples=examples(150), deadline=None)
def test_while_demand_fits_allocate_grants_each_claim_what_it_asks_alone(
    fleet: tuple[Config, Observations, Overrides], data: st.DataObject
) -> None:
    cfg, observations, overrides = fleet
    demand = Demand(cfg)
    claims = {}
    for _ in range(3):  # claims replaced in any order, as the simulator re-claims pools
        for name in data.draw(st.permutations(list(cfg.pools))):
            obs = replaced(observations.pools[name], pending=data.draw(st.integers(0, 60)))
            seen = Observations({**observations.pools, name: obs}, observations.tokens_today)
            claims[name] = claim(name, cfg.pools[name], cfg, seen, overrides, None, 0.0)
            demand.set(claims[name])
    run = [claims[name].copy() for name in cfg.pools]
    allocate(cfg, run)
    alone = all(c.granted == c.alone for c in run)
    assert demand.fits() == all(
        t <= limit for t, limit in zip(demand.total, demand.limit, strict=True)
    )
    if demand.fits():
        assert alone
        assert [c.reasons for c in run] == [claims[name].reasons for name in cfg.pools]


ANY_FLOAT = st.none() | st.floats(allow_nan=True, allow_infinity=True)


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 30),
    ANY_FLOAT,
    ANY_FLOAT,
    st.integers(0, 600),
)
@settings(max_examples=examples(300), deadline=None)
def test_no_reading_can_crash_the_pass_or_push_a_pool_past_its_bounds(
    pending: int, ack_pending: int, replicas: int, rate: float | None, seconds: float | None,
    cold_start: int,
) -> None:  # fmt: skip
    """Whatever slips past a source's checks (NaN, inf, 1e308, negatives), the pass decides:
    within the pool's bounds, and never below the replicas at work."""
    fleet = config(
        {"web": pool("acme", max_replicas=30, cold_start_seconds=cold_start)},
        tiers={"enterprise": {"priority": 1, "target_wait_seconds": 5}},
    )
    web = PoolObservation(
        pending=pending,
        ack_pending=ack_pending,
        replicas=replicas,
        ready=replicas,
        arrival_rate=rate,
        mean_task_seconds=seconds,
    )
    obs = Observations({"web": web})
    (decision,) = decide(fleet, obs, Overrides(), History(fleet), 0.0)
    assert 0 <= decision.desired <= 30
    if pending + ack_pending > 0:
        assert decision.desired >= min(replicas, ack_pending)
