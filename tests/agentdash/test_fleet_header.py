"""The Fleet header at 80 columns while a source is stale: the demo's, its nats-server
stopped with `kill -STOP`, read `... running  queue STALE: NATS: no` and no clock, cut at the
edge, so that the reason read as a word of its own and the time, which shows the screen is
live, was gone."""

from __future__ import annotations

import pytest

from agentdash.tui.attention import WARNING, Flag
from agentdash.tui.live import header_text
from controller.runtime.snapshot import FleetSnapshot, PoolRow, TenantRow

AT_80 = 78
"""The header's width in an 80-column terminal, inside its padding."""


def stale(problems: dict[str, str]) -> FleetSnapshot:
    """The demo's fleet as its header showed it (12 pods, 8.42M tokens today), with these
    sources stale."""
    pool = PoolRow(
        name="acme-research",
        tenant="acme",
        tier="enterprise",
        pending=50,
        ack_pending=12,
        arrival_rate=2.1,
        replicas=12,
        desired=12,
        ready=12,
        pin=None,
        state="stale",
        decision=None,
    )
    tenant = TenantRow(
        name="acme",
        tier="enterprise",
        tokens_today=8_420_000,
        budget=None,
        warn_at=0.8,
        hard_cap=False,
        burn_per_min=0.0,
        pods=12,
        max_pods=None,
        paused=False,
    )
    return FleetSnapshot(
        ts=1_795_773_285.0,  # 09:54:45 UTC
        pools=(pool,),
        tenants=(tenant,),
        pods=(),
        cluster_cap=24,
        state="running",
        problems=problems,
    )


FLAGS = [Flag(WARNING, "budget", "acme", "runs out"), Flag(WARNING, "budget", "globex", "soon")]


@pytest.mark.parametrize(
    "problems",
    [
        {"queue": "NATS: no answer within 2 s"},
        {"queue": "NATS disconnected (reconnecting)"},
    ],
)
def test_at_80_columns_a_stale_source_is_named_whole_and_the_clock_stays(
    problems: dict[str, str],
) -> None:
    header = header_text(stale(problems), read_only=False, flags=FLAGS, width=AT_80)
    assert header.cell_len <= AT_80, header.plain
    assert header.plain.rstrip().endswith("queue STALE  09:54:45"), header.plain


def test_where_it_fits_the_header_says_why_the_source_is_stale() -> None:
    header = header_text(stale({"queue": "NATS: no answer within 2 s"}), False, FLAGS, 200)
    assert "queue STALE: NATS: no answer within 2 s" in header.plain
    assert header.plain.rstrip().endswith("09:54:45 UTC")


def test_tasks_the_queue_refuses_are_told_as_refused_not_stale() -> None:
    """The pools read idle, truly: nothing was stored for them; the data is not stale."""
    refused = "JetStream stores none of the tasks published for acme-research (for 20 s or more)"
    header = header_text(stale({"tasks": refused}), False, FLAGS, 200)
    assert f"tasks REFUSED: {refused}" in header.plain
    assert "STALE" not in header.plain
