"""A process that does not hold the Kubernetes Lease judges its holder by the Lease's own
`leaseDurationSeconds`, the holder's TTL, not by its own `--lease-ttl`: a dashboard beside a
leader at another TTL says who leads for exactly as long as that leader's lease holds. A value
that is no TTL (forged, or written by another program) is refused in a warning and counted
in `agentdash_bad_messages_total{source="lease"}`, and the reader's own TTL stands in for
it. An answer without a resourceVersion is refused and counted there too."""

from __future__ import annotations

from typing import Any

import pytest

from controller.coordination.kube_lease import KubernetesLease
from controller.core.events import EventBus
from controller.runtime.health import SourceHealth
from controller.runtime.leadership import LeaseTeller
from tests.support import FakeClock
from tests.support.kmock import LEASES, Emulator, refuse
from tests.support.kube_lease import LEASE_PATH, MakeLease, forge, refused, stored

FORGED = [0, -5, 10**9, "60", 2.5, None]
"""leaseDurationSeconds no holder's TTL can be (None: the field is missing)."""


async def lead(make_lease: MakeLease, ttl: float) -> KubernetesLease:
    leader = make_lease("pod-a", ttl=ttl)
    assert await leader.renew()
    return leader


@pytest.mark.parametrize("api", ["answers", "away"])
async def test_a_reader_at_15_s_keeps_a_leader_at_60_s_for_its_whole_lease(
    cluster: Emulator, make_lease: MakeLease, monotonic: FakeClock, api: str
) -> None:
    """The leader renews once and dies (or the API server goes away): no one can take its
    Lease for 60 s, so the dashboard names it until then, and no longer."""
    await lead(make_lease, ttl=60)
    dashboard = make_lease("dashboard", ttl=15, contend=False)
    assert not await dashboard.renew()
    assert (dashboard.ttl, dashboard.holder_ttl) == (15, 60)
    if api == "away":
        cluster.faults.append(refuse("GET", LEASE_PATH, 503, "the API server is restarting"))

    for _ in range(5):  # 50 s: more than three of the dashboard's own TTLs
        monotonic.advance(10)
        assert not await dashboard.renew()
        assert dashboard.leader_name == "pod-a"
    monotonic.advance(9.5)
    assert dashboard.leader_name == "pod-a"
    monotonic.advance(0.5)
    assert not await dashboard.renew()
    assert dashboard.leader_name is None
    assert refused(dashboard) == "0.0"


async def test_a_reader_at_60_s_lets_a_leader_at_10_s_go_10_s_after_its_last_renewal(
    make_lease: MakeLease, monotonic: FakeClock
) -> None:
    leader = await lead(make_lease, ttl=10)
    dashboard = make_lease("dashboard", ttl=60, contend=False)
    for _ in range(6):  # a leader that renews stays named, renewal after renewal
        assert await leader.renew()
        assert not await dashboard.renew()
        assert dashboard.leader_name == "pod-a"
        assert dashboard.holder_ttl == 10  # what it reads within (controller.runtime.loop)
        monotonic.advance(5)

    # The leader dies without releasing the Lease; the API server answers every read.
    monotonic.advance(4.5)
    assert not await dashboard.renew()
    assert dashboard.leader_name == "pod-a"
    monotonic.advance(0.5)
    assert not await dashboard.renew()
    assert dashboard.leader_name is None
    monotonic.advance(60)
    assert not await dashboard.renew()
    assert dashboard.leader_name is None


async def test_a_reader_names_the_next_leader_as_soon_as_it_takes_over(
    make_lease: MakeLease, monotonic: FakeClock
) -> None:
    await lead(make_lease, ttl=10)
    standby = make_lease("pod-b", ttl=10)
    dashboard = make_lease("dashboard", ttl=60, contend=False)
    assert not await standby.renew()
    assert not await dashboard.renew()
    monotonic.advance(10)
    assert not await dashboard.renew()
    assert dashboard.leader_name is None  # pod-a's lease ran out
    assert await standby.renew()
    assert not await dashboard.renew()
    assert dashboard.leader_name == "pod-b"


@pytest.mark.parametrize("value", FORGED, ids=repr)
async def test_a_reader_judges_a_lease_whose_duration_is_no_ttl_by_its_own(
    cluster: Emulator,
    make_lease: MakeLease,
    monotonic: FakeClock,
    caplog: pytest.LogCaptureFixture,
    value: Any,
) -> None:
    await lead(make_lease, ttl=10)
    await forge(cluster, value)
    dashboard = make_lease("dashboard", ttl=15, contend=False)

    for _ in range(3):
        assert not await dashboard.renew()
        assert dashboard.leader_name == "pod-a"
        monotonic.advance(4.5)
    assert not await dashboard.renew()
    assert dashboard.leader_name == "pod-a"  # 13.5 s: within the dashboard's 15
    monotonic.advance(1.5)
    assert not await dashboard.renew()
    assert dashboard.leader_name is None

    said = [r.getMessage() for r in caplog.records if "leaseDurationSeconds is" in r.getMessage()]
    assert said == [
        f"Lease agentdash/agentdash-leader: spec.leaseDurationSeconds is {value!r}, expected"
        " whole seconds from 1 to 3600; pod-a's lease is judged by this process's"
        " --lease-ttl (15 s)"
    ]
    assert refused(dashboard) == "5.0"  # every read: while it stays forged, the count grows
    assert dashboard.holder_ttl == 15


@pytest.mark.parametrize("value", FORGED, ids=repr)
async def test_a_contender_takes_over_a_lease_whose_duration_is_no_ttl_after_its_own(
    cluster: Emulator, make_lease: MakeLease, monotonic: FakeClock, value: Any
) -> None:
    """A billion seconds would have kept every daemon waiting for 31 years after the leader
    died."""
    await lead(make_lease, ttl=10)
    await forge(cluster, value)
    standby = make_lease("pod-b", ttl=10)
    assert not await standby.renew()
    monotonic.advance(9.5)
    assert not await standby.renew()
    assert standby.leader_name == "pod-a"
    monotonic.advance(0.5)
    assert await standby.renew()
    assert stored(cluster)["leaseDurationSeconds"] == 10


async def test_an_answer_without_a_resource_version_is_refused_and_counted(
    cluster: Emulator, make_lease: MakeLease, caplog: pytest.LogCaptureFixture
) -> None:
    """No write can be fenced without the version it names: the contender does not take
    the Lease, says why, and counts it."""
    cluster.objects[LEASES, "agentdash", "agentdash-leader"] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "agentdash-leader", "namespace": "agentdash"},
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 10},
    }
    standby = make_lease("pod-b", ttl=10)
    assert not await standby.renew()
    assert not await standby.renew()
    assert refused(standby) == "2.0"
    said = [r.getMessage() for r in caplog.records if "resourceVersion" in r.getMessage()]
    assert said == ["Lease agentdash/agentdash-leader: the API's answer has no resourceVersion"] * 2


@pytest.mark.parametrize(
    ("own_ttl", "holder_ttl", "every", "first_unready"),
    [
        (60, 5, 1, 10),  # named until its read at 4 s: unready once 5 s more have passed
        (5, 60, 4, 120),  # named until its read at 56 s: ready for 60 s more, not 5
    ],
)
async def test_a_reader_reports_no_valid_leader_by_the_holders_ttl_not_its_own(
    make_lease: MakeLease,
    monotonic: FakeClock,
    own_ttl: float,
    holder_ttl: float,
    every: float,
    first_unready: int,
) -> None:
    """The leader renews once and dies; the reader reads the Lease `every` seconds, and
    /healthz is not ready once no valid leader has held it for longer than the holder's
    TTL (a standby at that TTL reads it within that TTL, and takes over), not its own."""
    await lead(make_lease, ttl=holder_ttl)
    dashboard = make_lease("dashboard", ttl=own_ttl, contend=False)
    bus = EventBus()
    health = SourceHealth(bus)
    teller = LeaseTeller(dashboard, health, bus, monotonic)
    start = monotonic.now
    while "lease" not in health.problems:
        assert monotonic.now - start < 200
        assert not await dashboard.renew()
        teller.renewed(False, False, dashboard.leader_name, monotonic())
        monotonic.advance(every)
    assert monotonic.now - every - start == first_unready
    assert health.problems == {
        "lease": f"no valid leader for more than the lease's TTL ({holder_ttl:g} s)"
    }
