"""Each tenant's tokens today in NATS KV (controller.coordination.usage_handover), on a real
JetStream: a process started after the leader was killed with SIGKILL counts the tokens the
leader counted, and a hard cap the tenant spent stays spent; garbage in the bucket is ignored
and counted."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import nats
import nats.js.errors
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.spend_handover import BUCKET
from controller.coordination.usage_handover import SAVE_S, UsageHandover, key_of
from controller.core.engine import Engine
from controller.core.model import Observations, PoolObservation
from controller.core.policy import decide
from controller.runtime.succession import Succession
from controller.sources.usage import TokenLedger, UsageReport
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.nats_relay import distant_relay
from tests.support.usage_leader import BUDGET, budgeted, counting

ROOT = Path(__file__).resolve().parents[3]


def report(tokens: int) -> bytes:
    return json.dumps(
        {"tenant": "acme", "pool": "research", "tokens": tokens, "work_s": 3.0}
    ).encode()


async def saved_tokens(nc: Client) -> int:
    """acme's tokens today as the bucket holds them (0: none yet)."""
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        entry = await kv.get(key_of("acme"))
    except Exception:  # the key or the bucket is not there yet
        return 0
    return sum(tokens for _, tokens, _ in json.loads(entry.value or b"{}").get("minutes", []))


async def test_a_leader_killed_with_sigkill_leaves_its_count_to_a_new_process(
    nats_server: NatsServer, nc: Client
) -> None:
    cfg = budgeted()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.usage_leader", nats_server.url,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await eventually(lambda: _bucket_made(nc), timeout=15)  # the leader is up
        for _ in range(22):  # 1,540,000 tokens: over the hard cap of 1,500,000
            await nc.publish("agentdash.usage.acme", report(70_000))
        await nc.flush()
        await eventually(lambda: _saved(nc, 1_540_000), timeout=15)
    finally:
        process.send_signal(signal.SIGKILL)
        _, errors = await process.communicate()
    assert process.returncode == -signal.SIGKILL, errors.decode()

    successor = await nats.connect(nats_server.url)
    usage, handover = await counting(successor, cfg)  # a process started after the kill
    await nc.publish("agentdash.usage.acme", report(1_000))
    await nc.flush()
    await eventually(lambda: usage.usage(time.time()).tokens_today["acme"] == 1_000)

    assert await handover.restore(time.time()) == 1
    used = usage.usage(time.time())
    assert used.tokens_today["acme"] == 1_541_000
    assert used.tasks_today["acme"] == 23
    assert used.task_tokens["research"] == 70_000  # the price of the count of more tasks
    waiting = Observations(
        {"research": PoolObservation(pending=5, ack_pending=0, replicas=1, ready=1)},
        tokens_today=dict(used.tokens_today),
    )
    (decision,) = decide(cfg, waiting, now=time.time())
    assert decision.desired == 0
    assert f"used 1,541,000 of {BUDGET:,} tokens today" in decision.main_reason.detail
    await successor.close()


async def test_a_nats_that_lost_its_store_is_given_the_count_again(
    nats_server: NatsServer, nc: Client
) -> None:
    """A nats-server restarted without its store (an emptyDir, a new volume) has no bucket:
    the leader makes it again and writes its whole count there, so a process started after
    it still counts the hard cap spent (the count was saved nowhere until a restart)."""
    cfg = budgeted()
    usage, handover = await counting(nc, cfg)
    await handover.restore(time.time())
    for _ in range(22):
        await nc.publish("agentdash.usage.acme", report(70_000))
    await nc.flush()
    await eventually(lambda: usage.usage(time.time()).tokens_today["acme"] == 1_540_000)
    await handover.save(time.time())
    nats_server.stop()
    shutil.rmtree(nats_server.store_dir / "jetstream")
    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)

    async def saved_again() -> bool:  # the count has not moved since: written all the same
        await handover.save(time.time())
        return await saved_tokens(nc) == 1_540_000

    await eventually(saved_again, timeout=10, every=0.2)


async def test_a_bad_value_in_the_bucket_is_ignored_and_counted(
    nats_server: NatsServer, nc: Client
) -> None:
    cfg = budgeted()
    usage, handover = await counting(nc, cfg)
    kv = await nc.jetstream().key_value(BUCKET)
    now = time.time()
    day = usage.ledger.today("acme", now).start
    for bad in (
        {"v": 1, "at": now, "day": day, "minutes": [[0, -5, 1]], "prices": {}},
        {"v": 1, "at": now, "day": day, "minutes": [[99999, 5, 1]], "prices": {}},
        {"v": 1, "at": now, "day": day + 86_400, "minutes": [], "prices": {}},
        {"v": 1, "at": now, "day": day, "minutes": [[0, 1e400, 1]], "prices": {}},
    ):
        await kv.put(key_of("acme"), json.dumps(bad).replace("Infinity", "1e400").encode())
        assert await handover.restore(now) == 0
    await kv.put(key_of("acme"), b"\xff not json")
    assert await handover.restore(now) == 0
    assert handover.bad.counts["handover"] == 5
    assert usage.usage(now).tokens_today["acme"] == 0


async def test_a_count_from_a_clock_ahead_of_this_one_is_taken_not_added_twice(
    nats_server: NatsServer, nc: Client
) -> None:
    """The leader's host ran 30 s ahead of its successor's (or this host's clock was stepped
    back): its count is still today's, and a hard cap it counted spent stays spent."""
    cfg = budgeted()
    usage, handover = await counting(nc, cfg)
    now = time.time()
    day = usage.ledger.today("acme", now).start
    minute = int((now - day) // 60)
    ahead = {"v": 1, "at": now + 30, "day": day, "minutes": [[minute, 1_540_000, 22]],
             "prices": {"research": [1_540_000, 22]}}  # fmt: skip
    await (await nc.jetstream().key_value(BUCKET)).put(key_of("acme"), json.dumps(ahead).encode())
    for _ in range(2):  # at the start, and again on leading
        assert await handover.restore(now + 1) == 1
    assert usage.usage(now + 1).tokens_today["acme"] == 1_540_000
    assert handover.bad.counts["handover"] == 0


async def test_a_follower_takes_in_the_reports_sent_before_it_started(
    nats_server: NatsServer, nc: Client
) -> None:
    """A dashboard started a few seconds after the workers' reports, before the leader wrote
    them: it showed 8,638 tokens today where the leader counted 11,106, for the rest of the
    day. As a follower it takes in the leader's count at the leader's next write."""
    cfg = budgeted()
    leader, leader_handover = await counting(nc, cfg)
    await leader_handover.restore(time.time())
    for _ in range(3):
        await nc.publish("agentdash.usage.acme", report(1_234))
    await nc.flush()
    await eventually(lambda: leader.usage(time.time()).tokens_today["acme"] == 3_702)

    follower, handover = await counting(nc, cfg)  # started after the reports
    await handover.restore(time.time())  # before the leader wrote them
    assert follower.usage(time.time()).tokens_today["acme"] == 0
    await leader_handover.save(time.time())
    succession = Succession(
        Engine(cfg), handover=None, spend_handover=None, usage_handover=handover
    )
    await succession.hand_on(False, time.time())  # the read goes on apart from the tick
    await eventually(lambda: follower.usage(time.time()).tokens_today["acme"] == 3_702)

    await nc.publish("agentdash.usage.acme", report(1_000))  # both count this one
    await nc.flush()
    await eventually(lambda: follower.usage(time.time()).tokens_today["acme"] == 4_702)
    await leader_handover.save(time.time() + SAVE_S)
    read = handover.follow(time.time() + SAVE_S)  # merged again: not counted twice
    assert read is not None
    await read
    assert follower.usage(time.time()).tokens_today["acme"] == 4_702
    assert handover.bad.counts["handover"] == 0


async def test_a_follower_with_nats_away_does_not_wait_on_it(
    nats_server: NatsServer, nc: Client
) -> None:
    """A follower's read of the leader's count waited out its 2 s timeout at the end of a tick
    every 10 s while NATS was away: a dashboard's refresh with it. It asks only a connected
    NATS (the sources say NATS is away), and asks again as soon as NATS is back."""
    _, handover = await counting(nc, budgeted())
    nats_server.stop()
    await eventually(lambda: not nc.is_connected)
    sent = nc.stats["out_msgs"]
    assert handover.follow(time.time()) is None
    assert nc.stats["out_msgs"] == sent  # no question left to wait for its answer
    nats_server.start()
    await eventually(lambda: nc.is_connected, timeout=15)
    read = handover.follow(time.time())
    assert read is not None
    await read
    assert nc.stats["out_msgs"] > sent


async def _bucket_made(nc: Client) -> bool:
    try:
        await nc.jetstream().key_value(BUCKET)
    except Exception:
        return False
    return True


async def _saved(nc: Client, tokens: int) -> bool:
    return await saved_tokens(nc) == tokens


class FlakyBucket:
    """A bucket in memory whose reads time out while `answers` is False (NATS slow), and
    which holds no key; it records the keys written."""

    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.puts: list[str] = []

    async def get(self, key: str) -> None:
        if not self.answers:
            raise TimeoutError
        raise nats.js.errors.KeyNotFoundError

    async def put(self, key: str, value: bytes) -> None:
        self.puts.append(key)


class Connected:
    is_connected = True


def counted(answers: bool) -> tuple[UsageHandover, FlakyBucket]:
    """A handover whose ledger counted 1,000 of acme's tokens, over a FlakyBucket."""
    cfg = budgeted()
    ledger = TokenLedger(cfg)
    ledger.add(UsageReport(tenant="acme", pool="research", tokens=1_000, work_s=1.0), time.time())
    handover = UsageHandover(Connected(), cfg, ledger)  # type: ignore[arg-type]
    kv = handover._kv = FlakyBucket(answers)
    return handover, kv


async def test_a_count_never_merged_with_the_bucket_does_not_overwrite_it() -> None:
    """The bucket could not be read (NATS slow, a timeout): this process's count, which may
    lack the morning, is not written over the one there."""
    handover, kv = counted(answers=False)
    await handover.save(time.time())
    assert kv.puts == []


async def test_a_restore_that_fails_after_one_that_worked_holds_the_writes_back_too() -> None:
    """A process that read the bucket once, then could not read it as it became leader again,
    may have missed a count another leader wrote meanwhile: it writes nothing until it has
    read the bucket again."""
    handover, kv = counted(answers=True)
    assert await handover.restore(time.time()) == 0  # read: nothing there yet
    kv.answers = False
    assert await handover.restore(time.time()) == 0  # leading again: the read fails
    await handover.save(time.time())
    assert kv.puts == []
    kv.answers = True
    await handover.save(time.time() + 60)  # read again first, then written
    assert kv.puts == [key_of("acme")]


async def test_a_distant_follower_of_hundreds_of_tenants_takes_in_their_counts(
    nats_server: NatsServer, nc: Client
) -> None:
    """A follower reached NATS 10 ms away (a dashboard on a laptop, a port-forward): it read
    the leader's counts one tenant after the other, 300 of them 3 s, past its 2 s timeout,
    every 10 s: it never took any in, and every tick it asked waited the 2 s out."""
    names = [f"t{i:03}" for i in range(300)]
    tenants = {name: {"tier": "growth", "daily_token_budget": BUDGET} for name in names}
    cfg = config({f"{name}-pool": pool(name) for name in names}, tenants)
    leader, leader_handover = await counting(nc, cfg)
    await leader_handover.restore(time.time())
    done = {"tenant": "t299", "pool": "t299-pool", "tokens": 1_234, "work_s": 3.0}
    await nc.publish("agentdash.usage.t299", json.dumps(done).encode())
    await nc.flush()
    await eventually(lambda: leader.usage(time.time()).tokens_today["t299"] == 1_234)
    await leader_handover.save(time.time())

    port = int(nats_server.url.rsplit(":", 1)[1])
    async with distant_relay(port, answer_s=0.01) as url:
        far = await nats.connect(url)
        try:
            follower, handover = await counting(far, cfg)
            read = handover.follow(time.time())
            assert read is not None
            await read
            assert follower.usage(time.time()).tokens_today["t299"] == 1_234
        finally:
            await far.close()
