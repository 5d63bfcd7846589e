"""The on-call views, at 80x24 and at 200x60: describe, pod detail (and a pod gone), the
fleet's detail pane, a tenant's pools, the help's every key."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controller.core.model import ClusterEvent, QueueStats
from tests.support.dashboard import down_to
from tests.support.snapshots import AppFactory, pressing

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


def test_describe(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    keys = pressing("down", "down", "i")
    assert snap_compare(make_app(), run_before=keys, terminal_size=size)


@pytest.mark.parametrize("size", [SIZES["80x24"]], ids=["80x24"])
def test_describe_scrolled(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """The end of the page: pins, pauses and the last decisions (at 200x60 it is all in view:
    test_describe)."""
    keys = pressing("down", "down", "i", "end")
    assert snap_compare(make_app(), run_before=keys, terminal_size=size)


def test_pod_detail(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    keys = pressing("p", "down", "enter")
    assert snap_compare(make_app(), run_before=keys, terminal_size=size)


def test_fleet_detail_pane(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """The selected pool's state and why, and its last scale event, in full."""
    keys = ["down", "down", "down"]
    assert snap_compare(make_app(), press=keys, terminal_size=size)


def test_fleet_recent_event_detail(
    snap_compare: Any, make_app: AppFactory, size: tuple[int, int]
) -> None:
    """The recent events' table focused: the selected event with every reason."""
    assert snap_compare(make_app(), press=["tab", "down"], terminal_size=size)


def test_fleet_of_a_tenant(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """Enter on a tenant: the fleet, showing that tenant's pools."""
    assert snap_compare(make_app(), press=["t", "down", "enter"], terminal_size=size)


def test_tenants_pause_dialog(
    snap_compare: Any, make_app: AppFactory, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(), press=["t", "down", "s"], terminal_size=size)


@pytest.mark.parametrize("size", [SIZES["80x24"]], ids=["80x24"])
def test_help_to_the_end(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """The last of the help: the keys of every screen and table (at 200x60 it is all in
    view: test_screens.py's test_help)."""
    keys = ["question_mark", "end"]
    assert snap_compare(make_app(), press=keys, terminal_size=size)


def test_read_only_refusal(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(read_only=True), press=["w"], terminal_size=size)


async def unschedulable(pilot: Any) -> None:
    """The second pod of every pool waits for room, as the API says it, and the scheduler's
    Event says why; then a tick."""
    app = pilot.app
    cluster = app.feed.loop.actuator
    for pods in cluster.pods.values():
        if len(pods) > 1:
            pods[1] = replace(
                pods[1],
                phase="Pending",
                ready=False,
                waiting="Unschedulable",
                waiting_message="0/3 nodes are available: 3 Insufficient cpu.",
            )
    waiting = {pods[1].name for pods in cluster.pods.values() if len(pods) > 1}
    told = cluster.events_of
    failed = ClusterEvent(
        last_seen=app.feed.loop.clock() - 3,
        type="Warning",
        reason="FailedScheduling",
        message="0/3 nodes are available: 3 Insufficient cpu.",
        source="default-scheduler",
        count=4,
    )

    async def events_of(pool: str, pod: str | None = None) -> list[ClusterEvent]:
        return [failed] if pod in waiting else await told(pool, pod)

    cluster.events_of = events_of
    await app.feed.loop.tick()
    app.refresh_feed()


@pytest.mark.parametrize("size", [SIZES["80x24"]], ids=["80x24"])
def test_pods_waiting(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """A pod that cannot run shows why in PHASE, as k9s's STATUS does."""
    assert snap_compare(make_app(), press=["p"], run_before=unschedulable, terminal_size=size)


def test_pod_detail_waiting(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """And its detail says why, in the API's words."""
    keys = pressing("p", "down", "enter", first=unschedulable)
    assert snap_compare(make_app(), run_before=keys, terminal_size=size)


async def gone_an_hour(pilot: Any) -> None:
    """Every queue empties, the pools scale to nothing, and an hour goes by."""
    app = pilot.app
    loop = app.feed.loop
    loop.lag.lag = {pool: QueueStats(0, 0) for pool in app.feed.config.pools}
    loop.clock.now += 600  # past every window
    for _ in range(3):
        await loop.tick()
        loop.clock.now += 60
    app.refresh_feed()
    loop.clock.now += 3600
    await loop.tick()
    app.refresh_feed()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [SIZES["80x24"]], ids=["80x24"])
def test_pod_detail_gone(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """A pod that went away stays on its page, marked gone, its age where it was last seen."""
    keys = pressing(*down_to("globex-triage"), "p", "enter")

    async def before(pilot: Any) -> None:
        await keys(pilot)
        await gone_an_hour(pilot)

    assert snap_compare(make_app(), run_before=before, terminal_size=size)
