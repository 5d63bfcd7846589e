"""The cluster's Events at the foot of describe and of a pod's page (k9s's drill-down): what
the Deployment controller, the scheduler and the kubelet said, newest first, read again while
the page is open, and a read the API refuses said in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdash.tui import cluster_events
from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import InstantCluster
from controller.core.model import ClusterEvent, SourceError
from tests.support import eventually
from tests.support.dashboard import HOSTILE, HOSTILE_SHOWN, make, screen_lines

WIDE = (120, 50)


def screen_text(app: AgentDashApp) -> str:
    return "\n".join(screen_lines(app))


async def test_describe_ends_with_the_deployments_events_newest_first(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("i", "end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
    assert "Events, newest first" in text
    up_to_5 = text.index("Scaled up replica set acme-research to 5")
    up_to_2 = text.index("Scaled up replica set acme-research to 2")
    assert up_to_5 < up_to_2
    assert "ScalingReplicaSet  28s  deployment-controller" in text


async def test_a_pods_page_says_why_it_waits_in_the_schedulers_words(tmp_path: Path) -> None:
    app = await make(tmp_path)
    cluster = app.feed.loop.actuator
    assert isinstance(cluster, InstantCluster)
    now = app.feed.loop.clock()
    failed = ClusterEvent(
        last_seen=now - 5,
        type="Warning",
        reason="FailedScheduling",
        message="0/3 nodes are available: 3 Insufficient cpu.",
        source="default-scheduler",
        count=7,
    )
    asked: list[tuple[str, str | None]] = []

    async def events_of(pool: str, pod: str | None = None) -> list[ClusterEvent]:
        asked.append((pool, pod))
        return [failed]

    cluster.events_of = events_of  # type: ignore[method-assign]
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("p", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
    assert asked == [("acme-research", "acme-research-00020")]
    assert "Warning  FailedScheduling  5s (x7)  default-scheduler  0/3 nodes are available" in text


async def test_a_refused_read_is_one_line_and_the_next_read_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator whose account may not list Events sees why, once; the page goes on, and
    reads again while it is open."""
    monkeypatch.setattr(cluster_events, "EVERY_S", 0.05)
    app = await make(tmp_path)
    cluster = app.feed.loop.actuator
    assert isinstance(cluster, InstantCluster)
    read = cluster.events_of
    allowed = False

    async def events_of(pool: str, pod: str | None = None) -> list[ClusterEvent]:
        if not allowed:
            raise SourceError(f"list the Events of Deployment agents/acme-research: 403 {HOSTILE}")
        return await read(pool, pod)

    cluster.events_of = events_of  # type: ignore[method-assign]
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("i", "end")
        await eventually(lambda: f"403 {HOSTILE_SHOWN[:40]}" in screen_text(app))
        assert "Describe pool acme-research" in screen_text(app)
        allowed = True  # the account is granted `list events`

        async def read_again() -> bool:
            await pilot.press("end")
            return "ScalingReplicaSet" in screen_text(app)

        await eventually(read_again)
        assert "403" not in screen_text(app)
