"""Kill the leader mid-window: its successor holds what it held (controller.coordination.handover).

A pool scaled to 8 for a burst; the tasks are done and the 300 s down window holds 8. The
leader dies without a word (SIGKILL, or it simply stops: no lease released, nothing flushed).
A new process takes the lease and must keep 8 until the window ends, then step down as the
rate policy says (50% a minute): never 8 -> 4 at once, as it did when the windows lived only
in memory. Real nats-server, real JetStream queues and lease; the controllers' time is a
FakeClock (the old subprocess's is the real clock, which the FakeClock starts after).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import nats.js.errors
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.handover import BUCKET
from controller.coordination.history_docs import key_of
from controller.core.model import ScaleDecision
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.failover_leader import HandingOver, connect, fleet, learner

ROOT = Path(__file__).resolve().parents[3]


async def publish(nc: Client, subject: str, n: int) -> None:
    for i in range(n):
        await nc.jetstream().publish(subject, json.dumps({"id": i}).encode())


async def finish_tasks(nc: Client, n: int) -> None:
    """A worker takes the tasks and acks them: the lag vanishes."""
    worker = await nc.jetstream().pull_subscribe_bind("research", "AGENT_TASKS")
    done = 0
    while done < n:  # a fetch may return fewer than asked
        for msg in await worker.fetch(n - done, timeout=2):
            await msg.ack_sync()
            done += 1


async def take_over(successor: HandingOver) -> ScaleDecision:
    """Tick (as a follower) until the old leader's lease has expired and this one leads: its
    first tick as the leader restores the history before it decides."""
    decisions: list[ScaleDecision] = []

    async def leads() -> bool:
        decisions[:] = await successor.tick()
        return successor.leading

    await eventually(leads, timeout=10, every=0.1)
    (decision,) = decisions
    return decision


async def forgetful(nc: Client, clock: FakeClock, cluster: SimulatedCluster) -> Reconciler:
    """What a successor decided before: no handover (dry-run: it only says what it would do)."""
    cfg = fleet()
    lag = JetStreamLagSource(nc, cfg, clock=clock)
    await lag.start()
    return Reconciler(cfg, lag, TokenLedger(cfg), cluster, clock=clock, dry_run=True)


async def test_a_new_leader_after_a_silent_death_keeps_8_until_the_window_ends(
    nats_server: NatsServer, nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    cluster = SimulatedCluster(cfg, clock=clock)  # the Deployment both processes scale
    old = await connect(nats_server.url, cfg, "old", cluster, clock=clock)
    await publish(nc, cfg.subject("research"), 8)
    start = clock()
    for _ in range(7):  # 30 s of the burst
        (d,) = await old.tick()
        assert (old.leading, d.desired) == (True, 8)
        clock.advance(5)
    await finish_tasks(nc, 8)
    for _ in range(14):  # 70 s into the window: held
        (d,) = await old.tick()
        assert (d.recommendation, d.desired) == (0, 8)
        clock.advance(5)
    await old.close()  # the old process is gone: it neither renews nor releases the lease

    new = await connect(nats_server.url, cfg, "new", cluster, clock=clock)  # a fresh process
    first = await take_over(new)
    assert (first.current, first.desired) == (8, 8)
    assert first.main_reason.rule == "stabilization"
    bare = await forgetful(nc, clock, cluster)
    (would,) = await bare.tick()
    assert (would.current, would.desired) == (8, 4)  # what the issue saw, without the bucket

    seen = []
    while clock.now < start + 450:
        clock.advance(5)
        (d,) = await new.tick()
        seen.append((clock.now - start, d.desired))
    assert {r for t, r in seen if t < 330} == {8}  # 300 s after the last 8, at 30 s
    changes = [(t, r) for (t, r), (_, before) in zip(seen[1:], seen, strict=False) if r != before]
    assert changes == [(330, 4), (390, 2), (450, 1)]  # then 50% a minute, as the old one would
    await new.close()
    await cluster.close()


async def test_a_leader_killed_with_sigkill_leaves_its_window_to_its_successor(
    nats_server: NatsServer, nc: Client
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.failover_leader", nats_server.url,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await publish(nc, cfg.subject("research"), 8)
        await eventually(lambda: _saved(nc, top=8, newest=8), timeout=15)  # scaled up
        await finish_tasks(nc, 8)
        await eventually(lambda: _saved(nc, top=8, newest=0), timeout=15)  # held in the window
    finally:
        process.send_signal(signal.SIGKILL)
        _, errors = await process.communicate()
    assert process.returncode == -signal.SIGKILL, errors.decode()
    last_8 = max(t for t, v in (await _doc(nc))["highs"] if v == 8)

    clock = FakeClock(start=time.time())  # the new process's clock goes on from the old one's
    cluster = SimulatedCluster(cfg, clock=clock)
    await cluster.scale("research", 8)  # the Deployment as the old leader left it
    new = await connect(nats_server.url, cfg, "new", cluster, clock=clock)
    first = await take_over(new)
    assert (first.current, first.desired) == (8, 8)
    assert "highest recommendation in the last 300 s is 8" in first.main_reason.detail

    clock.now = last_8 + 299
    (d,) = await new.tick()
    assert d.desired == 8
    clock.now = last_8 + 301
    (d,) = await new.tick()
    assert (d.current, d.desired) == (8, 4)
    await new.close()
    await cluster.close()


async def test_a_leader_killed_with_sigkill_leaves_its_learned_gaps_to_its_successor(
    nats_server: NatsServer, nc: Client
) -> None:
    cfg = learner()
    await ensure_queues(nc, cfg)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.failover_leader", nats_server.url,
        "learner", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for burst in range(4):  # a task, done; then 1.5 s quiet (the pool's gap) before the next
            await publish(nc, cfg.subject("research"), 1)
            await eventually(lambda: _level(nc, in_use=True), timeout=15)
            await finish_tasks(nc, 1)
            await eventually(lambda: _level(nc, in_use=False), timeout=15)
            if burst < 3:
                await asyncio.sleep(1.5)  # the quiet time itself, not a wait for anything
        await eventually(lambda: _level(nc, in_use=False, gaps=3), timeout=15)
    finally:
        process.send_signal(signal.SIGKILL)
        _, errors = await process.communicate()
    assert process.returncode == -signal.SIGKILL, errors.decode()
    saved = (await _doc(nc))["keep"]
    learned = saved["levels"][0]["gaps"]

    clock = FakeClock(start=time.time())
    cluster = SimulatedCluster(cfg, clock=clock)
    await cluster.scale("research", 1)
    new = await connect(nats_server.url, cfg, "new", cluster, clock=clock)
    await take_over(new)
    keep = new.history.pools["research"].keep
    assert keep is not None
    (level, *_) = keep.levels
    assert list(level.gaps) == learned  # the gaps the old leader learned, each about 1.5 s
    assert all(1.0 <= gap < 10.0 for gap in learned)
    assert level.planned(keep.cold_start, keep.level_miss()).learned
    assert keep.taken == saved.get("taken")  # what priced its misses
    await new.close()
    await cluster.close()


async def _level(nc: Client, *, in_use: bool, gaps: int = 0) -> bool:
    """The bucket says the pool's first keep-alive level is (or is not) in use, with at least
    `gaps` gaps learned."""
    keep = (await _doc(nc)).get("keep") or {}
    levels = keep.get("levels") or []
    return bool(levels) and levels[0]["in_use"] == in_use and len(levels[0]["gaps"]) >= gaps


async def _doc(nc: Client) -> dict[str, Any]:
    """The pool's history as the bucket holds it; {} before there is one."""
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        entry = await kv.get(key_of("research"))
    except nats.js.errors.Error:  # no bucket or no key yet
        return {}
    return dict(json.loads(entry.value or b"{}"))


async def _saved(nc: Client, *, top: int, newest: int) -> bool:
    """The bucket says the window's highest is `top` and the newest recommendation `newest`."""
    highs = (await _doc(nc)).get("highs") or []
    return bool(highs) and highs[0][1] == top and highs[-1][1] == newest
