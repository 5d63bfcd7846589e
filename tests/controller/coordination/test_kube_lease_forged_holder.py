"""A Kubernetes Lease whose holderIdentity is no holder's name (forged over HTTP, as another
program with the rights could write it) is still held: a standby does not take it before its
duration has passed without a renewal, and takes it after; a reader names no leader meanwhile.
The value is said once, in one line naming the field and what was expected, and each read
that finds it is counted in `agentdash_bad_messages_total{source="lease"}`. Only a missing,
null or empty holderIdentity leaves the Lease free."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import FakeClock
from tests.support.kmock import Emulator
from tests.support.kube_lease import MakeLease, forge, refused, stored

UNNAMED = [
    5,
    {"a": 1},
    [],
    True,
    "x" * 10_000,
    "pod-a\x1b]0;pwned\x07",  # sets a terminal's title
    "pod-a\u202egnp.exe",  # reads backwards
    "pod-a\\x1b",
    "pod a",
]
"""holderIdentity values that name no holder agentdash could be."""
FIELD_LINE = "spec.holderIdentity is"


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if FIELD_LINE in r.getMessage()]


async def forged(cluster: Emulator, make_lease: MakeLease, value: Any) -> None:
    """pod-a takes the Lease at 20 s, then its holderIdentity is overwritten with `value`."""
    assert await make_lease("pod-a", ttl=20).renew()
    await forge(cluster, value, field="holderIdentity")


@pytest.mark.parametrize("value", UNNAMED, ids=lambda v: repr(v)[:20])
async def test_a_standby_takes_a_lease_held_by_a_holder_it_cannot_name_only_once_it_expired(
    cluster: Emulator,
    make_lease: MakeLease,
    monotonic: FakeClock,
    caplog: pytest.LogCaptureFixture,
    value: Any,
) -> None:
    await forged(cluster, make_lease, value)
    standby = make_lease("pod-b", ttl=10)
    assert not await standby.renew()
    assert standby.leader_name is None  # a name no holder has is not shown as the leader
    monotonic.advance(10)  # the standby's own TTL: not the Lease's
    assert not await standby.renew()
    monotonic.advance(9.5)
    assert not await standby.renew()
    assert stored(cluster)["holderIdentity"] == value

    monotonic.advance(0.5)  # 20 s since the forged version was first seen
    assert await standby.renew()
    assert stored(cluster)["holderIdentity"] == "pod-b"
    assert stored(cluster)["leaseTransitions"] == 1
    assert refused(standby) == "4.0"  # every read that found it
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
    shown = shown.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace("\u202e", "\\u202e")
    assert said(caplog) == [
        f"Lease agentdash/agentdash-leader: spec.holderIdentity is {shown}, expected a holder's"
        " name matching [A-Za-z0-9._:@-]{1,253}, or none; held by a holder this process"
        " cannot name until its lease runs out"
    ]
    assert all("\x1b" not in r.getMessage() for r in caplog.records)


async def test_a_forger_that_keeps_renewing_keeps_the_lease_and_is_said_once_a_value(
    cluster: Emulator,
    make_lease: MakeLease,
    monotonic: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each write is a new version, a renewal as any holder's: the Lease stays held."""
    await forged(cluster, make_lease, 5)
    standby = make_lease("pod-b", ttl=10)
    dashboard = make_lease("dashboard", ttl=10, contend=False)
    for second, value in enumerate([5, 5, 5, {"a": 1}, {"a": 1}, 5]):
        await forge(cluster, value, field="holderIdentity")
        await forge(cluster, f"2026-11-29T08:00:{second:02}.000000Z", field="renewTime")
        assert not await standby.renew()
        assert not await dashboard.renew()
        assert dashboard.leader_name is None
        monotonic.advance(15)
    shown = [line.split(" is ", 1)[1].split(", expected")[0] for line in said(caplog)]
    assert shown == ["5", "5", "{'a': 1}", "{'a': 1}", "5", "5"]  # the standby's, the dashboard's
    assert (refused(standby), refused(dashboard)) == ("6.0", "6.0")
    assert stored(cluster)["holderIdentity"] == 5


@pytest.mark.parametrize("value", ["", None], ids=["empty", "null"])
async def test_a_lease_whose_holder_is_empty_or_null_is_free_at_once(
    cluster: Emulator,
    make_lease: MakeLease,
    caplog: pytest.LogCaptureFixture,
    value: Any,
) -> None:
    """As a release writes it."""
    await forged(cluster, make_lease, value)
    standby = make_lease("pod-b", ttl=10)
    assert await standby.renew()
    assert stored(cluster)["holderIdentity"] == "pod-b"
    assert refused(standby) == "0.0"
    assert said(caplog) == []


def test_a_process_cannot_take_the_lease_under_a_name_no_holder_has(
    make_lease: MakeLease,
) -> None:
    """Others would take its Lease for one they cannot name."""
    with pytest.raises(ValueError, match="expected a holder's name"):
        make_lease("pod b")
