"""`kubernetes.lease` in the config: the controller elects its leader on a Kubernetes Lease
(the emulated API) instead of NATS KV, and a takeover follows a release at once; a Lease whose
leaseDurationSeconds is no TTL is counted in the /metrics of the process that reads it."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import nats.js.errors
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import start
from controller.actuators.kubernetes import DeploymentScaler
from controller.coordination.kube_lease import KubernetesLease
from controller.core.config import Config, parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.kmock import DEPLOYMENTS, LEASES, Emulator, deployment, kubeconfig
from tests.support.kube_lease import forge


def fleet_with_lease() -> dict[str, object]:
    return {
        "tiers": {"enterprise": {"priority": 1}},
        "tenants": {"acme": {"tier": "enterprise"}},
        "kubernetes": {"lease": {"namespace": "agentdash"}},
        "pools": {
            "web": {
                "tenant": "acme",
                "deployment": {"namespace": "agents", "name": "web"},
                "queue": {"stream": "AGENT_TASKS", "consumer": "web"},
            }
        },
    }


Leased = tuple[Config, RuntimeOptions]


@pytest.fixture
async def leased(cluster: Emulator, nats_server: NatsServer, nc: Client, tmp_path: Path) -> Leased:
    """The fleet electing on the emulated API's Lease, its queues made, and the options
    its processes start with (a 5 s TTL); its Deployment at 0 replicas."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=0)
    config = parse_config(fleet_with_lease())
    await ensure_queues(nc, config)
    path = kubeconfig(tmp_path / "kubeconfig", str(cluster.url).rstrip("/"))
    options = RuntimeOptions(nats_server.url, kubeconfig=path, context="kmock", lease_ttl=5)
    return config, options


async def test_a_config_naming_a_lease_elects_on_it_and_nats_holds_no_lease(
    cluster: Emulator, nc: Client, leased: Leased
) -> None:
    config, options = leased
    first = await start(config, replace(options, holder="first"))
    second = await start(config, replace(options, holder="second"))
    try:
        await first.loop.tick()
        await second.loop.tick()
        assert (first.loop.leading, second.loop.leading) == (True, False)
        # Each daemon's Lease calls come out of its scaler's budget (kubernetes.qps), first.
        assert isinstance(first.lease, KubernetesLease)
        assert isinstance(first.loop.actuator, DeploymentScaler)
        assert first.lease.api is first.loop.actuator.api
        lease = cluster.objects[LEASES, "agentdash", "agentdash-leader"]
        assert lease["spec"]["holderIdentity"] == first.lease.holder
        assert second.loop.snapshot().leader == first.lease.holder
        with pytest.raises(nats.js.errors.BucketNotFoundError):
            await nc.jetstream().key_value("agentdash_leader")

        await first.stop()  # releases the Lease: the other takes over at its next renewal
        await second.loop.tick()
        assert second.loop.leading
        lease = cluster.objects[LEASES, "agentdash", "agentdash-leader"]
        assert lease["spec"]["holderIdentity"] == second.lease.holder
    finally:
        await second.stop()


async def test_a_read_only_dashboard_at_a_one_second_ttl_reads_who_holds_the_lease(
    cluster: Emulator, leased: Leased
) -> None:
    """It never holds the Lease, so none of a holder's margin is taken from its TTL: at 1 s it
    reads the Lease, names its holder, and writes nothing to it."""
    config, options = leased
    daemon = await start(config, replace(options, holder="daemon"))
    dashboard = await start(
        config, replace(options, holder="dashboard", lease_ttl=1, lead=False, read_only=True)
    )
    try:
        await daemon.loop.tick()
        await dashboard.loop.tick()
        assert dashboard.loop.snapshot().leader == "daemon"
        assert not dashboard.loop.leading
        lease = cluster.objects[LEASES, "agentdash", "agentdash-leader"]
        assert lease["spec"]["holderIdentity"] == "daemon"
        assert lease["spec"]["leaseDurationSeconds"] == 5
    finally:
        await dashboard.stop()
        await daemon.stop()


def lease_refusals(exposed: bytes) -> list[str]:
    return [
        line
        for line in exposed.decode().splitlines()
        if line.startswith('agentdash_bad_messages_total{source="lease"}')
    ]


async def test_a_lease_duration_that_is_no_ttl_is_counted_in_the_readers_metrics(
    cluster: Emulator, leased: Leased, caplog: pytest.LogCaptureFixture
) -> None:
    """A Lease forged to a billion seconds: the dashboard that reads it counts each read in
    `agentdash_bad_messages_total{source="lease"}` (0 until then) and says it in one warning,
    the Lease's own, not a second line from the count."""
    caplog.set_level(logging.WARNING)
    config, options = leased
    daemon = await start(config, replace(options, holder="daemon"))
    dashboard = await start(config, replace(options, holder="dashboard", lead=False))
    try:
        await daemon.loop.tick()
        await dashboard.loop.tick()
        zero = ['agentdash_bad_messages_total{source="lease"} 0.0']
        assert lease_refusals(dashboard.metrics.render()) == zero

        await forge(cluster, 10**9)
        await dashboard.loop.tick()
        await dashboard.loop.tick()
        assert dashboard.loop.snapshot().leader == "daemon"
        exposed = dashboard.metrics.render()
        assert lease_refusals(exposed) == ['agentdash_bad_messages_total{source="lease"} 2.0']
        assert lease_refusals(daemon.metrics.render()) == zero  # it leads: it reads none
    finally:
        await dashboard.stop()
        await daemon.stop()
    said = [r.getMessage() for r in caplog.records if "1000000000" in r.getMessage()]
    assert said == [
        "Lease agentdash/agentdash-leader: spec.leaseDurationSeconds is 1000000000, expected"
        " whole seconds from 1 to 3600; daemon's lease is judged by this process's"
        " --lease-ttl (5 s)"
    ]
    assert not [r for r in caplog.records if r.name == "agentdash.bad_messages"]
