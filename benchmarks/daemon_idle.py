"""What an idle daemon costs: its CPU, as a percentage of one core, with no traffic at all.

Everything is as a user runs it, on a real embedded nats-server (agentdash.nats_server):
a config of POOLS pools (half at min_replicas 0, half at 1) on ONE stream, the queues set up
by `agentdash queues --apply`, then the daemon started as its own process, the installed
command: `agentdash --controller-only --cluster simulated --http ...`. The simulated
cluster (`--cluster simulated`, replicas only counted) is what the product offers for a
fleet without Kubernetes; it is the actuator measured here, not the Kubernetes one.

Once the daemon has ticked for SETTLE_S, its CPU time (utime + stime of /proc/<pid>/stat,
every thread) is read at the start and the end of a WINDOW_S window in which nobody
publishes a task, a usage report or anything else: CPU seconds over wall seconds, as a
percentage of one core. The ticks in the window come from /livez, the mean tick cost (the
loop's own, as it reports it) from /metrics' agentdash_reconcile_duration_seconds. The
nats-server's CPU over the same window is printed beside it (what the daemon's reading costs
the server). Each fleet size is run RUNS times, each on a fresh server and daemon.

    python benchmarks/daemon_idle.py [--pools N ...] [--window S] [--runs N]
                                     [--profile N | --breakdown]

--profile N: the same daemon, its window under cProfile (turned on and off by signals, so
start-up is left out); the N costliest functions by own time, then by cumulative time, in
ms per tick (cProfile's overhead inflates them: compare them with each other).
--breakdown: the same daemon, the plain functions of BREAKDOWN (the loop's and the relay's
costliest) timed over its window with perf_counter (no profiler), in ms per tick.

With --pools 10000 it also says whether that many pools set up and run on one stream. The
daemon inherits PYTHONPATH, so PYTHONPATH=<an older tree> measures that tree's daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from agentdash.nats_server import NatsServer

SETTLE_S = 15.0
WINDOW_S = 30.0
RUNS = 2
TENANTS = 100
TICK_HZ = os.sysconf("SC_CLK_TCK")
PROFILED = """
import cProfile, signal, sys
from agentdash.cli import main
profile = cProfile.Profile()
def dump(*_):
    profile.disable()
    profile.dump_stats(sys.argv[1])
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
signal.signal(signal.SIGUSR2, dump)
sys.exit(main(sys.argv[2:]))
"""
"""The daemon, its profiler on at SIGUSR1 and written out at SIGUSR2."""
TIMED = """
import gc, importlib, json, signal, sys, time
from agentdash.cli import main
spent, on = {}, [False]
def timed(where):
    module, _, name = where.partition(":")
    owner = importlib.import_module(module)
    *path, attribute = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    inner = getattr(owner, attribute)
    def wrapper(*args, **kwargs):
        if not on[0]:
            return inner(*args, **kwargs)
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[where] = spent.get(where, 0.0) + time.perf_counter() - started
    setattr(owner, attribute, wrapper)
for where in sys.argv[2].split(","):
    timed(where)
collecting = [0.0]
def collected(phase, info):
    if phase == "start":
        collecting[0] = time.perf_counter()
    elif on[0]:
        where = f"gc: generation {info['generation']} collections (within the above, or not)"
        spent[where] = spent.get(where, 0.0) + time.perf_counter() - collecting[0]
gc.callbacks.append(collected)
def dump(*_):
    on[0] = False
    with open(sys.argv[1], "w") as out:
        json.dump(spent, out)
signal.signal(signal.SIGUSR1, lambda *_: on.__setitem__(0, True))
signal.signal(signal.SIGUSR2, dump)
sys.exit(main(sys.argv[3:]))
"""
"""The daemon, these functions (plain ones, not coroutines) timed from SIGUSR1, the totals
written out at SIGUSR2."""
BREAKDOWN = (
    # the loop's tick (controller.runtime, controller.core)
    "controller.runtime.engine_feed:EngineFeed.feed",
    "controller.core.engine:Engine.step",
    "controller.core.history:History.record_tick",
    "controller.runtime.health:SourceHealth.track_stale",
    "controller.sources.jetstream:JetStreamLagSource._answer",
    "controller.sources.jetstream_api:Reads.moved",
    "controller.sources.jetstream_api:parse",
    "controller.coordination.handover:HistoryHandover._changed",
    # the relay of each tick (agentdash.runtime._relay)
    "controller.runtime.loop:build_snapshot",  # the name the loop calls it by
    "controller.runtime.metrics:Metrics.observe",
    "controller.runtime.metrics:Metrics.observe_snapshot",
    "controller.runtime.metrics:Metrics.observe_state",
    "controller.coordination.leader_decisions:DecisionsEncoder.messages",
)
"""Where --breakdown times an idle daemon's ticks. `Engine.step` is timed as the loop calls it;
a coroutine's time would include its waits, so only plain functions are named."""


def fleet(
    pools: int, url: str, *, tenants: int = TENANTS, max_replicas: int = 20, **spec: Any
) -> dict[str, Any]:
    """POOLS pools over `tenants` budgeted tenants on one stream, half at min_replicas 1;
    `spec`: more fields for every pool."""
    return {
        "nats": {"url": url},
        "controller": {"interval_seconds": 1},
        "cluster": {"max_pods": 100_000},
        "tiers": {"growth": {"priority": 500}},
        "tenants": {f"t{i}": {"tier": "growth", "daily_token_budget": 10_000_000}
                    for i in range(tenants)},
        "pools": {
            f"t{i % tenants}-pool-{i}": {
                "tenant": f"t{i % tenants}",
                "deployment": {"namespace": "agents", "name": f"pool-{i}"},
                "queue": {"stream": "AGENT_TASKS", "consumer": f"pool-{i}"},
                "min_replicas": i % 2,
                "max_replicas": max_replicas,
                "cold_start_seconds": 0,
                **spec,
            }
            for i in range(pools)
        },
    }  # fmt: skip


def agentdash() -> str:
    """The installed command, beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "agentdash"
    return str(beside) if beside.exists() else shutil.which("agentdash") or "agentdash"


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_HZ  # the 14th and 15th of the line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())


def reconcile_totals(metrics: str) -> tuple[float, float]:
    """The loop's own tick cost so far: (sum of seconds, count of ticks)."""
    values = {}
    for line in metrics.splitlines():
        name, _, value = line.partition(" ")
        if name in ("agentdash_reconcile_duration_seconds_sum",
                    "agentdash_reconcile_duration_seconds_count"):  # fmt: skip
            values[name] = float(value)
    return (values["agentdash_reconcile_duration_seconds_sum"],
            values["agentdash_reconcile_duration_seconds_count"])  # fmt: skip


def wait_ticking(base: str, daemon: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until the daemon answered /livez with a tick done; it dying is fatal."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited with {daemon.returncode}")
        try:
            if json.loads(get(f"{base}/livez"))["ticks"] > 0:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the daemon did not tick within {timeout:g} s")


def one_run(
    pools: int, window: float, work: Path, bootstrap: Sequence[str] = ()
) -> dict[str, float]:
    """One fresh server and daemon; `bootstrap`: what runs the daemon instead of the command
    (PROFILED or TIMED and their arguments), told to start at SIGUSR1 and stop at SIGUSR2."""
    with NatsServer() as server:
        config = work / "agentdash.yaml"
        config.write_text(yaml.safe_dump(fleet(pools, server.url), sort_keys=False))
        started = time.monotonic()
        setup = subprocess.run([agentdash(), "queues", "--config", str(config), "--apply"],
                               capture_output=True, text=True)  # fmt: skip
        setup_s = time.monotonic() - started
        if setup.returncode != 0:
            tail = (setup.stdout + setup.stderr).strip().splitlines()[-3:]
            raise SystemExit(f"{pools:,} pools on one stream did not set up: {' | '.join(tail)}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [agentdash(), "--controller-only", "--config", str(config),
                   "--cluster", "simulated", "--http", f"127.0.0.1:{port}",
                   "--log-level", "warning"]  # fmt: skip
        if bootstrap:
            command = [sys.executable, "-c", *bootstrap, *command[1:]]
        with (work / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                first_tick_s = wait_ticking(base, daemon, 120)
                time.sleep(SETTLE_S)
                ticks0 = json.loads(get(f"{base}/livez"))["ticks"]
                cost0 = reconcile_totals(get(f"{base}/metrics"))
                if bootstrap:
                    daemon.send_signal(signal.SIGUSR1)
                cpu0, server0, wall0 = cpu_seconds(daemon.pid), server_cpu(server), time.monotonic()
                time.sleep(window)
                if bootstrap:
                    daemon.send_signal(signal.SIGUSR2)
                cpu1, server1, wall1 = cpu_seconds(daemon.pid), server_cpu(server), time.monotonic()
                ticks1 = json.loads(get(f"{base}/livez"))["ticks"]
                cost1 = reconcile_totals(get(f"{base}/metrics"))
                healthz = json.loads(get_anyway(f"{base}/healthz"))
            finally:
                daemon.terminate()
                daemon.wait(30)
        wall = wall1 - wall0
        ticks = cost1[1] - cost0[1]
        return {
            "setup_s": setup_s,
            "first_tick_s": first_tick_s,
            "cpu_pct": 100 * (cpu1 - cpu0) / wall,
            "server_pct": 100 * (server1 - server0) / wall,
            "tick_hz": (ticks1 - ticks0) / wall,
            "tick_ms": 1000 * (cost1[0] - cost0[0]) / ticks if ticks else float("nan"),
            "ready": float(bool(healthz.get("ready"))),
            "stale": float(healthz.get("stale_count", -1)),
            "leading": float(healthz.get("role") == "leader"),
        }


def server_cpu(server: NatsServer) -> float:
    return cpu_seconds(server.pid) if server.pid is not None else float("nan")


def get_anyway(url: str) -> str:
    """The body even of a 503 (/healthz says why it is not ready)."""
    try:
        return get(url)
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())


def profiled(pools: int, window: float, top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="agentdash-idle-") as work:
        out = Path(work) / "daemon.prof"
        run = one_run(pools, window, Path(work), [PROFILED, str(out)])
        stats = pstats.Stats(str(out))
    ticks = run["tick_hz"] * window
    print(
        f"{pools:,} pools, {window:g} s under cProfile ({ticks:.0f} ticks, daemon CPU "
        f"{run['cpu_pct']:.1f}% of a core with the profiler on); ms per tick:"
    )
    rows = stats.stats  # type: ignore[attr-defined]
    for key, title in ((2, "own time"), (3, "cumulative")):
        print(f"  by {title}:")
        ranked = sorted(rows.items(), key=lambda kv: kv[1][key], reverse=True)[:top]
        for (file, line, function), (_, calls, own, cumulative, _) in ranked:
            where = f"{short(file)}:{line}({function})"
            print(
                f"    {1000 * own / ticks:8.2f} own {1000 * cumulative / ticks:8.2f} cum "
                f"{calls / ticks:9.1f} calls  {where}"
            )


def breakdown(pools: int, window: float) -> None:
    with tempfile.TemporaryDirectory(prefix="agentdash-idle-") as work:
        out = Path(work) / "spent.json"
        run = one_run(pools, window, Path(work), [TIMED, str(out), ",".join(BREAKDOWN)])
        spent = json.loads(out.read_text())
    ticks = run["tick_hz"] * window
    cpu_ms = run["cpu_pct"] * 10 / run["tick_hz"]
    print(f"{pools:,} pools, {window:g} s, {ticks:.0f} ticks: daemon CPU {run['cpu_pct']:.1f}% "
          f"of a core, {cpu_ms:.1f} ms a tick; of it, ms a tick:")  # fmt: skip
    for where in BREAKDOWN:
        print(f"  {1000 * spent.get(where, 0.0) / ticks:8.2f}  {where}")
    named = 1000 * sum(spent.get(where, 0.0) for where in BREAKDOWN) / ticks
    print(f"  {named:8.2f}  all of the above; the rest ({cpu_ms - named:.1f} ms) is I/O, the event "
          "loop and what is not named")  # fmt: skip
    for where, seconds in sorted(spent.items()):
        if where not in BREAKDOWN:
            print(f"  {1000 * seconds / ticks:8.2f}  {where}")


def short(file: str) -> str:
    for root in ("site-packages/", f"{Path(__file__).resolve().parent.parent}/"):
        if root in file:
            return file.split(root, 1)[1]
    return file


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"{median:.{digits}f}{unit} (min {low:.{digits}f}, max {high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[1000])
    parser.add_argument("--window", type=float, default=WINDOW_S)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    if args.breakdown:
        for pools in args.pools:
            breakdown(pools, args.window)
        return
    if args.profile:
        for pools in args.pools:
            profiled(pools, args.window, args.profile)
        return
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"daemon: {agentdash()} --controller-only --cluster simulated; settle {SETTLE_S:g} s, "
          f"window {args.window:g} s, {args.runs} run(s) each")  # fmt: skip
    for pools in args.pools:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="agentdash-idle-") as work:
                runs.append(one_run(pools, args.window, Path(work)))
        of = {key: [run[key] for run in runs] for key in runs[0]}
        print(f"{pools:>6,} pools on one stream: set up in {spread(of['setup_s'], ' s')}, "
              f"first tick after {spread(of['first_tick_s'], ' s')}")  # fmt: skip
        print(f"        idle daemon CPU {spread(of['cpu_pct'], '% of a core')}; "
              f"nats-server {spread(of['server_pct'], '%')}")  # fmt: skip
        print(f"        ticks {spread(of['tick_hz'], '/s', 3)}, each "
              f"{spread(of['tick_ms'], ' ms')} (the loop's own measure); "
              f"leading {sum(of['leading']):g}/{len(runs)}, ready "
              f"{sum(of['ready']):g}/{len(runs)}, stale pools {max(of['stale']):g}")  # fmt: skip
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
