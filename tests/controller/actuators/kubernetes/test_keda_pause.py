"""take_over on a Deployment KEDA scales: agentdash pauses the ScaledObject before its first
scale lands, and gives it back (removes the pause) when it stops managing the pool."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kmock import KubernetesEmulator, Request

from controller.actuators.kubernetes import PoolUnavailable
from controller.actuators.kubernetes.keda import PAUSED, PAUSED_FOR, PAUSED_REPLICAS, is_paused
from tests.support.kmock import (
    DEPLOYMENTS,
    HPAS,
    SCALED_OBJECTS,
    MakeScaler,
    deployment,
    hpa,
    refuse,
    scaled_object,
)

SO_PATH = "/apis/keda.sh/v1alpha1/namespaces/agents/scaledobjects/web-queue"
SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
SO = (SCALED_OBJECTS, "agents", "web-queue")


@pytest.fixture
def web(cluster: KubernetesEmulator) -> KubernetesEmulator:
    """Deployment agents/web at 2 replicas, scaled by KEDA (its ScaledObject and its HPA)."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    cluster.objects[SO] = annotated(scaled_object("web-queue", "web"), {"team": "search"})
    cluster.objects[HPAS, "agents", "keda-hpa-web-queue"] = hpa("keda-hpa-web-queue", "web")
    return cluster


def annotated(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    obj["metadata"]["annotations"] = annotations
    return obj


def annotations_of(cluster: KubernetesEmulator) -> dict[str, str]:
    return dict(cluster.objects[SO]["metadata"].get("annotations") or {})


def patched_paths(cluster: KubernetesEmulator) -> list[str]:
    return [r.url.path for r in cluster["patch"] if r.url.path in (SO_PATH, SCALE_PATH)]


async def test_the_scaled_object_is_paused_before_the_first_scale_lands(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    seen_by_the_scale: list[dict[str, str]] = []

    async def look(request: Request) -> None:
        if request.method == "PATCH" and request.url.path == SCALE_PATH:
            seen_by_the_scale.append(annotations_of(web))

    web.faults.append(look)
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    await scaler.scale("web", 5)

    paused = {"team": "search", PAUSED: "true", PAUSED_FOR: "web"}
    assert seen_by_the_scale == [paused]  # KEDA was paused when the scale arrived
    assert patched_paths(web) == [SO_PATH, SCALE_PATH]
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 5
    assert annotations_of(web) == paused


async def test_it_is_paused_once_however_often_the_pool_is_scaled(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    for replicas in (5, 7, 3):
        await scaler.scale("web", replicas)

    assert patched_paths(web) == [SO_PATH, SCALE_PATH, SCALE_PATH, SCALE_PATH]


async def test_release_gives_it_back_to_keda_leaving_other_annotations(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()
    await scaler.scale("web", 5)

    await scaler.release()
    await scaler.release()  # nothing left to give back: no second write

    assert annotations_of(web) == {"team": "search"}
    assert not is_paused(web.objects[SO])
    assert patched_paths(web) == [SO_PATH, SCALE_PATH, SO_PATH]
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 5  # left as is


async def test_a_clean_stop_gives_it_back(web: KubernetesEmulator, make_scaler: MakeScaler) -> None:
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()
    await scaler.scale("web", 5)

    await scaler.close()

    assert annotations_of(web) == {"team": "search"}


async def test_a_pause_an_earlier_agentdash_left_is_kept_and_given_back(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.objects[SO] = annotated(
        scaled_object("web-queue", "web"), {PAUSED: "true", PAUSED_FOR: "web"}
    )  # by the previous leader, which stopped without giving it back
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    await scaler.scale("web", 5)
    assert patched_paths(web) == [SCALE_PATH]

    await scaler.release()
    assert annotations_of(web) == {}


async def test_a_scaled_object_a_person_paused_stays_paused(
    web: KubernetesEmulator, make_scaler: MakeScaler, caplog: pytest.LogCaptureFixture
) -> None:
    web.objects[SO] = annotated(scaled_object("web-queue", "web"), {PAUSED_REPLICAS: "4"})
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    with caplog.at_level(logging.WARNING, logger="agentdash.kube"):
        await scaler.scale("web", 5)
        await scaler.release()

    assert patched_paths(web) == [SCALE_PATH]
    assert annotations_of(web) == {PAUSED_REPLICAS: "4"}
    assert "is paused at 4 replicas (autoscaling.keda.sh/paused-replicas)" in caplog.text


async def test_when_the_pause_is_refused_the_pool_is_not_scaled(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.faults.append(refuse("PATCH", SO_PATH, 403, "scaledobjects is forbidden"))
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    with pytest.raises(PoolUnavailable, match="pause KEDA ScaledObject agents/web-queue: 403"):
        await scaler.scale("web", 5)

    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 2
    assert "agentdash rbac --config FILE" in scaler.problems["web"]
    states = await scaler.observe()
    assert "web" in scaler.problems  # not tried again until the recheck
    assert states["web"].replicas == 2  # its replicas read all the same


async def test_a_dry_run_pauses_nothing(web: KubernetesEmulator, make_scaler: MakeScaler) -> None:
    scaler = make_scaler(take_over={"web"}, dry_run=True)
    await scaler.observe()

    await scaler.scale("web", 5)
    await scaler.close()

    assert patched_paths(web) == []
    assert annotations_of(web) == {"team": "search"}


async def test_only_the_scaled_objects_of_the_taken_over_deployment_are_paused(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.objects[SCALED_OBJECTS, "agents", "api-queue"] = scaled_object("api-queue", "api")
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    await scaler.scale("web", 5)

    assert not is_paused(web.objects[SCALED_OBJECTS, "agents", "api-queue"])
    assert patched_paths(web) == [SO_PATH, SCALE_PATH]


@pytest.mark.parametrize(
    ("annotations", "paused"),
    [
        ({}, False),
        ({PAUSED: "true"}, True),
        ({PAUSED: "false"}, False),  # KEDA's documented way to resume
        ({PAUSED: "0"}, False),  # as Go's strconv.ParseBool reads it
        ({PAUSED: "yes"}, True),  # KEDA pauses on any value that is not a boolean
        ({PAUSED_REPLICAS: "0"}, True),
    ],
)
def test_paused_reads_the_annotations_as_keda_does(
    annotations: dict[str, str], paused: bool
) -> None:
    assert is_paused(annotated(scaled_object("q", "web"), annotations)) is paused


async def test_a_pause_left_after_take_over_was_dropped_is_said_with_the_fix(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.objects[SO] = annotated(
        scaled_object("web-queue", "web"), {PAUSED: "true", PAUSED_FOR: "web"}
    )  # agentdash stopped uncleanly, and the pool's take_over was removed since
    scaler = make_scaler()

    await scaler.observe()
    assert scaler.problems["web"] == (
        "Deployment agents/web: KEDA ScaledObject agents/web-queue is still paused by agentdash "
        "(take_over is no longer set); remove its annotation autoscaling.keda.sh/paused to give "
        "it back to KEDA, or set pools.web.take_over: true again"
    )
    await scaler.close()
    assert patched_paths(web) == []  # not its to give back: a person decides


async def test_a_pause_that_fails_for_now_holds_the_scale_until_it_lands(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    down = refuse("PATCH", SO_PATH, 503, "etcd is unavailable")
    web.faults.append(down)
    scaler = make_scaler(take_over={"web"})
    await scaler.observe()

    with pytest.raises(PoolUnavailable, match=r"cannot pause KEDA: .* 503 etcd is unavailable"):
        await scaler.scale("web", 5)
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 2
    assert "web" in await scaler.observe()  # still observed: tried again at the next tick

    web.faults.remove(down)
    await scaler.scale("web", 5)
    assert annotations_of(web)[PAUSED] == "true"
    assert web.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 5
