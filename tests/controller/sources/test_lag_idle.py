"""The lag source on quiet ticks, on a real nats-server: what it skips when nothing moved
must not hide what did. A task seen on its subject gets its pool read again even when the
subject's count is back where it was, and a pool re-read with the same lag still sees its
arrival rate fall as its arrivals leave the window."""

from __future__ import annotations

from collections import Counter

from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.core.accounting import RATE_WINDOW_S
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_api import REREAD_EVERY_S
from controller.sources.jetstream_queues import ensure_queues
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool


async def consumer_infos(nc: Client, counted: list[str]) -> Counter[str]:
    await nc.flush()
    return Counter(subject.split(".")[5] for subject in counted if ".CONSUMER.INFO." in subject)


async def test_a_task_come_and_gone_between_reads_still_reads_its_pool_again(
    nc: Client, clock: FakeClock
) -> None:
    cfg = config({f"p{i}": pool("acme") for i in range(20)})
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.start()
    asked: list[str] = []

    async def ask(msg: Msg) -> None:
        asked.append(msg.subject)

    await nc.subscribe("$JS.API.>", cb=ask)
    await source.read()

    js = nc.jetstream()
    await js.publish(cfg.subject("p7"), b"{}")
    worker = await js.pull_subscribe_bind("p7", "AGENT_TASKS")
    (task,) = await worker.fetch(1, timeout=2)
    await task.ack_sync()  # done before the next read: the subject's count is 0 again
    await eventually(lambda: source._seen.unread["p7"] == 1)  # once the source has seen it arrive
    asked.clear()
    clock.advance(1)
    stats = await source.read()
    assert await consumer_infos(nc, asked) == {"p7": 1}  # that pool alone, by itself
    assert stats["p7"].arrival_rate == 1 / 1
    assert stats["p3"].arrival_rate == 0.0
    await source.stop()


async def test_a_pool_read_again_with_the_same_lag_sees_its_rate_fall(
    nc: Client, clock: FakeClock
) -> None:
    cfg = config({"busy": pool("acme"), "quiet": pool("acme")})
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.start()
    clock.advance(RATE_WINDOW_S)  # the rate spans a whole window from here
    await nc.jetstream().publish(cfg.subject("busy"), b"{}")
    await eventually(lambda: source._seen.unread["busy"] == 1)
    stats = await source.read()
    assert (stats["busy"].pending, stats["busy"].arrival_rate) == (1, 1 / RATE_WINDOW_S)

    # Nothing comes or goes: every read is the rotation's, with the same lag as before.
    reads = round(RATE_WINDOW_S / REREAD_EVERY_S)
    for _ in range(reads - 1):
        clock.advance(REREAD_EVERY_S)
        stats = await source.read()
    assert (stats["busy"].pending, stats["busy"].arrival_rate) == (1, 1 / RATE_WINDOW_S)
    clock.advance(REREAD_EVERY_S)  # the task arrived a whole window ago
    stats = await source.read()
    assert (stats["busy"].pending, stats["busy"].arrival_rate) == (1, 0.0)
    assert stats["quiet"].arrival_rate == 0.0
    await source.stop()
