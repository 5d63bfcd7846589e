"""A time left as the Tenants screen's LEFT and Describe's pin say it: in step with the
Attention screen's "runs out in", never a budget hours from spent shown as `0m`."""

from __future__ import annotations

import dataclasses

import pytest

from agentdash.tui.attention import Attention
from agentdash.tui.render import duration
from controller.core.model import Overrides
from controller.runtime.snapshot import FleetSnapshot, TenantRow


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, "-"),
        (0.0, "spent"),
        (26.0, "26s"),
        (83.0, "83s"),
        (119.4, "119s"),
        (120.0, "2m"),
        (42.9 * 60, "43m"),
        (3 * 3600.0, "3.0h"),
        (5 * 86400.0, "5d"),
    ],
)
def test_a_time_left_is_said_in_seconds_under_two_minutes(seconds: float | None, said: str) -> None:
    assert duration(seconds) == said


def tenant(left_s: float) -> TenantRow:
    """A tenant 1,000,000 tokens short of its budget, burning through it in `left_s`."""
    return TenantRow(
        name="globex",
        tier="growth",
        tokens_today=4_000_000,
        budget=5_000_000,
        warn_at=0.8,
        hard_cap=True,
        burn_per_min=1_000_000 / left_s * 60,
        pods=4,
        max_pods=10,
        paused=False,
    )


@pytest.mark.parametrize(("left_s", "left", "attention"), [
    (26.0, "26s", "26 s"), (83.0, "83s", "83 s"), (43 * 60.0, "43m", "43 min"),
])  # fmt: skip
def test_tenants_left_says_what_attention_says(left_s: float, left: str, attention: str) -> None:
    # The demo showed LEFT `0m` for a budget Attention said ran out "in 26 s", and `1m` for
    # "in 83 s".
    row = tenant(left_s)
    snapshot = FleetSnapshot(
        ts=0.0, pools=(), tenants=(row,), pods=(), cluster_cap=24, state="running"
    )
    (flag,), _ = Attention().look(snapshot, Overrides(), [])
    assert f"runs out in {attention} at its burn rate" in flag.detail
    assert duration(row.runs_out_in()) == left


def test_a_paused_tenant_has_no_time_left_to_count_down() -> None:
    # Its pools are at 0 and it spends nothing more; the demo's Tenants screen still said
    # LEFT `94s`, then `2m`, for a tenant paused a minute before (the burn rate looks back 5
    # min), where Attention, rightly, no longer flagged it.
    row = dataclasses.replace(tenant(94.0), paused=True, pods=0)
    assert row.runs_out_in() is None
    assert duration(row.runs_out_in()) == "-"
