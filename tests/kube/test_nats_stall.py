"""A nats-server stalled (SIGSTOP: its connections open, nothing answers) under a daemon that
leads on the Kubernetes Lease, then let go on (SIGCONT). The queues cannot be read, so the
pool is held; the Lease is the API server's, which still answers, so the daemon leads on
throughout."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from agentdash.nats_server import NatsServer
from tests.kube.conftest import Leading
from tests.support import eventually
from tests.support.daemon import Daemon
from tests.support.kube_cluster import AgentdashCluster
from tests.support.processes import stalled


def said(daemon: Daemon, about: str, level: str = "warning") -> list[str]:
    """The log lines of this level the daemon wrote so far that mention `about`."""
    lines: list[dict[str, Any]] = daemon.read()
    return [
        line["message"]
        for line in lines
        if line.get("level") == level and about in line.get("message", "")
    ]


async def test_a_handover_nats_does_not_answer_is_a_warning_that_says_why(
    kube: AgentdashCluster, leading: Leading, nats_server: NatsServer
) -> None:
    daemon = (await leading("unsaved", 3)).daemon
    with stalled(nats_server):
        await eventually(lambda: bool(said(daemon, "not saved to")), timeout=30, every=0.1)
        assert kube.replicas("unsaved") == 3  # held: the queue cannot be read
    await eventually(
        lambda: bool(said(daemon, "saved to agentdash_history again", "info")),
        timeout=30,
        every=0.1,
    )
    failed = said(daemon, "not saved to")
    # It said "history not saved to agentdash_history: " and no more: a timeout's text is empty.
    assert all(line.endswith(": no answer within 2 s") for line in failed), failed
    assert daemon.stop() == 0


STALL_S = 40.0
"""Long enough for the loop's backoff to reach its 8 s (1, 2, 4, 8 s after ticks that each
wait 2 s for NATS)."""


async def test_a_leader_keeps_renewing_its_lease_while_nats_stalls(
    kube: AgentdashCluster, leading: Leading, nats_server: NatsServer
) -> None:
    daemon = (await leading("renewed", 3)).daemon
    lapsed: list[str] = []  # renewTimes the Lease still had a duration after them: free to take
    leaderless: list[dict[str, Any]] = []  # /healthz: leading, but on a lease run out
    with stalled(nats_server):
        stall_ends = time.monotonic() + STALL_S
        while time.monotonic() < stall_ends:  # the fault itself: NATS stays stalled this long
            asked = time.time()  # before the read: the Lease read is as new as this, or newer
            lease = kube.lease()
            assert lease is not None
            renewed = datetime.fromisoformat(lease["spec"]["renewTime"]).timestamp()
            if renewed + lease["spec"]["leaseDurationSeconds"] < asked:
                lapsed.append(lease["spec"]["renewTime"])
            health = await daemon.health()
            if health is not None and health["role"] == "leader" and health["leader"] is None:
                leaderless.append(health)
            assert lease["spec"]["holderIdentity"] == daemon.read()[0]["holder"]
            await asyncio.sleep(0.25)
        assert kube.replicas("renewed") == 3  # held: the queue cannot be read
    # Renewed at its ticks alone, it was renewed 12 s apart: the backoff's 8 s after a tick
    # that waits 4 s for NATS, past the Lease's 10 s. Another daemon could take it meanwhile,
    # and this one would say it led on a lease it no longer held.
    assert not lapsed, lapsed
    assert not leaderless, leaderless
    assert daemon.stop() == 0


async def test_a_leader_finds_nats_back_after_a_stall_ends(
    kube: AgentdashCluster, leading: Leading, nats_server: NatsServer
) -> None:
    """Found back at NATS's first answer, not at the end of the backoff (8 s at its most):
    that it is asked is tests/agentdash/test_stalled_nats.py's, without a clock."""
    daemon = (await leading("resumed", 3)).daemon
    with stalled(nats_server):
        failed = await daemon.wait_health(lambda h: h["status"] == 503, timeout=30)
        # Failed ticks wait 1, 2, 4, then 8 s: after the fourth, the backoff is at its most.
        await daemon.wait_health(lambda h: h["ticks"] >= failed["ticks"] + 3, timeout=60)
    await daemon.wait_health(lambda h: h["status"] == 200, timeout=30)  # a hang's bound
    assert kube.replicas("resumed") == 3
    assert daemon.stop() == 0
