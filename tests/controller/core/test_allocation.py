"""Priority under a short shared ceiling (controller.core.allocation): a higher tier's lasting
demand takes lower tiers' idle pods, and what a higher tier keeps no lower tier takes.
Table-driven: each row is a fleet's bids and what each pool gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.allocation import Claim, allocate
from controller.core.config import Config
from controller.core.policy import decide
from controller.core.room import Room
from controller.simulate.backtest import make_scaler
from tests.support.builders import replay, trace
from tests.support.factories import config, observe, pool
from tests.support.strategies import examples

TIER_OF = {"high": "enterprise", "peer": "enterprise", "mid": "growth", "low": "starter"}


@dataclass(frozen=True)
class Bid:
    """One pool's claim: replicas now, at work, wanted, the part of it that has lasted
    (None: all of it), the part that has lasted a cold start more (None: all of it), kept by
    a time rule, and its floor."""

    current: int
    want: int
    busy: int = 0
    steady: int | None = None
    peer_steady: int | None = None
    kept: int = 0
    floor: int = 0


@dataclass(frozen=True)
class Row:
    about: str
    bids: dict[str, Bid]
    granted: dict[str, int]
    max_pods: int = 6
    tenant_max_pods: dict[str, int] = field(default_factory=dict)


def fleet(row: Row) -> Config:
    tenants: dict[str, dict[str, Any]] = {name: {"tier": TIER_OF[name]} for name in row.bids}
    for name, cap in row.tenant_max_pods.items():
        tenants[name]["max_pods"] = cap
    pools = {name: pool(name, max_replicas=20) for name in row.bids}
    return config(pools, tenants, max_pods=row.max_pods)


def claims(cfg: Config, bids: dict[str, Bid]) -> list[Claim]:
    return [
        Claim(
            name=name,
            pool=cfg.pools[name],
            current=b.current,
            floor=b.floor,
            want=b.want,
            recommendation=b.want,
            reasons=[],
            busy=b.busy,
            steady=b.steady,
            peer_steady=b.peer_steady,
            kept=b.kept,
        )
        for name, b in bids.items()
    ]


ROWS = [
    Row(
        "lasting demand takes a lower tier's idle pods before any at work",
        {"high": Bid(current=2, want=4, busy=2), "low": Bid(current=4, want=4, busy=2)},
        {"high": 4, "low": 2},
    ),
    Row(
        "nothing is taken where it would not help: the higher tier's own quota binds",
        {"high": Bid(current=2, want=4, busy=2), "low": Bid(current=4, want=9, busy=4)},
        {"high": 2, "low": 4},
        tenant_max_pods={"high": 2},
    ),
    Row(
        "hysteresis: a lower tier's demand never takes the pods a higher tier's rules keep",
        {"high": Bid(current=4, want=1, busy=1, kept=4), "low": Bid(current=2, want=9, busy=2)},
        {"high": 4, "low": 2},
    ),
    Row(
        "a lower tier's held pods yield to a higher tier's demand",
        {"high": Bid(current=2, want=4, busy=2), "low": Bid(current=4, want=0, kept=4)},
        {"high": 4, "low": 2},
    ),
    Row(
        "inside a tier, holds yield to a peer's lasting demand, and running tasks stay",
        {"high": Bid(current=2, want=5, busy=2), "peer": Bid(current=4, want=1, busy=1, kept=4)},
        {"high": 5, "peer": 1},
    ),
    Row(
        "inside a tier, demand that has not outlasted a cold start takes no peer's held pods "
        "(the pod would serve nothing while it starts, and the peer's lag wobbles back)",
        {
            "high": Bid(current=2, want=5, busy=2, steady=5, peer_steady=2),
            "peer": Bid(current=4, want=1, busy=1, kept=4),
        },
        {"high": 2, "peer": 4},
    ),
    Row(
        "the same young demand takes a lower tier's held pods at once",
        {
            "high": Bid(current=2, want=5, busy=2, steady=5, peer_steady=2),
            "low": Bid(current=4, want=1, busy=1, kept=4),
        },
        {"high": 5, "low": 1},
    ),
    Row(
        "no tier gets nothing: the lower tiers' one idle pod each stays, still needed, though "
        "the higher tier's lasting demand would take them by weight alone",
        {
            "high": Bid(current=1, want=8, busy=1),
            "mid": Bid(current=1, want=1),
            "low": Bid(current=1, want=1),
        },
        {"high": 1, "mid": 1, "low": 1},
        max_pods=3,
    ),
    Row(
        "the first replica of a tier with none goes to it before a higher tier's second",
        {"high": Bid(current=2, want=6, busy=2), "low": Bid(current=0, want=3)},
        {"high": 3, "low": 1},
        max_pods=4,
    ),
    Row(
        "peers short of one replica: the pool that has it running keeps it, whatever the "
        "other bids (a rate limit holds its bid down, none holds a pool at zero)",
        {"high": Bid(current=1, want=4), "peer": Bid(current=0, want=30)},
        {"high": 1, "peer": 0},
        max_pods=1,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.about for row in ROWS])
def test_priority_under_a_short_cluster_cap(row: Row) -> None:
    cfg = fleet(row)
    made = claims(cfg, row.bids)
    allocate(cfg, made)
    assert {c.name: c.granted for c in made} == row.granted
    assert sum(c.granted for c in made) <= row.max_pods


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(TIER_OF)), st.integers(0, 6), st.integers(0, 12)),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 30),
)
def test_the_bulk_fill_grants_what_one_replica_at_a_time_would(
    bids: list[tuple[str, int, int]], max_pods: int
) -> None:
    """Room._level_up grants the bulk of a water-fill at once; the result is the same as the
    queue's, one replica at a time in order of replicas per weight."""
    tenants: dict[str, dict[str, Any]] = {name: {"tier": TIER_OF[name]} for name in TIER_OF}
    pools = {f"p{k}": pool(tenant, max_replicas=20) for k, (tenant, _, _) in enumerate(bids)}
    cfg = config(pools, tenants, max_pods=max_pods)

    def granted(bulk: bool) -> list[int]:
        made = [
            Claim(
                name=f"p{k}",
                pool=cfg.pools[f"p{k}"],
                current=current,
                floor=0,
                want=want,
                recommendation=want,
                reasons=[],
            )
            for k, (_, current, want) in enumerate(bids)
        ]
        with patch.object(Room, "_level_up", Room._level_up if bulk else lambda self, c: None):
            allocate(cfg, made)
        return [c.granted for c in made]

    assert granted(bulk=True) == granted(bulk=False)


def test_demand_too_young_for_a_peers_held_pods_says_how_long_it_must_last() -> None:
    bids = {
        "high": Bid(current=2, want=5, busy=2, steady=5, peer_steady=2),
        "peer": Bid(current=4, want=1, busy=1, kept=4),
    }
    cfg = config(
        {name: pool(name, max_replicas=20, cold_start_seconds=20) for name in bids},
        {name: {"tier": TIER_OF[name]} for name in bids},
        max_pods=6,
    )
    made = claims(cfg, bids)
    allocate(cfg, made)
    said = "cluster max_pods 6 in use by other pools; demand younger than 35 s takes no pod its"
    assert said in made[0].reasons[-1].detail


def test_two_backlogged_peers_at_a_full_cluster_do_not_trade_their_pod() -> None:
    # One pod for two pools of the same tier, each with a backlog. The one at zero bids its
    # whole demand; the rate limit holds the other's bid to a few pods. If the larger bid
    # took the pod, it would change hands every tick and never finish its cold start.
    pools = {name: pool("high", max_replicas=20, cold_start_seconds=20) for name in ("a", "b")}
    cfg = config(pools, {"high": {"tier": "enterprise"}}, max_pods=1)
    rows = [(0.0, name, 10.0, 100) for name in ("a", "b") for _ in range(30)]
    cluster = replay(cfg, trace(cfg, *rows), make_scaler("agentdash", cfg))
    assert cluster.completed == 60
    assert cluster.reversals <= 2


@pytest.mark.parametrize("row", ROWS, ids=[row.about for row in ROWS])
def test_a_pool_kept_short_ends_its_reasons_with_what_it_gets(row: Row) -> None:
    # The dashboard's STATE and a scale event's WHY quote the last reason: one that ended
    # with an earlier rule's number ("max_replicas 6: 8 -> 6" for a pool left at 2) showed a
    # pool "capped" far below its max_replicas, or scaling to a number it did not reach.
    cfg = fleet(row)
    made = claims(cfg, row.bids)
    allocate(cfg, made)
    for claim in made:
        if claim.granted < max(claim.want, claim.floor):
            assert claim.reasons, claim.name
            assert claim.reasons[-1].detail.endswith(f"-> {claim.granted}"), claim.name


def test_lasting_demand_below_a_higher_tiers_held_pods_says_so() -> None:
    bids = {"high": Bid(current=4, want=1, busy=1, kept=4), "low": Bid(current=2, want=9, busy=2)}
    cfg = fleet(Row("", bids, {}))
    made = claims(cfg, bids)
    allocate(cfg, made)
    said = made[1].reasons[-1]
    assert said.rule == "cluster max_pods"
    assert said.detail == (
        "cluster max_pods 6 in use: the rest a higher tier's time rules keep, which no lower "
        "tier takes: 9 -> 2"
    )


def test_room_a_higher_tiers_next_replica_cannot_use_goes_to_a_lower_tier() -> None:
    """An enterprise replica costs 37 rpm and a starter's 1: with 36 rpm left, the starter
    pool grows into them. The enterprise pool would get its 11th only if the starter gave up
    3 of its 4, falling far below the enterprise tier's level by weight: shared by weight, the
    starter keeps them and the enterprise pool, short one, says which ceilings bind it."""
    cfg = config(
        {
            "cheap": pool("starter", provider="openai", rpm_per_replica=1, max_replicas=4),
            "dear": pool("enterprise", provider="openai", rpm_per_replica=37, max_replicas=11),
        },
        {"starter": {"tier": "starter"}, "enterprise": {"tier": "enterprise"}},
        providers={"openai": {"rpm": 408, "headroom": 1.0}},
    )
    decisions = {d.pool: d for d in decide(cfg, observe(cheap=(0, 4, 0), dear=(1, 10, 0)))}
    assert decisions["cheap"].desired == 4
    assert decisions["dear"].desired == 10
    assert decisions["dear"].main_reason.detail.startswith(
        "provider openai rpm 408 all in use, 37 rpm a replica"
    )
    assert decisions["dear"].main_reason.detail.endswith(": 11 -> 10")


def test_a_higher_tier_held_back_under_one_ceiling_keeps_its_share_of_another() -> None:
    """Two ceilings short at once. The enterprise tenant's max_pods of 8 holds its pool `chat`
    back while `batch`, its peer, still has a pod that the provider's rpm no longer pays for
    (set aside until lending gives it to `chat`). Meanwhile the growth pool grows into
    anthropic's rpm: it grows only up to its share by weight first, so the 1 rpm that
    `chat`'s fifth replica needs is there once the tenant's pod is lent to it. Growing
    straight to its demand, the growth pool took all 60 rpm and `chat` got 4 of its 5."""
    cfg = config(
        {
            "chat": pool("acme", provider="anthropic", rpm_per_replica=1, max_replicas=5),
            "batch": pool("acme", provider="openai", rpm_per_replica=16, max_replicas=4),
            "bulk": pool("globex", provider="anthropic", rpm_per_replica=4, max_replicas=14),
        },
        {"acme": {"tier": "enterprise", "max_pods": 8}, "globex": {"tier": "growth"}},
        max_pods=22,
        providers={"openai": {"rpm": 40}, "anthropic": {"rpm": 40}},
    )
    decisions = {
        d.pool: d for d in decide(cfg, observe(chat=(0, 5, 0), batch=(0, 4, 4), bulk=(4, 10, 0)))
    }
    assert decisions["chat"].desired == 5
    assert decisions["bulk"].desired == 13
    assert decisions["bulk"].main_reason.detail == (
        "provider anthropic rpm 40 (x1.5 headroom: 60) all in use, 4 rpm a replica, shared by "
        "tier weight (growth here, weight 2): 14 -> 13"
    )
