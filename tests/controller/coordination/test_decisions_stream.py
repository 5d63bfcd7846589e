"""The leader's decisions reach followers at any fleet size, through a real nats-server: only
what changed each tick, in chunks under the server's max_payload, and the whole view every
30 s or when a follower asks. A follower that misses a part keeps its last whole view, asks,
and is back in step with the next full view: it never shows a delta applied to the wrong
base."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.aio.client import Client

from controller.coordination.leader_decisions import (
    DECISIONS_SUBJECT,
    FULL_EVERY_S,
    REQUEST,
    DecisionsEncoder,
    follow_decisions,
)
from controller.core.bad_messages import BadMessages
from controller.core.model import Overrides, PoolObservation, Reason, ScaleDecision
from controller.core.pool_state import state_of
from tests.support import eventually
from tests.support.records import replaced

T0 = 1_000_000.0


def fleet(n: int, desired: int = 2) -> list[ScaleDecision]:
    """n pools' decisions, each with reasons as long as the policy's own."""
    reasons = (
        Reason(rule="demand", template=f"lag 12 over target 4 a replica: {desired} replicas"),
        Reason(rule="scale-up limit", template="at most 4 pods every 10 s"),
    )
    return [
        ScaleDecision(
            pool=f"tenant-{i % 50}-pool-{i}",
            tenant=f"tenant-{i % 50}",
            current=1,
            desired=desired,
            reasons=reasons,
            recommendation=desired,
        )
        for i in range(n)
    ]


@dataclass
class Follower:
    """What a dashboard's follow_decisions hands to the screen, and the requests seen."""

    views: list[tuple[str, dict[str, ScaleDecision], dict[str, int]]] = field(default_factory=list)
    requests: int = 0
    bad: BadMessages = field(default_factory=BadMessages)

    def said(self, leader: str, decisions: list[ScaleDecision], ready: dict[str, int]) -> None:
        self.views.append((leader, {d.pool: d for d in decisions}, ready))

    def asked(self) -> None:
        self.requests += 1

    @property
    def last(self) -> dict[str, ScaleDecision]:
        return self.views[-1][1]


async def follow(nc: Client) -> Follower:
    follower = Follower()
    await follow_decisions(nc, follower.said, bad=follower.bad, on_request=follower.asked)
    await nc.flush()
    return follower


async def send(nc: Client, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        await nc.publish(DECISIONS_SUBJECT, chunk)
    await nc.flush()


async def test_5000_pools_reach_a_follower_in_chunks_under_max_payload(nc: Client) -> None:
    decisions = fleet(5000)
    ready = {d.pool: 1 for d in decisions}
    follower = await follow(nc)
    leader = DecisionsEncoder("leader-1")

    chunks = leader.messages(T0, decisions, ready, nc.max_payload)
    await send(nc, chunks)

    await eventually(lambda: bool(follower.views))
    name, view, seen = follower.views[-1]
    assert name == "leader-1"
    assert view == {d.pool: d for d in decisions}
    assert seen == ready
    assert len(chunks) > 1
    assert all(len(chunk) <= nc.max_payload // 4 + 1024 for chunk in chunks)
    # One document would not pass: the server refuses a message over max_payload.
    assert sum(len(chunk) for chunk in chunks) > nc.max_payload // 4


async def test_a_tick_sends_only_what_changed_and_the_follower_applies_it(nc: Client) -> None:
    decisions = fleet(1000)
    follower = await follow(nc)
    leader = DecisionsEncoder("leader-1")
    await send(nc, leader.messages(T0, decisions, {}, nc.max_payload))
    await eventually(lambda: len(follower.views) == 1)

    changed = [replaced(decisions[7], desired=5), replaced(decisions[900], held=True)]
    now = [changed[0] if d.pool == changed[0].pool else d for d in decisions[:-1]]
    now = [changed[1] if d.pool == changed[1].pool else d for d in now]  # the last pool is gone
    chunks = leader.messages(T0 + 1, now, {decisions[3].pool: 4}, nc.max_payload)
    await send(nc, chunks)

    await eventually(lambda: len(follower.views) == 2)
    assert follower.last == {d.pool: d for d in now}
    assert follower.views[-1][2] == {decisions[3].pool: 4}
    (delta,) = chunks
    assert len(delta) < 1000  # three rows and a name, not the 1,000 pools again
    assert len(json.loads(delta)["r"]) == 3
    assert json.loads(delta)["g"] == [decisions[-1].pool]

    unchanged = leader.messages(T0 + 2, now, {decisions[3].pool: 4}, nc.max_payload)
    assert [json.loads(chunk)["r"] for chunk in unchanged] == [[]]  # a tick with no news


async def test_a_lost_delta_leaves_the_last_whole_view_until_the_full_one_it_asks_for(
    nc: Client,
) -> None:
    decisions = fleet(100)
    follower = await follow(nc)
    leader = DecisionsEncoder("leader-1")
    await eventually(lambda: follower.requests == 1)  # a new follower asks for the full view
    await send(nc, leader.messages(T0, decisions, {}, nc.max_payload))
    await eventually(lambda: len(follower.views) == 1)

    first = [replaced(decisions[0], desired=7), *decisions[1:]]
    lost = leader.messages(T0 + 1, first, {}, nc.max_payload)  # never reaches anyone
    assert lost
    second = [first[0], replaced(first[1], desired=9), *first[2:]]
    await send(nc, leader.messages(T0 + 2, second, {}, nc.max_payload))

    await eventually(lambda: follower.requests == 2)  # it saw the gap, and asked
    assert len(follower.views) == 1  # the second delta alone would show pool 0 at 2, not 7
    assert follower.last == {d.pool: d for d in decisions}
    await send(nc, leader.messages(T0 + 3, second, {}, nc.max_payload))  # still out of step
    leader.want_full()  # what the leader does on a request
    await send(nc, leader.messages(T0 + 4, second, {}, nc.max_payload))

    await eventually(lambda: len(follower.views) == 2)
    assert follower.last == {d.pool: d for d in second}
    assert follower.requests == 2  # asked once for the one gap


async def test_a_lost_chunk_is_a_gap_too(nc: Client) -> None:
    decisions = fleet(5000)
    follower = await follow(nc)
    leader = DecisionsEncoder("leader-1")
    await send(nc, leader.messages(T0, decisions, {}, nc.max_payload))
    await eventually(lambda: len(follower.views) == 1)

    later = fleet(5000, desired=3)  # every pool changes: a delta of several chunks
    chunks = leader.messages(T0 + 1, later, {}, nc.max_payload)
    assert len(chunks) > 2
    await send(nc, chunks[:1] + chunks[2:])  # the second chunk is lost
    await send(nc, leader.messages(T0 + 2, later, {}, nc.max_payload))
    await eventually(lambda: follower.requests == 2)  # at start, and for the lost chunk
    assert len(follower.views) == 1  # nothing shown from a part of a message
    assert follower.last == {d.pool: d for d in decisions}

    await send(nc, leader.messages(T0 + FULL_EVERY_S, later, {}, nc.max_payload))  # 30 s on
    await eventually(lambda: len(follower.views) == 2)
    assert follower.last == {d.pool: d for d in later}


async def test_a_new_leader_starts_with_a_full_view_and_a_restart_is_told_apart(
    nc: Client,
) -> None:
    decisions = fleet(20)
    follower = await follow(nc)
    old = DecisionsEncoder("leader-1")
    await send(nc, old.messages(T0, decisions, {}, nc.max_payload))
    await eventually(lambda: len(follower.views) == 1)

    # The same name after a restart: its sequence starts again, at a new epoch.
    restarted = DecisionsEncoder("leader-1")
    changed = [replaced(decisions[0], desired=8), *decisions[1:]]
    await send(nc, restarted.messages(T0 + 1, changed, {}, nc.max_payload))
    await eventually(lambda: len(follower.views) == 2)
    assert follower.last[decisions[0].pool].desired == 8

    stray = old.messages(T0 + 2, decisions, {}, nc.max_payload)  # the old one's last delta
    later = [changed[0], replaced(changed[1], desired=6), *changed[2:]]
    await send(nc, [*stray, *restarted.messages(T0 + 2, later, {}, nc.max_payload)])
    await eventually(lambda: len(follower.views) == 3)
    assert follower.last == {d.pool: d for d in later}


async def test_the_leader_hears_a_request_and_bad_messages_are_counted(nc: Client) -> None:
    follower = await follow(nc)
    await eventually(lambda: follower.requests == 1)  # its own request, as a leader hears it
    for body in (b"{}", b"\xff", b'{"v":2,"want":"all"}', b'{"v":2,"m":["x","e",0,1,"f"]}',
                 b'{"v":2,"m":["x","e",1,1,"f"],"i":0,"n":1,"r":[["p","t",1,-2,0,false,null,'
                 b'[["demand","lag"]]]]}'):  # fmt: skip
        await nc.publish(DECISIONS_SUBJECT, body)
    await nc.publish(DECISIONS_SUBJECT, REQUEST)
    await eventually(lambda: follower.requests == 2)
    assert follower.bad.counts["decisions"] == 5
    assert follower.views == []


async def test_a_leader_reads_only_requests_and_asks_when_it_follows_again(nc: Client) -> None:
    leads = True
    process = Follower()
    await follow_decisions(nc, process.said, bad=process.bad, on_request=process.asked,
                           following=lambda: not leads)  # fmt: skip
    await eventually(lambda: process.requests == 1)  # a request is heard, even as leader
    mine = DecisionsEncoder("me")
    await send(nc, mine.messages(T0, fleet(10), {}, nc.max_payload))
    await send(nc, [b"not even JSON"])
    await nc.publish(DECISIONS_SUBJECT, REQUEST)
    await eventually(lambda: process.requests == 2)
    assert process.views == []  # its own decisions are not read back (nor junk counted)
    assert process.bad.counts["decisions"] == 0

    leads = False  # another process took over, and sent its whole view meanwhile
    other = DecisionsEncoder("other")
    other.messages(T0, fleet(10), {}, nc.max_payload)
    await send(nc, other.messages(T0 + 1, fleet(10, desired=4), {}, nc.max_payload))
    await eventually(lambda: process.requests == 3)  # a delta it cannot place: it asks
    assert process.views == []
    other.want_full()
    await send(nc, other.messages(T0 + 2, fleet(10, desired=4), {}, nc.max_payload))
    await eventually(lambda: len(process.views) == 1)
    assert process.views[0][0] == "other"
    assert process.last == {d.pool: d for d in fleet(10, desired=4)}


async def test_a_follower_counts_down_what_the_leader_holds(nc: Client) -> None:
    """`held 42s` on a follower too, not a bare `held`; a leader of the last version sends no
    `until`, and its followers (and this one) read the rest as before."""
    cooling = ScaleDecision(
        pool="coder",
        tenant="acme",
        current=3,
        desired=3,
        reasons=(Reason(rule="cooldown", template="busy 12:00:00 + 300 s"),),
        recommendation=0,
        until=T0 + 42,
    )
    steady = ScaleDecision(
        pool="chat",
        tenant="acme",
        current=2,
        desired=2,
        reasons=(Reason(rule="demand", template="lag 4 / 2 per replica"),),
        recommendation=2,
    )
    follower = await follow(nc)
    chunks = DecisionsEncoder("leader-1").messages(T0, [cooling, steady], {}, nc.max_payload)
    await send(nc, chunks)
    await eventually(lambda: len(follower.views) == 1)
    assert follower.last == {"coder": cooling, "chat": steady}
    seen = PoolObservation(pending=0, ack_pending=0, replicas=3)
    assert state_of(seen, follower.last["coder"], Overrides(), T0)[0] == "held 42s"

    older = json.loads(chunks[0])  # as the last version's leader writes it
    del older["t"]
    older["m"][2] += 1
    await send(nc, [json.dumps(older).encode()])
    await eventually(lambda: len(follower.views) == 2)
    assert follower.last["coder"] == replaced(cooling, until=math.inf)
