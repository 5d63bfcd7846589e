"""Priority under a short shared ceiling (controller.core.allocation): a higher tier's lasting
demand takes lower tiers' pods, idle ones first, then those at work (preemption), and
hysteresis keeps pods from flapping between tiers. Table-driven: each row is a fleet's bids
and what each pool gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.core.allocation import Claim, allocate
from controller.core.config import Config
from controller.core.history import SUSTAINED_S
from tests.factories import config, pool

TIER_OF = {"high": "enterprise", "peer": "enterprise", "mid": "growth", "low": "starter"}


@dataclass(frozen=True)
class Bid:
    """One pool's claim: replicas now, at work, wanted, the part of it that has lasted
    (None: all of it), kept by a time rule, and its floor."""

    current: int
    want: int
    busy: int = 0
    steady: int | None = None
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
            name,
            cfg.pools[name],
            b.current,
            b.floor,
            b.want,
            b.want,
            [],
            busy=b.busy,
            steady=b.steady,
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
        "then those at work: a backlog keeps a lower pool's pods busy for as long as it lasts",
        {"high": Bid(current=2, want=4, busy=2), "low": Bid(current=4, want=9, busy=4)},
        {"high": 4, "low": 2},
    ),
    Row(
        "the lowest tier makes room first",
        {
            "high": Bid(current=2, want=4, busy=2),
            "mid": Bid(current=2, want=5, busy=2),
            "low": Bid(current=2, want=5, busy=2),
        },
        {"high": 4, "mid": 2, "low": 0},
    ),
    Row(
        "a lower tier keeps its floor",
        {"high": Bid(current=2, want=6, busy=2), "low": Bid(current=4, want=9, busy=4, floor=3)},
        {"high": 3, "low": 3},
    ),
    Row(
        "nothing is taken where it would not help: the higher tier's own quota binds",
        {"high": Bid(current=2, want=4, busy=2), "low": Bid(current=4, want=9, busy=4)},
        {"high": 2, "low": 4},
        tenant_max_pods={"high": 2},
    ),
    Row(
        f"hysteresis: demand younger than {SUSTAINED_S:g} s takes free room only",
        {"high": Bid(current=2, want=4, busy=2, steady=2), "low": Bid(current=4, want=9, busy=4)},
        {"high": 2, "low": 4},
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
]


@pytest.mark.parametrize("row", ROWS, ids=[row.about for row in ROWS])
def test_priority_under_a_short_cluster_cap(row: Row) -> None:
    cfg = fleet(row)
    made = claims(cfg, row.bids)
    allocate(cfg, made)
    assert {c.name: c.granted for c in made} == row.granted
    assert sum(c.granted for c in made) <= row.max_pods


def test_a_preemption_says_what_moved_on_both_sides() -> None:
    row = ROWS[2]
    cfg = fleet(row)
    made = {c.name: c for c in claims(cfg, row.bids)}
    allocate(cfg, list(made.values()))
    high, low = made["high"].reasons[-1], made["low"].reasons[-1]
    assert high.rule == low.rule == "cluster max_pods"
    assert high.detail == (
        "cluster max_pods 6: 2 replicas taken from lower tiers' pods (low -2), for demand "
        "that has lasted 15 s: 2 -> 4"
    )
    assert low.detail.startswith(
        "cluster max_pods 6: tier enterprise's demand has lasted 15 s, so 2 of the replicas "
        "here make room for it"
    )
    assert low.detail.endswith(": 2 -> 0")
    assert made["mid"].granted == 2


def test_recent_demand_says_when_it_would_take_lower_tiers_pods() -> None:
    row = ROWS[5]
    cfg = fleet(row)
    made = {c.name: c for c in claims(cfg, row.bids)}
    allocate(cfg, list(made.values()))
    assert made["high"].reasons[-1].detail == (
        "cluster max_pods 6 in use by other pools; demand younger than 15 s takes free room "
        "only: 4 -> 2"
    )
