"""How long each pool's oldest task has waited, as the dashboard's snapshot gives it: from the
lag source's last reading, against the pool's tier's target_wait_seconds."""

from __future__ import annotations

from controller.core.model import Observations, Overrides, PoolObservation, QueueStats
from controller.runtime.snapshot import FleetSnapshot, Trends, build_snapshot
from tests.support.fleets import tiers_with_a_target_wait

NOW = 1_767_225_600.0


def snapshot(queues: dict[str, QueueStats], *, observed: bool = True) -> FleetSnapshot:
    """The fleet's snapshot with these queue readings; `observed`: the engine was fed them
    (else no pool has an observation, as where the cluster side cannot be read)."""
    fed = {
        name: PoolObservation(
            pending=q.pending, ack_pending=q.ack_pending, replicas=1, stale=q.stale
        )
        for name, q in queues.items()
    }
    return build_snapshot(
        tiers_with_a_target_wait(),
        now=NOW,
        overrides=Overrides(),
        observed=Observations(pools=fed if observed else {}),
        states={},
        decisions={},
        trends=Trends(),
        dry_run=False,
        mode="running",
        problems={},
        queues=queues,
    )


def test_the_wait_is_the_time_since_the_oldest_pending_task_came_against_its_tiers_target() -> None:
    rows = {
        row.name: row
        for row in snapshot(
            {
                "research": QueueStats(4, 1, oldest_at=NOW - 45),
                "support": QueueStats(2, 0, oldest_at=NOW - 12),
                "batch": QueueStats(9, 0, oldest_at=NOW - 600),
            }
        ).pools
    }
    assert (rows["research"].oldest_wait_s, rows["research"].target_wait_s) == (45, 30)
    assert rows["research"].over_target
    assert (rows["support"].oldest_wait_s, rows["support"].over_target) == (12, False)
    assert (rows["batch"].oldest_wait_s, rows["batch"].target_wait_s) == (600, None)
    assert not rows["batch"].over_target  # no target: never over it


def test_no_wait_where_none_waits_unknown_where_it_is_not_known_and_never_below_zero() -> None:
    rows = {
        row.name: row
        for row in snapshot(
            {
                "research": QueueStats(0, 3),  # every task taken: none waits for a worker
                "support": QueueStats(2, 0),  # tasks wait; when the oldest came is not known
                "batch": QueueStats(1, 0, oldest_at=NOW + 2),  # the server's clock is ahead
            }
        ).pools
    }
    assert (rows["research"].oldest_wait_s, rows["research"].waits_unknown) == (None, False)
    assert (rows["support"].oldest_wait_s, rows["support"].waits_unknown) == (None, True)
    assert rows["batch"].oldest_wait_s == 0


def test_a_stale_queue_shows_no_wait() -> None:
    (row,) = [
        r
        for r in snapshot({"research": QueueStats(5, 0, stale="gone", oldest_at=NOW - 9)}).pools
        if r.name == "research"
    ]
    assert row.oldest_wait_s is None


def test_a_pool_the_cluster_side_cannot_be_read_for_shows_its_queue_as_read() -> None:
    """An HPA owns the pool's Deployment, so agentdash leaves it alone and has no observation
    of it: its row read LAG 0 beside WAIT 10m, while its queue held 30 tasks (and RATE/s -,
    while they came at 0.5 a second)."""
    queues = {
        "research": QueueStats(30, 4, arrival_rate=0.5, oldest_at=NOW - 600),
        "support": QueueStats(7, 0, oldest_at=NOW - 5, stale="NATS disconnected"),
    }
    rows = {row.name: row for row in snapshot(queues, observed=False).pools}
    assert (rows["research"].pending, rows["research"].ack_pending) == (30, 4)
    assert rows["research"].arrival_rate == 0.5  # RATE/s read "-"
    assert rows["research"].oldest_wait_s == 600
    assert (rows["support"].pending, rows["support"].oldest_wait_s) == (0, None)  # not fresh
