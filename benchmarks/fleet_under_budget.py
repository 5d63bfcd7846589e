"""500 pools under the Kubernetes API's default budget: what the daemon does against what it
says it did, and whether its health and its lease hold.

Everything but the cluster is as a user runs it: a real nats-server (embedded), the queues
set up as `agentdash queues --apply` does, and the installed daemon as its own process,
`agentdash --controller-only --kubeconfig ... --http ...`, on the default budget
(`kubernetes: {qps: 5, burst: 10}`). The cluster is kmock's emulator over real HTTP
(tests/support/kmock.py: resourceVersions and 409s as the API server has them), with 500
Deployments and no KEDA, and a kubelet played here: a Deployment's pods are ready
COLD_S after its spec asks for them, and gone at once when it asks for fewer.

The traffic: BUSY pools take turns being on (each on for half of its own period of 2-6
minutes), RATE tasks a second in all; each ready replica works one task a second, fetched
and acked from its pool's consumer. At FLOOD_AT of the run, 100,000 tasks land at once on
an idle pool at zero replicas.

Run once on the NATS KV lease, once on a Kubernetes Lease (`kubernetes: {lease: ...}`), it
prints:
- changes landed (scale PATCHes that changed spec.replicas, as the emulator saw them)
  against changes logged (`scaled Deployment ... from A to B` lines), and how many landed
  with no line; and the Events said (the reasons, sent when scale calls leave room);
- writes to held pools (a change landing on a pool that /healthz, polled each second, last
  listed as stale);
- fleet-wide stale seconds (the sum over samples of /healthz's stale_count);
- the share of /healthz answers that were 200 (from its first 200 on: start-up is left
  out; no answer within 2 s counts as not 200);
- lease losses (`lease: leading` followed by any other lease line);
- log lines a second;
- the time from the flood's first task to the first scale call that landed on its pool;
- tasks published, acked, and left in the stream (nothing lost: left = published - acked).

    python benchmarks/fleet_under_budget.py [--minutes 10] [--lease nats|kubernetes|both]
                                           [--keep-logs DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The emulator of the tests (tests/support/kmock.py): benchmarks/ is no package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import aiohttp.web
import attrs
import nats
import yaml
from kmock import Request, Server

from agentdash.nats_server import NatsServer
from controller.core.config import Config, parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.kmock import DEPLOYMENTS, HPAS, LEASES, PODS, Emulator, deployment, kubeconfig

POOLS, TENANTS, BUSY = 500, 50, 100
RATE = 100.0
"""Tasks a second over the whole fleet, on average."""
SERVE = 1
"""Tasks a second one ready replica works."""
COLD_S = 10.0
FLOOD, FLOOD_AT = 100_000, 0.7
FLOOD_POOL = f"pool-{POOLS - 1}"
SEED = 7
KEEP_REQUESTS = 200


@dataclass
class Landed:
    at: float
    name: str
    before: int
    after: int


@attrs.define(kw_only=True)
class Watching(Emulator):
    """The emulator, keeping each scale PATCH that changed a Deployment's spec.replicas, and
    each Deployment's replicas asked and ready as the kubelet played here last set them (a
    lookup in the emulator's own objects costs a scan: this harness must not be what is
    slow)."""

    landed: list[Landed] = attrs.field(factory=list)
    patches: int = 0
    events: int = 0
    spec: dict[str, int] = attrs.field(factory=dict)
    ready: dict[str, int] = attrs.field(factory=dict)

    async def _handle(self, request: Request) -> Any:
        if len(self._requests) > KEEP_REQUESTS:
            # kmock keeps every request, and matches each new one by walking them all (its
            # views of requests): an hour's 5 requests a second would cost seconds each.
            del self._requests[: -KEEP_REQUESTS // 2]
        if request.method == "POST" and request.url.path.endswith("/events"):
            self.events += 1  # answered, not kept: each lookup scans every object kept
            return aiohttp.web.json_response(request.data, status=201)
        if not (request.method == "PATCH" and request.url.path.endswith("/scale")):
            return await super()._handle(request)
        self.patches += 1
        key = (DEPLOYMENTS, str(request.namespace), str(request.name))
        before = self.objects[key]["spec"]["replicas"]
        answer = await super()._handle(request)
        after = self.objects[key]["spec"]["replicas"]
        if after != before:
            self.landed.append(Landed(time.monotonic(), key[2], before, after))
            self.spec[key[2]] = after
        return answer


def fleet(url: str, lease: str) -> dict[str, Any]:
    """POOLS pools of TENANTS tenants on one stream; pool-N is Deployment pool-N."""
    kube: dict[str, Any] = {"lease": {"namespace": "agentdash"}} if lease == "kubernetes" else {}
    return {
        "nats": {"url": url},
        "controller": {"interval_seconds": 1},
        "cluster": {"max_pods": 100_000},
        "kubernetes": kube,
        "tiers": {"gold": {"priority": 1000}, "silver": {"priority": 100}},
        "tenants": {f"t{i}": {"tier": "gold" if i % 5 == 0 else "silver"}
                    for i in range(TENANTS)},
        "pools": {
            f"pool-{i}": {
                "tenant": f"t{i % TENANTS}",
                "deployment": {"namespace": "agents", "name": f"pool-{i}"},
                "queue": {"stream": "AGENT_TASKS", "consumer": f"pool-{i}"},
                "min_replicas": 0 if i < BUSY or i == POOLS - 1 else 1,
                "max_replicas": 20,
                "cold_start_seconds": COLD_S,
            }
            for i in range(POOLS)
        },
    }  # fmt: skip


@dataclass
class Traffic:
    """What was published and acked, per pool; and when the flood began (monotonic)."""

    began: float = field(default_factory=time.monotonic)
    published: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    flood_at: float | None = None
    flood_s = 0.0
    """How long publishing the flood took."""

    def waiting(self, pool: str) -> int:
        return self.published[pool] - self.acked[pool]


async def produce(nc: Any, config: Config, traffic: Traffic, until: float) -> None:
    """BUSY pools, each on for half of its own period, RATE tasks a second in all."""
    rng = random.Random(SEED)
    periods = {f"pool-{i}": (rng.uniform(120, 360), rng.uniform(0, 360)) for i in range(BUSY)}
    per_pool = RATE / (BUSY / 2) / 10  # a tenth of a second's worth, for a pool that is on
    start = time.monotonic()
    while (now := time.monotonic()) < until:
        for pool, (period, phase) in periods.items():
            if ((now - start + phase) % period) < period / 2:
                count = sum(rng.random() < per_pool / 4 for _ in range(4 * int(per_pool + 1)))
                for _ in range(count):
                    await nc.publish(config.subject(pool), b'{"task": "work"}')
                traffic.published[pool] += count
        await nc.flush()
        await asyncio.sleep(0.1)


async def flood(nc: Any, config: Config, traffic: Traffic) -> None:
    traffic.flood_at = time.monotonic()
    for _ in range(FLOOD // 1000):
        for _task in range(1000):
            await nc.publish(config.subject(FLOOD_POOL), b'{"task": "flood"}')
        await nc.flush()
        traffic.published[FLOOD_POOL] += 1000
    traffic.flood_s = time.monotonic() - traffic.flood_at


async def workers(nc: Any, cluster: Watching, traffic: Traffic, until: float) -> None:
    """Each second, each pool's ready replicas work SERVE tasks each: fetched, then acked."""
    js = nc.jetstream()
    subs = {f"pool-{i}": await js.pull_subscribe_bind(f"pool-{i}", "AGENT_TASKS")
            for i in range(POOLS)}  # fmt: skip

    async def serve(pool: str, ready: int) -> None:
        batch = min(traffic.waiting(pool), ready * SERVE)
        try:
            messages = await subs[pool].fetch(batch, timeout=0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            return
        for message in messages:
            await message.ack()
        traffic.acked[pool] += len(messages)

    while time.monotonic() < until:
        began = time.monotonic()
        jobs = []
        for pool in subs:
            ready = cluster.ready[pool]
            if ready and traffic.waiting(pool) > 0:
                jobs.append(serve(pool, ready))
        await asyncio.gather(*jobs)
        await asyncio.sleep(max(0.0, began + 1.0 - time.monotonic()))


async def kubelet(cluster: Watching, until: float) -> None:
    """Pods ready COLD_S after the spec asks for them, gone at once when it asks for fewer;
    told over HTTP, so that the daemon's watch sees it."""
    asked_at: dict[str, float] = {}
    while time.monotonic() < until:
        now = time.monotonic()
        for name, spec in list(cluster.spec.items()):
            if spec == cluster.ready[name]:
                continue
            if spec > cluster.ready[name] and asked_at.setdefault(name, now) + COLD_S > now:
                continue
            status = {"replicas": spec, "readyReplicas": spec}
            path = f"/apis/apps/v1/namespaces/agents/deployments/{name}/status"
            async with cluster.request("PATCH", path, json={"status": status}) as answer:
                answer.raise_for_status()
            cluster.ready[name] = spec
            asked_at.pop(name, None)
        await asyncio.sleep(0.5)


@dataclass
class Health:
    answers: Counter[int] = field(default_factory=Counter)
    stale_seconds: int = 0
    held: set[str] = field(default_factory=set)
    held_writes: int = 0
    red: list[str] = field(default_factory=list)
    """When /healthz was not 200 (seconds into the run), and its first problem."""


async def watch_health(url: str, cluster: Watching, health: Health, until: float) -> None:
    """/healthz each second; a change that lands on a pool it last listed stale is counted."""
    seen, started = 0, time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < until:
            began = time.monotonic()
            for change in cluster.landed[seen:]:
                health.held_writes += change.name in health.held
            seen = len(cluster.landed)
            await sample(session, url, health, began - started)
            await asyncio.sleep(max(0.0, began + 1.0 - time.monotonic()))


async def sample(session: aiohttp.ClientSession, url: str, health: Health, at: float) -> None:
    """One /healthz answer, once the daemon has first said 200 (start-up is left out)."""
    try:
        async with session.get(url) as answer:
            body = await answer.json()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError):
        status, body = 0, None
    if not health.answers and status != 200:
        return
    health.answers[status] += 1
    if body is None:
        return
    health.stale_seconds += body["stale_count"]
    health.held = set(body["stale_pools"])
    if status != 200:
        problem = next(iter(body["problems"].items()), None)
        health.red.append(f"{at:.0f} s {problem}"[:200])


@dataclass
class Said:
    """What the daemon's log says, read from its stdout once it has stopped."""

    lines: int
    scaled: Counter[tuple[str, int, int]]
    lease_losses: int
    lease_lines: list[str]


def read_log(path: Path) -> Said:
    scaled: Counter[tuple[str, int, int]] = Counter()
    lines = losses = 0
    leading = False
    lease_lines: list[str] = []
    for line in path.read_text().splitlines():
        lines += 1
        try:
            record = json.loads(line)
        except ValueError:
            continue
        message = str(record.get("message", ""))
        words = message.split()
        if message.startswith("scaled Deployment agents/"):
            name = words[2].split("/")[1]
            scaled[name, int(words[4]), int(words[6])] += 1
        elif message.startswith("lease: ") or "Lease agentdash/" in message:
            lease_lines.append(message[:160])
            losses += leading and message != "lease: leading"
            leading = message == "lease: leading"
    return Said(lines, scaled, losses, lease_lines)


def unlogged(landed: list[Landed], said: Said, began: float) -> list[str]:
    """Changes that landed with no `scaled Deployment` line naming the same change."""
    left = Counter(said.scaled)
    missing = []
    for change in landed:
        key = (change.name, change.before, change.after)
        if left[key] > 0:
            left[key] -= 1
        else:
            at = change.at - began
            missing.append(f"{change.name} {change.before} -> {change.after} at {at:.0f} s")
    return missing


def setup_cluster(cluster: Watching) -> None:
    for resource in (DEPLOYMENTS, PODS, HPAS, LEASES, "v1/events"):
        cluster.resources[resource] = {}
    for i in range(POOLS):
        replicas = 0 if i < BUSY or i == POOLS - 1 else 1
        made = deployment(f"pool-{i}", replicas=replicas, ready=replicas, version="1")
        cluster.objects[DEPLOYMENTS, "agents", f"pool-{i}"] = made
        cluster.spec[f"pool-{i}"] = cluster.ready[f"pool-{i}"] = replicas


def daemon(
    work: Path, config: dict[str, Any], cluster: Watching, port: int
) -> subprocess.Popen[bytes]:
    (work / "agentdash.yaml").write_text(yaml.safe_dump(config))
    kc = kubeconfig(work / "kubeconfig", str(cluster.url).rstrip("/"))
    command = [str(Path(sys.executable).parent / "agentdash"), "--controller-only",
               "--config", str(work / "agentdash.yaml"), "--kubeconfig", kc,
               "--context", "kmock", "--http", f"127.0.0.1:{port}"]  # fmt: skip
    with (work / "daemon.log").open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


async def one_run(lease: str, seconds: float, port: int, keep: Path | None) -> None:
    with NatsServer() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        raw = fleet(server.url, lease)
        config = parse_config(raw)
        nc = await nats.connect(server.url)
        await ensure_queues(nc, config)
        async with Watching() as cluster, Server(cluster):
            setup_cluster(cluster)
            process = daemon(work, raw, cluster, port)
            try:
                health, traffic = await measure(nc, config, cluster, port, seconds)
            finally:
                process.terminate()  # the calls in flight end, and their lines are written
                await asyncio.to_thread(process.wait, 30)  # the emulator still answering
            left = await left_in_stream(nc)
            if keep is not None:
                shutil.copy(work / "daemon.log", keep / f"daemon-{lease}.log")
            report(lease, seconds, cluster, health, traffic, read_log(work / "daemon.log"), left)
        await nc.close()


async def measure(
    nc: Any, config: Config, cluster: Watching, port: int, seconds: float
) -> tuple[Health, Traffic]:
    health, traffic = Health(), Traffic()
    until = traffic.began + seconds
    flood_at = traffic.began + FLOOD_AT * seconds

    async def flood_later() -> None:
        await asyncio.sleep(flood_at - time.monotonic())
        await flood(nc, config, traffic)

    await asyncio.gather(
        produce(nc, config, traffic, until),
        workers(nc, cluster, traffic, until),
        kubelet(cluster, until),
        watch_health(f"http://127.0.0.1:{port}/healthz", cluster, health, until),
        flood_later(),
    )
    return health, traffic


async def left_in_stream(nc: Any) -> int:
    info = await nc.jetstream().stream_info("AGENT_TASKS")
    return int(info.state.messages)


def report(
    lease: str, seconds: float, cluster: Watching, health: Health, traffic: Traffic,
    said: Said, left: int,
) -> None:  # fmt: skip
    flood_calls = [c.at for c in cluster.landed if c.name == FLOOD_POOL]
    assert traffic.flood_at is not None
    to_scale = f"{flood_calls[0] - traffic.flood_at:.1f} s" if flood_calls else "never"
    samples = sum(health.answers.values())
    published, acked = sum(traffic.published.values()), sum(traffic.acked.values())
    print(f"{lease} lease, {seconds / 60:g} min, {POOLS} pools, qps 5 burst 10:")
    missing = unlogged(cluster.landed, said, traffic.began)
    print(
        f"  changes landed {len(cluster.landed)} ({cluster.patches} scale PATCHes), "
        f"logged {sum(said.scaled.values())}, landed with no line {len(missing)} {missing[:5]}; "
        f"Events said {cluster.events}"
    )
    print(
        f"  writes to held pools {health.held_writes}; fleet stale seconds {health.stale_seconds}"
    )
    print(
        f"  /healthz 200 in {health.answers[200]} of {samples} "
        f"({health.answers[200] / max(1, samples):.0%}); lease losses {said.lease_losses}"
    )
    print(
        f"  log lines a second {said.lines / seconds:.2f}; flood of {FLOOD:,} to its "
        f"scale call {to_scale} (published in {traffic.flood_s:.1f} s)"
    )
    print(
        f"  tasks published {published:,}, acked {acked:,}, in the stream {left:,} "
        f"(lost {published - acked - left:,})"
    )
    for line in health.red[:5]:
        print(f"    /healthz red at {line}")
    for line in said.lease_lines[:10]:
        print(f"    {line}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--lease", choices=["nats", "kubernetes", "both"], default="both")
    parser.add_argument("--keep-logs", type=Path, help="copy each daemon's log to this folder")
    args = parser.parse_args()
    leases = ["nats", "kubernetes"] if args.lease == "both" else [args.lease]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for lease in leases:
        asyncio.run(one_run(lease, args.minutes * 60, 19090, args.keep_logs))


if __name__ == "__main__":
    main()
