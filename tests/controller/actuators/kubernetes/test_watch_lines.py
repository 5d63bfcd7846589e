"""A watch whose stream carries a line that is not JSON (a proxy's error page between the
controller and the API server): the watch ends with a warning and is resumed, and the line is
counted in `agentdash_bad_messages_total{source="kubernetes"}` on the /metrics of the process
that read it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.kmock import DEPLOYMENTS, Emulator, deployment, kubeconfig

PROXY_PAGE = b"<html><body>502 Bad Gateway</body></html>\n"
TOO_DEEP = b"[" * 1000 + b"\n"
"""Deeper than json.loads follows: RecursionError, which ended the informer's watch unsaid."""


def fleet() -> dict[str, object]:
    return {
        "tiers": {"enterprise": {"priority": 1}},
        "tenants": {"acme": {"tier": "enterprise"}},
        "pools": {
            "web": {
                "tenant": "acme",
                "deployment": {"namespace": "agents", "name": "web"},
                "queue": {"stream": "AGENT_TASKS", "consumer": "web"},
            }
        },
    }


def counted(runtime: Runtime) -> list[str]:
    return [
        line
        for line in runtime.metrics.render().decode().splitlines()
        if line.startswith('agentdash_bad_messages_total{source="kubernetes"}')
    ]


@pytest.mark.parametrize("line", [PROXY_PAGE, TOO_DEEP], ids=["proxy page", "too deep"])
async def test_a_watch_line_that_is_not_json_is_counted_in_the_metrics(
    cluster: Emulator, nats_server: NatsServer, nc: Client, tmp_path: Path, line: bytes
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    deployments = cluster.resource(DEPLOYMENTS)
    cluster[cluster.action.WATCH, deployments][:1] << line  # the first watch's answer
    config = parse_config(fleet())
    await ensure_queues(nc, config)
    path = kubeconfig(tmp_path / "kubeconfig", str(cluster.url).rstrip("/"))
    options = RuntimeOptions(nats_server.url, kubeconfig=path, context="kmock", lease_ttl=5)
    runtime = await start(config, options)
    try:
        deadline = time.monotonic() + 10
        while counted(runtime) != ['agentdash_bad_messages_total{source="kubernetes"} 1.0']:
            assert time.monotonic() < deadline, f"not counted: {counted(runtime)}"
            await runtime.loop.tick()
            await asyncio.sleep(0.01)
        await runtime.loop.tick()
        (web,) = runtime.loop.snapshot().pools
        assert web.replicas == 1  # no crash, no pool lost: the Deployment is still read
    finally:
        await runtime.stop()
