"""What keeping the time rules' history in NATS KV costs a leader of 1,000 pools.

On a real nats-server: the save of a steady tick (nothing changed: one write, `tick`), of a
tick where 1% of the pools changed, the first save after a takeover (every pool), and a
successor's restore of all of them before its first decision. Prints medians and writes.

    python benchmarks/handover.py
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import nats
from decision_pass import POOLS, fleet

from agentdash.nats_server import NatsServer
from controller.coordination.handover import HistoryHandover
from controller.core.config import Config
from controller.core.history import History
from controller.core.model import Observations, PoolObservation
from controller.core.policy import decide

TICKS = 50


def observations(config: Config, lags: dict[str, int]) -> Observations:
    return Observations(
        pools={
            name: PoolObservation(pending=lag, ack_pending=0, replicas=4)
            for name, lag in lags.items()
        },
        tokens_today={name: 0 for name in config.tenants},
    )


def tick(config: Config, history: History, lags: dict[str, int], now: float) -> None:
    obs = observations(config, lags)
    history.record_tick(decide(config, obs, history=history, now=now), obs, now)


async def timed(handover: HistoryHandover, history: History, now: float) -> tuple[float, int]:
    writes = handover.writes
    start = time.perf_counter()
    await handover.save(history, now)
    return time.perf_counter() - start, handover.writes - writes


async def main() -> None:
    config = fleet(max_pods=100_000, rpm=1_000_000, tenant_max_pods=None)
    rng = random.Random(7)
    lags = {f"p{i}": rng.randint(0, 60) for i in range(POOLS)}
    with NatsServer() as server:
        nc = await nats.connect(server.url)
        leader, history = HistoryHandover(nc, config), History(config)
        await leader.start()
        await leader.restore(history, 0.0)
        tick(config, history, lags, 0.0)
        first, writes = await timed(leader, history, 0.0)
        print(f"first save, {POOLS} pools:      {first * 1e3:7.2f} ms, {writes} writes")

        steady, changed = [], []
        now = 1.0
        for _ in range(TICKS):
            tick(config, history, lags, now)  # the same lags: nothing changes
            steady.append(await timed(leader, history, now))
            now += 1
            for name in rng.sample(sorted(lags), POOLS // 100):
                lags[name] = rng.randint(0, 60)
            tick(config, history, lags, now)
            changed.append(await timed(leader, history, now))
            now += 1
        for label, runs in (("steady tick", steady), ("1% changed", changed)):
            median = statistics.median(t for t, _ in runs) * 1e3
            writes = statistics.median(w for _, w in runs)
            print(f"save, {label:<12}       {median:7.2f} ms, {writes:g} writes (median)")

        successor = HistoryHandover(nc, config)
        await successor.start()
        start = time.perf_counter()
        restored = await successor.restore(History(config), now)
        took = time.perf_counter() - start
        print(f"restore, successor:         {took * 1e3:7.2f} ms, {restored} pools")
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
