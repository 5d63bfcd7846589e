"""How soon an operator's pin reaches the leading daemon after nats-server restarts, and
whether the daemon's /livez answers a kubelet meanwhile.

    python benchmarks/override_after_restart.py [--trials 10] [--down 3] [--workers 0]
                                                [--pools 0]

A real nats-server with its JetStream store on disk, the installed daemon as its own
process (`agentdash --controller-only --cluster simulated --http ...`) and, in this process,
a dashboard's SharedOverrides on a connection of its own. Each trial restarts the server on
its port, by kill -9 or SIGTERM in turn, after an outage of up to `--down` seconds; once the
dashboard is connected again (within 0-1.5 s of the restart) it pins a pool, and the delay is
from the write's landing to the leader's `action` line (it logs each operator action as it
reads the revision). `--workers N` adds N NATS clients in a child process that reconnect
with the daemon (N a second at one try a second each: a reconnect flood).
`--pools N` runs benchmarks/daemon_idle.py's fleet of N pools (100 tenants: the daemon has a
NATS connection for each one's reports, which reconnect together) instead of the example's.
All along, /livez is asked every 0.25 s with a 1 s timeout (a kubelet's default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import nats
import yaml

from agentdash.nats_client import connect_nats
from agentdash.nats_server import NatsServer
from controller.coordination.overrides import OverrideStore
from controller.coordination.shared import SharedOverrides
from controller.core.bad_messages import BadMessages
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues

# benchmarks/ is no package: the tests' helpers, and daemon_idle's fleet, from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.daemon_idle import fleet
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon
from tests.support.processes import kill_hard

LATE_S = 60.0
"""A pin not seen by then is counted as never."""


class TimedDaemon(Daemon):
    """The daemon, each JSON line kept with when it was read here (monotonic)."""

    def __init__(self, config: Path) -> None:
        self.timed: list[tuple[float, dict[str, object]]] = []
        super().__init__(config, "--lease-ttl", "10")

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.timed.append((time.monotonic(), json.loads(line)))

    def actions(self) -> list[float]:
        return [at for at, line in list(self.timed) if line["type"] == "action"]


@dataclass
class Probes:
    """/livez as a kubelet asks it: what failed (seconds from the start, why), the worst wait."""

    failed: list[tuple[float, str]] = field(default_factory=list)
    asked: int = 0
    slowest: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


async def probe_livez(port: int, probes: Probes) -> None:
    began = time.monotonic()
    limit = aiohttp.ClientTimeout(total=1.0)
    while not probes.done.is_set():
        probes.asked += 1
        asked = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession(timeout=limit) as http,
                http.get(f"http://127.0.0.1:{port}/livez") as answer,
            ):
                await answer.read()
                if answer.status != 200:
                    probes.failed.append((asked - began, f"HTTP {answer.status}"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            probes.failed.append((asked - began, type(exc).__name__))
        probes.slowest = max(probes.slowest, time.monotonic() - asked)
        await asyncio.sleep(0.25)


def start_probing(port: int) -> Probes:
    """/livez asked from a thread of its own: this process's loop stops while it restarts
    the server (NatsServer's stop and start wait), and a kubelet would not."""
    probes = Probes()
    threading.Thread(target=asyncio.run, args=(probe_livez(port, probes),), daemon=True).start()
    return probes


async def restart(server: NatsServer, *, hard: bool, down: float) -> float:
    """Stop the server (kill -9, or SIGTERM), wait out the outage, start it on its port."""
    if hard:
        kill_hard(server)
    else:
        server.stop()
    await asyncio.sleep(random.uniform(0.0, down))
    server.start()
    return time.monotonic()


async def pin_and_time(
    dashboard: SharedOverrides, daemon: TimedDaemon, pool: str, replicas: int
) -> float:
    """Seconds from the pin landing in the bucket to the leader's action line."""
    before = len(daemon.actions())
    dashboard._store.pin(pool, replicas)
    await dashboard.flush()
    written = time.monotonic()
    while time.monotonic() < written + LATE_S:
        seen = daemon.actions()
        if len(seen) > before:
            return seen[before] - written
        await asyncio.sleep(0.02)
    return float("inf")


async def leading(daemon: TimedDaemon) -> None:
    await daemon.wait_health(lambda health: health["role"] == "leader", timeout=40)


async def trials(count: int, down: float, workers: int, pools: int) -> None:
    with tempfile.TemporaryDirectory(prefix="agentdash-restart-") as work:
        server = NatsServer(Path(work) / "nats").start()
        data = fleet(pools, server.url) if pools else yaml.safe_load(EXAMPLE.read_text())
        data["nats"] = {"url": server.url}
        path = Path(work) / "agentdash.yaml"
        path.write_text(yaml.safe_dump(data))
        config = load_config(path)
        pool = next(iter(config.pools))
        nc = await connect_nats(server.url, 5.0)
        await ensure_queues(nc, config)
        store = OverrideStore(config, who=lambda: "alice")
        dashboard = SharedOverrides(nc, store, config, bad=BadMessages())
        await dashboard.start()
        flood = start_flood(server.url, workers) if workers else None
        daemon = TimedDaemon(path)
        probes = start_probing(daemon.port)
        delays: list[float] = []
        try:
            await leading(daemon)
            probes.failed.clear()  # before it listened
            probes.slowest = 0.0
            for trial in range(count):
                hard = trial % 2 == 1
                restarted = await restart(server, hard=hard, down=down)
                await asyncio.sleep(random.uniform(0.0, 1.5))
                delays.append(await pin_and_time(dashboard, daemon, pool, 2 + trial % 3))
                print(f"trial {trial:3d} {'kill -9' if hard else 'SIGTERM'}: pinned "
                      f"{time.monotonic() - restarted:5.2f} s after the restart, "
                      f"at the leader {delays[-1]:.2f} s later", flush=True)  # fmt: skip
                await leading(daemon)
        finally:
            probes.done.set()
            daemon.stop()
            if flood is not None:
                flood.kill()
                flood.wait()
            await dashboard.stop()
            await nc.close()
            server.close()
    report(delays, probes, workers)


def report(delays: list[float], probes: Probes, workers: int) -> None:
    late = sum(1 for delay in delays if delay > 2.0)
    print(f"{len(delays)} restarts, {workers} workers reconnecting: pin at the leader "
          f"median {statistics.median(delays):.2f} s, max {max(delays):.2f} s, "
          f"{late} over 2 s")  # fmt: skip
    print(
        f"/livez: {len(probes.failed)} of {probes.asked} failed, slowest {probes.slowest:.3f} s"
        + (f": {probes.failed[:10]}" if probes.failed else "")
    )


def start_flood(url: str, workers: int) -> subprocess.Popen[str]:
    flood = subprocess.Popen([sys.executable, __file__, "--flood-at", url, "--workers",
                              str(workers)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert flood.stdout is not None
    flood.stdout.readline()  # every worker connected
    threading.Thread(target=flood.stdout.read, daemon=True).start()
    return flood


async def flood_workers(url: str, workers: int) -> None:
    """Clients that reconnect for ever, one try a second, as a fleet's workers do."""

    async def quiet(exc: Exception) -> None:
        pass  # a worker's reconnection errors are not this benchmark's

    for _ in range(workers):
        await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=1.0,
                           connect_timeout=2, error_cb=quiet)  # fmt: skip
    print("connected", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--down", type=float, default=3.0, help="longest outage, seconds")
    parser.add_argument("--workers", type=int, default=0, help="NATS clients reconnecting")
    parser.add_argument("--pools", type=int, default=0, help="daemon_idle's fleet, N pools")
    parser.add_argument("--flood-at", help=argparse.SUPPRESS)  # the workers' child process
    args = parser.parse_args()
    if args.flood_at:
        asyncio.run(flood_workers(args.flood_at, args.workers))
    else:
        asyncio.run(trials(args.trials, args.down, args.workers, args.pools))


if __name__ == "__main__":
    main()
