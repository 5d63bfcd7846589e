"""What the loop costs as the fleet grows: the leader's decisions message, the tick period,
and how fast changes reach the Kubernetes API.

- decisions: the message's size and the time to publish it and see it whole on a follower,
  at 1,000, 5,000 and 10,000 pools, on a real nats-server (embedded; max_payload 1 MiB):
  the whole view (the first tick, every 30 s, or on request), a tick where 1% of the pools
  changed, and, for comparison, the one-document message of agentdash before issue 14.
- ticks: ticks a second of the live loop (`Reconciler.run`, interval 1 s) at 1,000 pools,
  on real JetStream with the simulated cluster.
- actuation: scale changes a second reaching the API (kmock's emulator over real HTTP, the
  official client) when 4, then 8 pools change every second, at the default budget of 5 qps
  (burst 10), each call cut at the daemon's deadline as the loop does: the PATCHes that
  landed, the calls that succeeded (what the loop counts as scaled) or failed, and the
  reasons (annotation and Event) said.

`ticks` and `actuation` use only what agentdash had before issue 14, so the same script
measures the code of an older checkout (PYTHONPATH=<its tree>).

    python benchmarks/loop_scale.py [decisions] [ticks] [actuation]
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import statistics
import sys
import time
from typing import Any

import attrs
import nats
from kmock import KubernetesEmulator, Request, Server
from kubernetes.aio.client import ApiClient, Configuration

from agentdash.nats_server import NatsServer
from controller.actuators.kubernetes import DeploymentScaler
from controller.actuators.simcluster import SimulatedCluster
from controller.core.config import Config, parse_config
from controller.core.events import TickEvent
from controller.core.model import (
    Observations,
    Overrides,
    PoolObservation,
    Reason,
    ScaleDecision,
    SourceError,
)
from controller.core.policy import decide
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger

TENANTS = 100
REPEATS = 5
TICK_WINDOW_S, TICK_REPEATS = 20.0, 3
ACT_POOLS, CHANGES_A_TICK, ACT_SECONDS, QPS, BURST = 200, (4, 8), 30, 5.0, 10


def fleet(pools: int, interval: float = 1.0) -> Config:
    return parse_config(
        {
            "controller": {"interval_seconds": interval},
            "cluster": {"max_pods": 100_000},
            "tiers": {"growth": {"priority": 500}},
            "tenants": {f"t{i}": {"tier": "growth", "daily_token_budget": 10_000_000}
                        for i in range(TENANTS)},
            "pools": {
                f"t{i % TENANTS}-pool-{i}": {
                    "tenant": f"t{i % TENANTS}",
                    "deployment": {"namespace": "agents", "name": f"pool-{i}"},
                    "queue": {"stream": "AGENT_TASKS", "consumer": f"pool-{i}"},
                    "target_lag_per_replica": 1 + i % 4,
                    "max_replicas": 20,
                }
                for i in range(pools)
            },
        }
    )  # fmt: skip


def spread(values: list[float], unit: str, scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values]
    median, low, high = statistics.median(values), min(values), max(values)
    n = len(values)
    return f"median {median:.{digits}f} {unit} (min {low:.{digits}f}, max {high:.{digits}f}, n={n})"


# --- decisions ---------------------------------------------------------------------------


def decisions_of(cfg: Config, seed: int) -> list[ScaleDecision]:
    pools = {
        name: PoolObservation(
            pending=(i * 7 + seed) % 60,
            ack_pending=i % 8,
            replicas=i % 12,
            arrival_rate=0.5,
            mean_task_seconds=20.0,
        )
        for i, name in enumerate(cfg.pools)
    }
    return decide(cfg, Observations(pools), Overrides(), None, 1_000_000.0)


def _one_more(d: ScaleDecision) -> ScaleDecision:
    """`d` wanting one replica more, for a benchmark reason."""
    return ScaleDecision(
        pool=d.pool,
        tenant=d.tenant,
        current=d.current,
        desired=d.desired + 1,
        reasons=(*d.reasons, Reason(rule="bench", template="+1")),
        recommendation=d.recommendation,
        held=d.held,
        observed=d.observed,
        until=d.until,
    )


def one_document(decisions: list[ScaleDecision], ready: dict[str, int]) -> bytes:
    """The message as agentdash sent it before issue 14: every pool, every tick, long keys."""
    return json.dumps(
        {"leader": "leader-1", "ts": 1_000_000.0,
         "decisions": [{**d.as_dict(), "recommendation": d.recommendation, "held": d.held,
                        "ready": ready[d.pool]} for d in decisions]}
    ).encode()  # fmt: skip


async def bench_decisions(url: str) -> None:
    from controller.coordination.leader_decisions import (
        DECISIONS_SUBJECT,
        DecisionsEncoder,
        follow_decisions,
    )

    leader = await nats.connect(url)
    follower = await nats.connect(url)
    print(f"decisions (max_payload {leader.max_payload:,} bytes)")
    seen: list[float] = []
    done = asyncio.Event()

    def said(_: str, view: list[ScaleDecision], __: dict[str, int]) -> None:
        seen.append(time.perf_counter())
        done.set()

    for pools in (1000, 5000, 10_000):
        cfg = fleet(pools)
        decisions = decisions_of(cfg, 0)
        ready = {d.pool: d.current for d in decisions}
        old = one_document(decisions, ready)
        fits = "fits" if len(old) <= leader.max_payload else "REFUSED by the server"
        print(f"  {pools:>6,} pools: before, one document of {len(old):,} bytes ({fits})")
        subscription = await follow_decisions(follower, said, pools=cfg.pools)
        full_ms, delta_ms, sizes = [], [], []
        for run in range(REPEATS):
            encoder = DecisionsEncoder("leader-1")
            done.clear()
            started = time.perf_counter()
            chunks = encoder.messages(1_000_000.0 + run, decisions, ready, leader.max_payload)
            for chunk in chunks:
                await leader.publish(DECISIONS_SUBJECT, chunk)
            await leader.flush()
            await asyncio.wait_for(done.wait(), 30)
            full_ms.append(seen[-1] - started)
            full = chunks

            changed = [_one_more(d) if i % 100 == 0 else d for i, d in enumerate(decisions)]
            done.clear()
            started = time.perf_counter()
            chunks = encoder.messages(1_000_001.0 + run, changed, ready, leader.max_payload)
            for chunk in chunks:
                await leader.publish(DECISIONS_SUBJECT, chunk)
            await leader.flush()
            await asyncio.wait_for(done.wait(), 30)
            delta_ms.append(seen[-1] - started)
            sizes = [sum(map(len, full)), len(full), max(map(len, full)), sum(map(len, chunks))]
        await subscription.unsubscribe()
        total, count, largest, delta = sizes
        print(f"          whole view: {total:,} bytes in {count} chunk(s), largest {largest:,};"
              f" encoded, published and seen whole: {spread(full_ms, 'ms', 1000)}")  # fmt: skip
        print(f"          1% changed: {delta:,} bytes;"
              f" encoded, published and applied: {spread(delta_ms, 'ms', 1000)}")  # fmt: skip
    await leader.close()
    await follower.close()


# --- ticks -------------------------------------------------------------------------------


async def bench_ticks(url: str, pools: int = 1000) -> None:
    cfg = fleet(pools)
    nc = await nats.connect(url)
    await ensure_queues(nc, cfg)
    rates, costs = [], []
    for _ in range(TICK_REPEATS):
        lag = JetStreamLagSource(nc, cfg)
        await lag.start()
        cluster = SimulatedCluster(cfg)
        loop = Reconciler(cfg, lag, TokenLedger(cfg), cluster)
        events = loop.bus.subscribe()
        stop = asyncio.Event()
        running = asyncio.create_task(loop.run(stop))
        starts: list[float] = []
        window_end = time.monotonic() + TICK_WINDOW_S
        while time.monotonic() < window_end:
            try:
                event = await asyncio.wait_for(events.get(), window_end - time.monotonic())
            except TimeoutError:
                break
            if isinstance(event, TickEvent):
                starts.append(time.monotonic())
                costs.append(event.duration_s)
        stop.set()
        await running
        await lag.stop()
        await cluster.close()
        starts = starts[1:]  # the first tick reads what JetStream says for the first time
        rates.append((len(starts) - 1) / (starts[-1] - starts[0]))
    await nc.close()
    rate, cost = spread(rates, "ticks/s", digits=3), spread(costs, "ms", 1000)
    print(f"ticks at {pools:,} pools, interval 1 s, {TICK_WINDOW_S:g} s windows: {rate}; "
          f"tick cost {cost}")  # fmt: skip


# --- actuation ---------------------------------------------------------------------------


@attrs.define(kw_only=True)
class CountingEmulator(KubernetesEmulator):
    """kmock's emulator, counting the scale PATCHes and the other writes (the reasons)."""

    scales: int = 0
    reasons: int = 0

    async def _handle(self, request: Request) -> Any:
        if request.method in ("PATCH", "POST"):
            if request.url.path.endswith("/scale"):
                self.scales += 1
            else:
                self.reasons += 1
        return await super()._handle(request)


def a_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "agents", "uid": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}}},
        "status": {"replicas": 1, "readyReplicas": 1},
    }  # fmt: skip


async def actuate(
    scaler: DeploymentScaler, cfg: Config, deadline: float, changes: int
) -> tuple[int, int]:
    """As the live loop acts on a leader: every second, the next `changes` pools change, each
    call its own task, cut at its deadline, none started for a pool still in flight. The
    calls that succeeded (what the loop counts as scaled), and those that failed."""
    loop = asyncio.get_running_loop()
    fenced = {"fence": lambda: loop.time() + deadline}  # a leader with its lease to spare
    if "fence" not in inspect.signature(scaler.scale_with_reason).parameters:
        fenced = {}  # before issue 14
    names = list(cfg.pools)
    acting: dict[str, asyncio.Task[None]] = {}
    why = (Reason(rule="demand", template="lag / target per replica"),)
    done = failed = 0

    async def call(name: str, desired: int) -> None:
        nonlocal done, failed
        decision = ScaleDecision(
            pool=name,
            tenant=cfg.pools[name].tenant,
            current=1,
            desired=desired,
            reasons=why,
            recommendation=desired,
        )
        try:
            await asyncio.wait_for(
                scaler.scale_with_reason(name, desired, decision, time.time(), **fenced), deadline
            )
            done += 1
        except (TimeoutError, SourceError):  # cut by the loop, or by the scaler's deadline
            failed += 1
        finally:
            acting.pop(name, None)

    start = loop.time()
    for tick in range(ACT_SECONDS):
        await asyncio.sleep(max(0.0, start + tick - loop.time()))
        for k in range(changes):
            name = names[(tick * changes + k) % len(names)]
            if name not in acting:
                acting[name] = asyncio.create_task(call(name, 2 + tick % 5))
    await asyncio.sleep(max(0.0, start + ACT_SECONDS - loop.time()))
    for task in list(acting.values()):  # the window is over: what is left is not counted
        task.cancel()
    await asyncio.gather(*acting.values(), return_exceptions=True)
    return done, failed


async def bench_actuation() -> None:
    cfg = fleet(ACT_POOLS)
    deadline = 10.0 / 3  # the daemon's: a third of the lease's default 10 s
    print(f"actuation, {QPS:g} qps (burst {BURST}), {deadline:.1f} s deadline, {ACT_SECONDS} s:")
    for changes in CHANGES_A_TICK:
        patches, succeeded, failed, reasons = [], [], [], []
        for _ in range(2):
            async with CountingEmulator() as cluster, Server(cluster):
                for resource in ("apps/v1/deployments", "v1/pods", "autoscaling/v2/"
                                 "horizontalpodautoscalers", "v1/events"):  # fmt: skip
                    cluster.resources[resource] = {}
                for pool in cfg.pools.values():
                    name = pool.deployment.name
                    cluster.objects["apps/v1/deployments", "agents", name] = a_deployment(name)
                client = ApiClient(Configuration(host=str(cluster.url).rstrip("/")))
                scaler = DeploymentScaler(cfg, client, qps=QPS, burst=BURST,
                                          deadline_s=deadline, owns_client=True)  # fmt: skip
                await scaler.observe()
                await asyncio.sleep(BURST / QPS)  # the watches' requests: a full bucket again
                before = cluster.scales
                done, fail = await actuate(scaler, cfg, deadline, changes)
                patches.append((cluster.scales - before) / ACT_SECONDS)
                succeeded.append(done / ACT_SECONDS)
                failed.append(fail / ACT_SECONDS)
                reasons.append(cluster.reasons / 2 / ACT_SECONDS)
                await scaler.close()
        print(f"  {changes} pools changing a second: scale PATCHes landed "
              f"{spread(patches, '/s', digits=2)}; calls succeeded "
              f"{spread(succeeded, '/s', digits=2)}, failed {spread(failed, '/s', digits=2)}; "
              f"reasons said {spread(reasons, '/s', digits=2)}")  # fmt: skip


async def main(parts: list[str]) -> None:
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with NatsServer() as server:
        if "decisions" in parts:
            await bench_decisions(server.url)
        if "ticks" in parts:
            await bench_ticks(server.url)
    if "actuation" in parts:
        await bench_actuation()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["decisions", "ticks", "actuation"]))
