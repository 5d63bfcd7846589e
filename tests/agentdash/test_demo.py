"""`agentdash demo` as a user runs it: a real process, a real embedded nats-server."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from tests.support.accounts import AccountsServer
from tests.support.cli import AGENTDASH
from tests.support.processes import alive, signalled_while_connecting

pytestmark = pytest.mark.e2e


def server_pid(first_line: str) -> int:
    """The embedded nats-server's pid, as the demo's first line names it."""
    found = re.search(r"\(pid (\d+)\)", first_line)
    assert found, first_line
    return int(found.group(1))


def test_a_drained_headless_run_loses_nothing(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    result = subprocess.run(
        [AGENTDASH, "demo", "--headless", "--duration", "24", "--drain", "--events", str(events),
         "--seed", "3", "--speed", "4", "--cold-start", "0.3"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["published"] > 50
    assert summary["completed"] == summary["published"]
    assert summary["lost"] == 0
    scale = [e for e in lines if e["type"] == "scale"]
    assert len(scale) == summary["scale_events"] > 0
    first = scale[0]
    assert set(first) >= {"ts", "pool", "from", "to", "reasons"}
    assert first["reasons"][0]["rule"]
    assert any(e["from"] == 0 and e["to"] > 0 for e in scale)  # woke from zero
    assert max(summary["peak_replicas"].values()) > 1
    assert "lost 0" in result.stdout
    assert not alive(server_pid(result.stdout.splitlines()[0]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_demo_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    events = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [AGENTDASH, "demo", "--headless", "--duration", "600", "--events", str(events),
         "--cold-start", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    pid = server_pid(process.stdout.readline())
    while "->" not in process.stdout.readline():  # the first scale event
        assert time.monotonic() < deadline, "no scale event within 30 s"
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "lost 0" in out
    summary = json.loads(events.read_text().splitlines()[-1])
    assert summary["lost"] == 0
    assert summary["published"] == (
        summary["completed"] + summary["unconfirmed"] + summary["remaining"]
    )
    assert not alive(pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_demo_while_it_is_still_connecting(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A NATS server that takes the connection and never answers: the demo is still
    connecting (nats.py retries) when the signal comes. It stops there, in order: the
    summary of a run that published nothing, exit 0, not 'cannot reach NATS' once its
    connect deadline has passed."""
    events = tmp_path / "events.jsonl"
    ended = signalled_while_connecting(
        [AGENTDASH, "demo", "--headless", "--duration", "600", "--events", str(events)], sig
    )
    assert (ended.returncode, ended.stderr) == (0, "")
    assert ended.stdout.startswith("published 0, completed 0,"), ended.stdout
    summary = json.loads(events.read_text().splitlines()[-1])
    assert (summary["type"], summary["published"], summary["lost"]) == ("summary", 0, 0)


def test_a_nats_url_without_jetstream_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """It was a traceback of nats.py's ServiceUnavailableError, from making the queues."""
    conf = tmp_path / "plain.conf"
    conf.write_text("")
    server = AccountsServer(tmp_path, conf)  # a nats-server without JetStream
    try:
        url = f"nats://127.0.0.1:{server.port}"
        command = [AGENTDASH, "demo", "--headless", "--nats-url", url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    finally:
        server.stop()
    said = f"agentdash: NATS at {url} has no JetStream (start nats-server with -js)\n"
    assert (result.returncode, result.stderr) == (1, said)


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "agentdash.yaml"
    bad.write_text("cluster: {max_pods: many}\n")
    result = subprocess.run([AGENTDASH, "demo", "--headless", "--config", str(bad)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"agentdash: {bad}:1: cluster.max_pods: expected an integer, got 'many'"
    )
    assert result.stderr.count("\n") == 1


ONE_POOL = """\
tiers: {gold: {priority: 10}}
tenants: {acme: {tier: gold}}
pools:
  solo: {tenant: acme, deployment: {namespace: a, name: solo}, queue: {stream: S, consumer: solo}}
"""


def test_a_fleet_of_one_pool_is_counted_as_one_pool(tmp_path: Path) -> None:
    one = tmp_path / "agentdash.yaml"
    one.write_text(ONE_POOL)
    result = subprocess.run(
        [AGENTDASH, "demo", "--headless", "--config", str(one), "--duration", "1",
         "--cold-start", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agentdash demo: 1 pool on embedded nats-server "), (
        result.stdout
    )


def test_a_pause_saved_by_an_earlier_run_holds_in_the_next(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.json"
    # a name the config does not have is dropped, and said to be
    overrides.write_text(
        json.dumps({"paused_tenants": ["acme"], "pins": {"nope": {"replicas": 2}}})
    )
    events = tmp_path / "events.jsonl"
    result = subprocess.run(
        [AGENTDASH, "demo", "--headless", "--duration", "16", "--speed", "4", "--cold-start",
         "0.2", "--events", str(events), "--overrides", str(overrides)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = f"overrides kept from {overrides}: pause tenant acme; dropped, not in the config: "
    assert f"{said}pin nope\n" in result.stdout
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    scaled = {e["pool"] for e in lines if e["type"] == "scale" and e["to"] > 0}
    assert scaled, "the other tenants' pools should have scaled"
    assert not scaled & {"acme-research", "acme-support"}
    summary = lines[-1]
    assert summary["lost"] == 0
    assert summary["remaining"] > 0  # acme's tasks were still queued at the stop


def test_a_drain_that_runs_out_says_what_is_left_goes_with_the_embedded_store(
    tmp_path: Path,
) -> None:
    """The embedded nats-server's store is removed at exit, and what is still queued with it:
    the drain said "what is left stays in JetStream" of tasks no server holds once the demo
    has ended. A paused tenant keeps its tasks queued; --speed 60 cuts the drain's wait to 5 s."""
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"paused_tenants": ["initech"]}))
    result = subprocess.run(
        [AGENTDASH, "demo", "--headless", "--duration", "30", "--drain", "--speed", "60",
         "--cold-start", "0.2", "--seed", "3", "--overrides", str(overrides)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    drain = next(line for line in result.stdout.splitlines() if "drain:" in line)
    assert drain.endswith(
        "drain: queues not empty after 5 s; stopping: the tasks still queued are removed with "
        "the embedded nats-server's store"
    ), drain
    left = re.search(r"still queued (\d+)", result.stdout)
    assert left, result.stdout
    assert int(left.group(1)) > 0, result.stdout


async def test_a_stream_that_does_not_take_the_pools_subjects_is_one_line_and_exit_1(
    nats_server: NatsServer, nc: Client
) -> None:
    """An AGENT_TASKS_ACME made by someone else, on other subjects: every publish found no stream
    and was retried for ever, with no word. Nothing is made beside it."""
    js = nc.jetstream()
    await js.add_stream(name="AGENT_TASKS_ACME", subjects=["other.x"])
    command = [AGENTDASH, "demo", "--headless", "--duration", "2", "--nats-url", nats_server.url]
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(
        f"agentdash: JetStream at {nats_server.url}: stream AGENT_TASKS_ACME exists and differs "
        "(subjects: other.x -> other.x, "
    )
    assert "agentdash queues --apply says what" in result.stderr
    assert result.stderr.count("\n") == 1
    assert await js.consumers_info("AGENT_TASKS_ACME") == []
