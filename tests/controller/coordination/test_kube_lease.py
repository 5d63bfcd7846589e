"""KubernetesLease: one leader among contenders, on a coordination.k8s.io/v1 Lease served over
HTTP; a leader that stops renewing is replaced after the duration, a race is settled by the
resourceVersion (409), and a release hands over at once."""

from __future__ import annotations

import asyncio
import math

import pytest
from kmock import Request

from tests.support import FakeClock
from tests.support.kmock import LEASES, Emulator, hang, nowhere, refuse
from tests.support.kube_lease import LEASE_PATH, MARGIN, TTL, MakeLease, stored


async def test_of_two_contenders_only_one_leads(cluster: Emulator, make_lease: MakeLease) -> None:
    a, b = make_lease("pod-a"), make_lease("pod-b")

    for _ in range(3):
        assert await a.renew()
        assert not await b.renew()

    assert (a.leader_name, b.leader_name) == ("pod-a", "pod-a")
    spec = stored(cluster)
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("pod-a", 10)
    assert spec["renewTime"].endswith("Z")  # MicroTime, as `kubectl get lease` shows it
    assert b.valid_until == -math.inf


async def test_a_leader_that_stops_renewing_is_replaced_after_the_duration_not_before(
    cluster: Emulator, make_lease: MakeLease, monotonic: FakeClock
) -> None:
    a, b = make_lease("pod-a"), make_lease("pod-b")
    assert await a.renew()
    last_renewal = monotonic.now
    assert a.valid_until == last_renewal + TTL - MARGIN
    assert a.leading
    assert not await b.renew()  # b sees a's last version now, and times it from here

    # a dies without a word. Until its lease has run out, b keeps away...
    monotonic.advance(TTL - 0.5)
    assert not await b.renew()
    assert monotonic.now > a.valid_until  # ...beyond what a counted on.
    assert not a.leading  # which a knows without asking the API
    monotonic.advance(0.5)
    assert await b.renew()

    assert stored(cluster)["holderIdentity"] == "pod-b"
    assert stored(cluster)["leaseTransitions"] == 1
    # Were a only stalled, its next renewal finds it has lost, and who leads.
    assert not await a.renew()
    assert a.valid_until == -math.inf
    assert not await a.renew()
    assert a.leader_name == "pod-b"


async def test_a_leader_that_keeps_renewing_is_never_replaced(
    make_lease: MakeLease, monotonic: FakeClock
) -> None:
    a, b = make_lease("pod-a"), make_lease("pod-b")
    for _ in range(5):
        assert await a.renew()
        assert not await b.renew()
        monotonic.advance(TTL / 2)


async def test_of_two_contenders_racing_for_a_free_lease_one_wins_and_one_gets_409(
    cluster: Emulator, make_lease: MakeLease
) -> None:
    first = make_lease("pod-0")
    assert await first.renew()
    await first.release()
    arrived: list[Request] = []
    both = asyncio.Event()

    async def together(request: Request) -> None:
        """Hold each write until both contenders have sent theirs: both read the same
        version, and the API server must choose."""
        if request.method == "PATCH" and request.url.path == LEASE_PATH:
            arrived.append(request)
            if len(arrived) == 2:
                both.set()
            await both.wait()

    cluster.faults.append(together)
    a, b = make_lease("pod-a"), make_lease("pod-b")

    won = await asyncio.gather(a.renew(), b.renew())

    assert len(arrived) == 2  # both wrote, naming the same version
    assert sorted(won) == [False, True]
    winner, loser = (a, b) if won[0] else (b, a)
    assert stored(cluster)["holderIdentity"] == winner.holder
    assert loser.valid_until == -math.inf
    assert not await loser.renew()
    assert loser.leader_name == winner.holder


async def test_a_thawed_leader_whose_reads_are_cut_says_it_lost_once_and_writes_no_more(
    cluster: Emulator,
    make_lease: MakeLease,
    monotonic: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Thawed after a freeze past its lease, a's write is refused (409), and it reads who
    leads now; the loop cuts that read by its deadline (a slow API server). It kept its old
    version: each renewal wrote with it again, was refused again, and said 'another process
    wrote it first' again, for as long as the reads were cut."""
    a, b = make_lease("pod-a"), make_lease("pod-b")
    assert await a.renew()
    assert not await b.renew()
    monotonic.advance(TTL)  # a frozen past its lease: b takes it
    assert await b.renew()
    writes: list[Request] = []

    async def count_writes(request: Request) -> None:
        if request.method == "PATCH" and request.url.path == LEASE_PATH:
            writes.append(request)

    cluster.faults.extend([count_writes, hang("GET", LEASE_PATH)])
    caplog.set_level("INFO", logger="agentdash")
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(a.renew(), 0.5)  # as the loop cuts a renewal
        monotonic.advance(1.0)

    assert not a.leading
    assert len(writes) == 1
    said = [r for r in caplog.records if "another process wrote it first" in r.getMessage()]
    assert len(said) == 1
    assert stored(cluster)["holderIdentity"] == "pod-b"


async def test_release_hands_the_lease_over_at_once(
    cluster: Emulator, make_lease: MakeLease
) -> None:
    a, b = make_lease("pod-a"), make_lease("pod-b")
    assert await a.renew()
    assert not await b.renew()

    await a.release()

    assert "holderIdentity" not in stored(cluster)
    assert a.valid_until == -math.inf
    assert await b.renew()  # no wait for the duration
    assert not await a.renew()
    assert a.leader_name == "pod-b"


async def test_a_process_that_must_never_lead_only_reads_who_does(
    cluster: Emulator, make_lease: MakeLease, monotonic: FakeClock
) -> None:
    def writes() -> list[object]:
        return [r.data["spec"].get("holderIdentity") for r in cluster if r.method != "GET"]

    watcher = make_lease("dashboard", contend=False)
    assert not await watcher.renew()  # no Lease yet: none is made
    assert writes() == []
    a = make_lease("pod-a")
    assert await a.renew()
    await a.release()
    monotonic.advance(TTL * 2)  # free, and long expired

    assert not await watcher.renew()
    assert not await watcher.renew()

    assert watcher.valid_until == -math.inf
    assert writes() == ["pod-a", None]  # a's create and release: none of the watcher's
    assert await a.renew()
    assert not await watcher.renew()
    assert watcher.leader_name == "pod-a"


async def test_an_unreachable_api_makes_a_follower_not_a_crash(make_lease: MakeLease) -> None:
    lease = make_lease("pod-a", host=nowhere())

    assert not await lease.renew()
    assert lease.valid_until == -math.inf
    await lease.release()  # nothing to release, and no error


async def test_a_follower_cut_off_from_the_api_names_no_leader_after_the_duration(
    cluster: Emulator, make_lease: MakeLease, monotonic: FakeClock
) -> None:
    """The API away: the leader it last saw may have lost the Lease since; after a duration
    without an answer, who leads is not known (its /healthz then says candidate)."""
    a = make_lease("pod-a")
    assert await a.renew()
    b = make_lease("pod-b")
    assert not await b.renew()
    assert b.leader_name == "pod-a"
    cluster.faults.append(refuse("GET", LEASE_PATH, 503, "the API server is restarting"))
    monotonic.advance(TTL - 1)
    assert not await b.renew()
    assert b.leader_name == "pod-a"  # within the duration the last name seen stands
    monotonic.advance(2)
    assert not await b.renew()
    assert b.leader_name is None


async def test_a_follower_whose_reads_hang_and_are_cut_names_no_leader_after_the_duration(
    cluster: Emulator, make_lease: MakeLease, monotonic: FakeClock
) -> None:
    """The API server hangs (SIGSTOP on a real kube-apiserver): the follower's read of the
    Lease never answers, and the loop cuts each renewal by its own deadline (a cancel, not an
    ApiFailure). After a duration without an answer it names no leader all the same: the old
    leader named itself candidate, and the follower went on saying `follower` with /healthz
    200 for the whole 60 s the server hung."""
    a = make_lease("pod-a")
    assert await a.renew()
    b = make_lease("pod-b")
    assert not await b.renew()
    assert b.leader_name == "pod-a"
    cluster.faults.append(hang("GET", LEASE_PATH))
    for _ in range(3):
        monotonic.advance(TTL / 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.renew(), 0.2)  # as the loop cuts a renewal
    assert b.leader_name is None
    assert not b.leading


async def test_a_lease_the_role_does_not_grant_is_said_once_in_the_servers_words(
    cluster: Emulator, make_lease: MakeLease, caplog: pytest.LogCaptureFixture
) -> None:
    """`kubernetes: {lease: ...}` set, and the Role of the Lease's namespace not applied: the
    daemon never leads, and its log must say why, not only that no one leads."""
    no_lease = (
        'leases.coordination.k8s.io "agentdash-leader" is forbidden: User '
        '"system:serviceaccount:agentdash:agentdash" cannot get resource "leases" in API group '
        '"coordination.k8s.io" in the namespace "agentdash"'
    )
    refusal = refuse("GET", LEASE_PATH, 403, no_lease)
    cluster.faults.append(refusal)
    lease = make_lease("pod-a")

    for _ in range(3):  # tick after tick
        assert not await lease.renew()

    said = [r.getMessage() for r in caplog.records if no_lease in r.getMessage()]
    assert len(said) == 1, said
    assert "agentdash rbac" in said[0]
    cluster.faults.remove(refusal)  # the operator applied `agentdash rbac`
    assert await lease.renew()


@pytest.mark.parametrize("status", [200, 409])
async def test_an_answer_nested_deeper_than_json_follows_is_a_failure_not_a_crash(
    cluster: Emulator, make_lease: MakeLease, status: int
) -> None:
    """1,000 "[" from the API server (or a proxy before it), as the Lease or as an error's
    body: RecursionError came out of renew(), which never raises for the API's trouble."""
    a, b = make_lease("pod-a"), make_lease("pod-b")
    assert await a.renew()
    cluster[cluster.action.FETCH, cluster.resource(LEASES)] << status << b"[" * 1000
    assert not await b.renew()
    assert b.leader_name is None
