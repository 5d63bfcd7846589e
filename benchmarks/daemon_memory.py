"""What a long-running daemon holds in memory: its RSS under traffic and under forged reports.

As a user runs it: a real embedded nats-server (agentdash.nats_server), POOLS pools over
TENANTS tenants on one stream, the queues made by `agentdash queues --apply`, then the
installed daemon as its own process (`agentdash --controller-only --cluster simulated --http`).
Meanwhile this process is the fleet around it:

- a producer publishes TASKS_A_SECOND tasks a second to random pools;
- a worker a pool takes them (a pull consumer), says busy and idle, reports each task's usage
  and acks it, as docs/operating.md's worker does; every 50 tasks its pod is a new one;
- an operator writes the overrides bucket every OPERATOR_EVERY_S: three pins (half of them
  ending within 2 s, which the leader then ends and writes) and a paused tenant;
- with --attack, a forger publishes FORGED_A_SECOND messages a second as an untrusted worker
  would: reports naming tenants, pools, pods and tasks that do not exist, each a new name
  (long, unicode, escapes), held reports (over the tenant's share) each for a new task, junk
  bodies, reports on subjects with extra tokens and on random inboxes; and the operator's
  every write names a pool and a tenant that do not exist, each a new one.

The daemon's RSS (VmRSS of /proc/PID/status) is sampled every SAMPLE_S, its /metrics' series
counted every SERIES_EVERY_S. Printed: a row a minute, then RSS at the first minute and at the
end, and the series on /metrics then and at the end. With --tracemalloc, the daemon runs under
a wrapper that starts tracemalloc after the first minute and snapshots it at the end: the
places that hold more at the end, each by the deepest frame of agentdash's own code.

    python benchmarks/daemon_memory.py [--minutes M] [--pools N] [--tenants N] [--attack]
                                       [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import yaml
from daemon_idle import fleet, free_port
from daemon_idle import get_anyway as get

from agentdash.nats_server import NatsServer

SAMPLE_S = 3.0
SERIES_EVERY_S = 30.0
TASKS_A_SECOND = 20
OPERATOR_EVERY_S = 5.0
FORGED_A_SECOND = 4000
TRACED = """
import itertools, signal, sys, tracemalloc
from agentdash.cli import main
numbers = itertools.count()
def snapshot(*_):
    tracemalloc.take_snapshot().dump(f"{sys.argv[1]}/{next(numbers)}.tm")
signal.signal(signal.SIGUSR1, lambda *_: tracemalloc.start(12))
signal.signal(signal.SIGUSR2, snapshot)
sys.exit(main(sys.argv[2:]))
"""
"""The daemon, tracemalloc started at SIGUSR1 and a snapshot written at each SIGUSR2."""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def series(metrics: str) -> int:
    return sum(1 for line in metrics.splitlines() if line and not line.startswith("#"))


def new_name(rng: random.Random) -> str:
    """A name nothing has, each call another: long, unicode, escapes, digits."""
    return rng.choice((
        lambda: "".join(rng.choices(string.ascii_lowercase + "-", k=rng.randint(1, 253))),
        lambda: "".join(chr(rng.randint(0x80, 0x2FFF)) for _ in range(rng.randint(1, 60))),
        lambda: "\x1b[31m" + "".join(rng.choices(string.printable, k=40)) + "\u202e",
        lambda: f"t{rng.randrange(10**12)}",
    ))()  # fmt: skip


def pod_name(rng: random.Random) -> str:
    """A valid Kubernetes name, each call another."""
    return "p-" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=40))


class Fleet:
    """The producers, workers, operator and forger around the daemon."""

    def __init__(self, js: Any, nc: Any, config: dict[str, Any]) -> None:
        self.nc, self.js, self.config = nc, js, config
        self.pools: list[str] = list(config["pools"])
        self.tenants: list[str] = list(config["tenants"])
        self.rng = random.Random(7)
        self.counts = Counter[str]()

    def tenant(self, pool: str) -> str:
        return str(self.config["pools"][pool]["tenant"])

    async def tell(self, kind: str, tenant: str, **body: object) -> None:
        data = json.dumps({"tenant": tenant, **body}).encode()
        await self.nc.publish(f"agentdash.{kind}.{tenant}", data)

    async def produce(self) -> None:
        while True:
            for pool in self.rng.choices(self.pools, k=TASKS_A_SECOND):
                await self.js.publish(f"agent_tasks.{pool}", b"task")
                self.counts["published"] += 1
            await asyncio.sleep(1)

    async def work(self, pool: str) -> None:
        tenant, consumer = self.tenant(pool), self.config["pools"][pool]["queue"]["consumer"]
        tasks = await self.js.pull_subscribe_bind(consumer, "AGENT_TASKS")
        pod = f"{pool}-{self.rng.randrange(10**6)}"
        while True:
            try:
                taken = await tasks.fetch(5, timeout=2)
            except TimeoutError:  # nats.py's own, and asyncio's: no task came
                continue
            for msg in taken:
                await self.tell("busy", tenant, pool=pool, pod=pod, busy=1)
                task = str(msg.metadata.sequence.stream)
                tokens = self.rng.randint(10, 5000)
                await self.tell("usage", tenant, pool=pool, tokens=tokens, work_s=1.0, task=task)
                await msg.ack()
                await self.tell("busy", tenant, pool=pool, pod=pod, busy=0)
                self.counts["done"] += 1
                if self.counts["done"] % 50 == 0:  # a pod replaced: another name
                    pod = f"{pool}-{self.rng.randrange(10**6)}"

    async def operate(self, typos: bool) -> None:
        kv = await self.js.key_value("agentdash_overrides")
        while True:
            pins: dict[str, Any] = {
                pool: {"replicas": self.rng.randint(0, 3), "until": time.time() + ends}
                for pool, ends in zip(self.rng.sample(self.pools, 3), (2, 30, 2), strict=True)
            }
            paused = [self.rng.choice(self.tenants)]
            if typos:  # each write another pool and tenant this config lacks
                pins[new_name(self.rng)[:200]] = {"replicas": 1, "until": None}
                paused.append(f"typo-{self.rng.randrange(10**9)}")
            document = {"pins": pins, "paused_tenants": paused}
            await kv.put("overrides", json.dumps(document).encode())
            self.counts["overrides"] += 1
            await asyncio.sleep(OPERATOR_EVERY_S)

    def forged(self) -> tuple[str, bytes]:
        """One message an untrusted worker might send: its subject and body."""
        rng = self.rng
        kind, pool = rng.choice(("usage", "busy")), rng.choice(self.pools)
        tenant = self.tenant(pool)
        body: dict[str, Any] = {"tenant": tenant, "pool": pool, "tokens": 1, "work_s": 1.0}
        subject = f"agentdash.{kind}.{tenant}"
        shape = rng.randrange(7)
        if shape == 0:  # a tenant and pool that do not exist, on a subject of their own
            body |= {"tenant": new_name(rng), "pool": new_name(rng), "pod": pod_name(rng)}
            subject = f"agentdash.{kind}.x{rng.randrange(10**9)}"
        elif shape == 1:  # a pool that does not exist, on a real tenant's subject
            body |= {"pool": new_name(rng), "pod": pod_name(rng), "busy": 0}
        elif shape == 2:  # a real pool, a task nobody ran; or a held one (over the share)
            body |= {"task": new_name(rng), "tokens": rng.choice((1, 900_000))}
            subject = f"agentdash.usage.{tenant}"
        elif shape == 3:  # a real pool, a pod that does not exist
            body |= {"pod": pod_name(rng), "busy": rng.randint(0, 3)}
            subject = f"agentdash.busy.{tenant}"
        elif shape == 4:  # more tokens on the subject
            subject += f".x{rng.randrange(10**9)}"
        elif shape == 5:  # a random inbox
            subject = f"_INBOX.{''.join(rng.choices(string.ascii_letters, k=22))}.1"
        else:  # junk
            return subject, rng.randbytes(rng.randint(1, 300))
        return subject, json.dumps(body).encode()

    async def forge(self) -> None:
        while True:
            for _ in range(int(FORGED_A_SECOND / 10)):
                subject, data = self.forged()
                await self.nc.publish(subject, data, reply=f"_INBOX.{self.rng.randrange(10**9)}")
                self.counts["forged"] += 1
            await asyncio.sleep(0.1)


async def wait_live(base: str, daemon: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            get(base + "/livez")
            return
        except OSError:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start") from None
            await asyncio.sleep(0.2)


class Traced:
    """The daemon's tracemalloc: started at minute 1 (start-up left out), a snapshot at
    minute 2 and one at the end, compared."""

    def __init__(self, daemon: subprocess.Popen[bytes], where: Path) -> None:
        self.daemon, self.where, self.asked = daemon, where, 0

    def at(self, seconds: float) -> None:
        if self.asked == 0 and seconds >= 60:
            self.daemon.send_signal(signal.SIGUSR1)
            self.asked = 1
        elif self.asked == 1 and seconds >= 120:
            self.daemon.send_signal(signal.SIGUSR2)
            self.asked = 2

    def compare(self) -> None:
        self.daemon.send_signal(signal.SIGUSR2)
        first, last = self.where / "0.tm", self.where / "1.tm"
        deadline = time.monotonic() + 120
        while not last.exists() and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(2)  # written whole
        growth(first, last)


async def sample(base: str, daemon: subprocess.Popen[bytes], fleet: Fleet, minutes: float,
                 traced: Traced | None) -> list[tuple[float, float, int]]:  # fmt: skip
    """(seconds, RSS MB, series) every SAMPLE_S; a row printed a minute."""
    rows: list[tuple[float, float, int]] = []
    started, shown, counted, at = time.monotonic(), series(get(base + "/metrics")), 0.0, 0.0
    print(f"{'min':>4} {'RSS MB':>7} {'series':>6} {'tasks done':>10} {'forged':>9}")
    while at < minutes * 60:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited {daemon.returncode}")
        if traced is not None:
            traced.at(at)
        if at - counted >= SERIES_EVERY_S:
            shown, counted = series(get(base + "/metrics")), at
        if not rows or int(at // 60) > int(rows[-1][0] // 60):
            c = fleet.counts
            print(f"{at / 60:4.0f} {rss_mb(daemon.pid):7.1f} {shown:6} {c['done']:10}"
                  f" {c['forged']:9}", flush=True)  # fmt: skip
        rows.append((at, rss_mb(daemon.pid), shown))
        await asyncio.sleep(SAMPLE_S)
        at = time.monotonic() - started
    rows.append((at, rss_mb(daemon.pid), series(get(base + "/metrics"))))
    return rows


def growth(before: Path, after: Path, top: int = 10) -> None:
    """What the daemon holds more of at the end, by the deepest frame of its own code."""

    def by_site(path: Path) -> Counter[str]:
        sites = Counter[str]()
        for stat in tracemalloc.Snapshot.load(str(path)).statistics("traceback"):
            ours = [f for f in stat.traceback if "/controller/" in f.filename
                    or "/agentdash/" in f.filename] or list(stat.traceback)  # fmt: skip
            frame = ours[-1]
            sites[f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"] += stat.size
        return sites

    first, last = by_site(before), by_site(after)
    print(f"traced: {sum(first.values()) / 1e6:.1f} MB -> {sum(last.values()) / 1e6:.1f} MB")
    for site, size in sorted(((s, last[s] - first[s]) for s in last), key=lambda x: -x[1])[:top]:
        print(f"  {size / 1024:+8.1f} KiB  {site}")


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="daemon-memory-"))
    with NatsServer() as server:
        config = fleet(
            args.pools, server.url, tenants=args.tenants, max_replicas=10, cooldown_seconds=5
        )
        path = work / "agentdash.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        agentdash = str(Path(sys.executable).parent / "agentdash")
        subprocess.run([agentdash, "queues", "--config", str(path), "--apply"],
                       check=True, capture_output=True)  # fmt: skip
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        flags = ["--controller-only", "--config", str(path), "--cluster", "simulated",
                 "--http", f"127.0.0.1:{port}"]  # fmt: skip
        traced = [sys.executable, "-c", TRACED, str(work), *flags]
        with (work / "daemon.log").open("w") as log:
            daemon = subprocess.Popen(
                traced if args.tracemalloc else [agentdash, *flags],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            tracing = Traced(daemon, work) if args.tracemalloc else None
            asyncio.run(measure(args, server.url, config, base, daemon, tracing))
            if tracing is not None:
                tracing.compare()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    print(f"daemon log: {work / 'daemon.log'}")


async def measure(
    args: argparse.Namespace,
    url: str,
    config: dict[str, Any],
    base: str,
    daemon: subprocess.Popen[bytes],
    traced: Traced | None,
) -> None:
    await wait_live(base, daemon)
    nc = await nats.connect(url)
    fleet = Fleet(nc.jetstream(), nc, config)
    jobs = [fleet.produce(), fleet.operate(args.attack), *(fleet.work(p) for p in fleet.pools)]
    jobs += [fleet.forge()] if args.attack else []
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        rows = await sample(base, daemon, fleet, args.minutes, traced)
    finally:
        for task in tasks:
            task.cancel()
        ended = await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()
    for failed in {repr(e) for e in ended if not isinstance(e, asyncio.CancelledError)}:
        print(f"part of the fleet failed: {failed}")
    after_first = [row for row in rows if row[0] >= 60] or rows
    first, last = after_first[0], rows[-1]
    print(
        f"RSS: {first[1]:.1f} MB at minute 1, {last[1]:.1f} MB at minute {last[0] / 60:.0f}"
        f" (most {max(r[1] for r in rows):.1f}); series on /metrics: {first[2]} -> {last[2]}"
    )
    print(f"sent: {dict(fleet.counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--pools", type=int, default=40)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--attack", action="store_true", help="forged reports and typos too")
    parser.add_argument("--tracemalloc", action="store_true", help="where memory grows")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
