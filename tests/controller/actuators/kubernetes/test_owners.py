"""Another autoscaler's Deployment is left alone unless the pool says to take it over."""

from __future__ import annotations

import logging

import pytest
from kmock import KubernetesEmulator, KubernetesError

from controller.actuators.kubernetes import PoolUnavailable, Timing
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.kmock import (
    DEPLOYMENTS,
    HPAS,
    SCALED_OBJECTS,
    MakeScaler,
    deployment,
    hang,
    hpa,
    observe_until,
    scaled_object,
)


@pytest.fixture
def web(cluster: KubernetesEmulator) -> KubernetesEmulator:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    return cluster


async def test_a_deployment_an_hpa_scales_is_skipped_with_the_reason(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.objects[HPAS, "agents", "web-cpu"] = hpa("web-cpu", "web")
    web.objects[HPAS, "agents", "other"] = hpa("other", "not-web")
    scaler = make_scaler()

    assert (await scaler.observe())["web"].replicas == 2  # read, though not scaled
    assert scaler.problems["web"] == (
        "Deployment agents/web is scaled by HorizontalPodAutoscaler agents/web-cpu; agentdash "
        "leaves it alone (set pools.web.take_over: true to scale it anyway)"
    )
    with pytest.raises(PoolUnavailable, match="HorizontalPodAutoscaler agents/web-cpu"):
        await scaler.scale("web", 5)
    assert len(web["patch"]) == 0


async def test_a_deployment_a_keda_scaled_object_scales_is_skipped(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.objects[SCALED_OBJECTS, "agents", "web-queue"] = scaled_object("web-queue", "web")
    web.objects[HPAS, "agents", "keda-hpa-web-queue"] = hpa("keda-hpa-web-queue", "web")
    scaler = make_scaler()

    assert (await scaler.observe())["web"].replicas == 2
    assert "is scaled by KEDA ScaledObject agents/web-queue" in scaler.problems["web"]
    with pytest.raises(PoolUnavailable):
        await scaler.scale("web", 5)
    assert len(web["patch"]) == 0


async def test_take_over_scales_it_anyway_and_warns_once(
    web: KubernetesEmulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    web.objects[HPAS, "agents", "web-cpu"] = hpa("web-cpu", "web")
    scaler = make_scaler(take_over={"web"})

    with caplog.at_level(logging.WARNING, logger="agentdash.kube"):
        assert (await scaler.observe())["web"].replicas == 2
        await scaler.scale("web", 5)

    assert next(r.url.path for r in web["patch"]).endswith("/deployments/web/scale")
    assert scaler.problems == {}
    assert caplog.text.count("taking over Deployment agents/web") == 1


async def test_an_hpa_created_later_stops_agentdash_scaling_it(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler()
    await scaler.observe()
    assert scaler.problems == {}

    async with web.post(
        "/apis/autoscaling/v2/namespaces/agents/horizontalpodautoscalers", json=hpa("late", "web")
    ) as response:
        assert response.status == 200

    await observe_until(scaler, lambda states: "web" in scaler.problems)
    assert "HorizontalPodAutoscaler agents/late" in scaler.problems["web"]


async def test_when_hpas_cannot_be_read_the_pool_is_not_scaled(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web[web.resource(HPAS)] << KubernetesError(
        403, "Forbidden", "horizontalpodautoscalers is forbidden"
    )
    scaler = make_scaler()

    await scaler.observe()
    assert scaler.problems["web"].startswith(
        "cannot tell whether another autoscaler scales Deployment agents/web"
    )


async def test_take_over_scales_past_unread_hpas_but_not_past_unread_scaled_objects(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    """An HPA has no switch to pause, so take_over needs none read; a ScaledObject must be
    read to be paused before the scale."""
    web.resources[SCALED_OBJECTS] = {}
    web[web.resource(HPAS)] << KubernetesError(403, "Forbidden", "hpas are forbidden")
    taking = make_scaler(take_over={"web"})
    await taking.observe()
    assert taking.problems == {}

    web[web.resource(SCALED_OBJECTS)] << KubernetesError(403, "Forbidden", "keda is forbidden")
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()
    assert scaler.problems["web"].startswith(
        "cannot tell whether another autoscaler scales Deployment agents/web: "
        "list scaledobjects.keda.sh in namespace agents: 403 keda is forbidden"
    )


OLD_HPAS = "autoscaling/v2beta2/horizontalpodautoscalers"


async def test_a_cluster_without_autoscaling_v2_is_read_through_v2beta2(
    cluster: KubernetesEmulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    """Kubernetes before 1.23 serves HPAs as autoscaling/v2beta2 only: v2 answers 404."""
    del cluster.resources[HPAS]
    cluster.resources[OLD_HPAS] = {}
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    cluster.objects[DEPLOYMENTS, "agents", "legacy"] = deployment("legacy", replicas=2)
    cluster.objects[OLD_HPAS, "agents", "legacy-cpu"] = {
        **hpa("legacy-cpu", "legacy"),
        "apiVersion": "autoscaling/v2beta2",
    }
    scaler = make_scaler(config({"web": pool("acme"), "legacy": pool("acme")}))

    with caplog.at_level(logging.INFO, logger="agentdash.kube"):
        states = await scaler.observe()

    assert (states["web"].replicas, states["legacy"].replicas) == (2, 2)
    assert "web" not in scaler.problems
    assert "is scaled by HorizontalPodAutoscaler agents/legacy-cpu" in scaler.problems["legacy"]
    assert caplog.text.count("autoscaling/v2 is not served here; reading them through") == 1


async def test_a_cluster_serving_no_hpa_version_says_so_once_and_scales(
    cluster: KubernetesEmulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    del cluster.resources[HPAS]
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    scaler = make_scaler()

    with caplog.at_level(logging.INFO, logger="agentdash.kube"):
        assert (await scaler.observe())["web"].replicas == 2
        await scaler.scale("web", 3)

    assert scaler.problems == {}
    assert caplog.text.count("cannot tell whether an HPA scales a pool's Deployment") == 1


SCALED_OBJECTS_PATH = "/apis/keda.sh/v1alpha1/namespaces/agents/scaledobjects"


async def test_a_keda_probe_that_times_out_leaves_no_pool_stale(
    web: KubernetesEmulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    """No KEDA here (its CRD answers 404): remembered as absent. Asked again later, the API
    does not answer in time: the last answer stands, with one warning, not one per pool."""
    web.objects[DEPLOYMENTS, "agents", "chat"] = deployment("chat", replicas=1)
    fleet = config({"web": pool("acme"), "chat": pool("acme")})
    scaler = make_scaler(fleet, deadline_s=0.3, timing=Timing(absent_recheck_s=0.05))
    assert set(await scaler.observe()) == {"web", "chat"}
    web.faults.append(hang("GET", SCALED_OBJECTS_PATH))
    asked = len([r for r in web["get"] if r.url.path == SCALED_OBJECTS_PATH])

    with caplog.at_level(logging.INFO, logger="agentdash.kube"):

        async def probed_twice_more() -> bool:
            assert set(await scaler.observe()) == {"web", "chat"}  # at every observation
            assert scaler.problems == {}
            probes = [r for r in web["get"] if r.url.path == SCALED_OBJECTS_PATH]
            return len(probes) >= asked + 2

        await eventually(probed_twice_more, timeout=10)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "cannot read scaledobjects.keda.sh in namespace agents again: list scaledobjects.keda.sh "
        "in namespace agents: no answer within the 0.3 s deadline; keeping what was last read "
        "(not installed)"
    ]
    await scaler.scale("web", 4)  # and it scales
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 4


async def test_keda_installed_later_is_found_at_the_next_probe(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler(timing=Timing(absent_recheck_s=0.05))
    await scaler.observe()
    assert scaler.problems == {}

    web.resources[SCALED_OBJECTS] = {}  # the CRD is installed, and a ScaledObject made
    web.objects[SCALED_OBJECTS, "agents", "web-queue"] = scaled_object("web-queue", "web")

    await observe_until(scaler, lambda states: "web" in scaler.problems)
    assert "is scaled by KEDA ScaledObject agents/web-queue" in scaler.problems["web"]
