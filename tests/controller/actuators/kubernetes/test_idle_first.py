"""Idle pods first: before a scale-down, the scaler marks the pods the workers report idle with
a low `controller.kubernetes.io/pod-deletion-cost` (the ReplicaSet deletes them first),
removes its stale marks from pods busy again, and never lets any of it stand in the way of
the scale."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from controller.actuators.kubernetes.objects import DELETION_COST, IDLE_COST
from controller.core.busy import FORGET_S, BusyPods
from controller.core.config import Config
from tests.support import FakeClock
from tests.support.kmock import (
    DEPLOYMENTS,
    PODS,
    Emulator,
    MakeScaler,
    deployment,
    hang,
    observe_until,
    pod,
    refuse,
    web_fleet,
)

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
PODS_PATH = "/api/v1/namespaces/agents/pods/"


def annotated(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}


def web_with_pods(cluster: Emulator, busy: dict[str, int], marked: dict[str, str]) -> None:
    """Deployment web at len(busy) replicas, its pods ready; `marked`: their annotations."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=len(busy))
    for name in busy:
        ready = pod(name, "web", phase="Running", ready=True)
        if name in marked:
            ready = annotated(ready, {DELETION_COST: marked[name]})
        cluster.objects[PODS, "agents", name] = ready


def reported(cfg: Config, busy: dict[str, int], now: float) -> BusyPods:
    ledger = BusyPods(cfg)
    for name, tasks in busy.items():
        ledger.report("web", name, tasks, now)
    return ledger


def patches(cluster: Emulator) -> list[tuple[str, Any]]:
    """The PATCH requests served, in order: (what, body)."""
    return [
        (r.url.path.removeprefix(PODS_PATH) if r.url.path != SCALE_PATH else "scale", r.data)
        for r in cluster["patch"]
        if r.url.path == SCALE_PATH or r.url.path.startswith(PODS_PATH)
    ]


def cost(cluster: Emulator, name: str) -> str | None:
    annotations = cluster.objects[PODS, "agents", name]["metadata"].get("annotations") or {}
    return annotations.get(DELETION_COST)


async def test_a_scale_down_marks_exactly_the_idle_pods_before_the_scale(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    busy = {"web-a": 0, "web-b": 1, "web-c": 0, "web-d": 3}
    web_with_pods(cluster, busy, {})
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=reported(cfg, busy, clock()))
    await observe_until(scaler, lambda states: states["web"].ready == 4)

    await scaler.scale("web", 2)

    *marks, scale = patches(cluster)  # the marks first, then the scale
    assert scale == ("scale", {"spec": {"replicas": 2}})
    mark = {"metadata": {"annotations": {DELETION_COST: IDLE_COST}}}
    assert sorted(marks) == [("web-a", mark), ("web-c", mark)]
    assert [cost(cluster, name) for name in busy] == [IDLE_COST, None, IDLE_COST, None]
    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 2


async def test_a_stale_mark_on_a_busy_pod_is_removed_and_a_persons_cost_is_left_alone(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    # web-b was marked idle by an earlier scale-down that left it; it has work now.
    busy = {"web-a": 0, "web-b": 2, "web-c": 1, "web-d": 1}
    web_with_pods(cluster, busy, {"web-b": IDLE_COST, "web-d": "500"})
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=reported(cfg, busy, clock()))
    await observe_until(scaler, lambda states: states["web"].ready == 4)

    await scaler.scale("web", 3)

    assert [what for what, _ in patches(cluster)] == ["web-b", "web-a", "scale"]
    assert [cost(cluster, name) for name in busy] == [IDLE_COST, None, None, "500"]


async def test_pods_that_are_not_ready_go_first_without_a_mark(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    busy = {"web-a": 0, "web-b": 1, "web-c": 0}
    web_with_pods(cluster, busy, {})
    cluster.objects[PODS, "agents", "web-s"] = pod("web-s", "web")  # Pending, not ready
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=4)
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=reported(cfg, busy, clock()))
    await observe_until(scaler, lambda states: len(states["web"].pods) == 4)

    await scaler.scale("web", 2)  # two victims: the pending pod, and one idle pod

    [(marked, _), (scale, _)] = patches(cluster)
    assert marked in {"web-a", "web-c"}
    assert scale == "scale"


async def test_without_busy_reports_a_scale_down_is_as_before(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    busy = {"web-a": 0, "web-b": 0}
    web_with_pods(cluster, busy, {})
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=BusyPods(cfg))  # no worker has said anything
    await observe_until(scaler, lambda states: states["web"].ready == 2)

    await scaler.scale("web", 1)

    assert patches(cluster) == [("scale", {"spec": {"replicas": 1}})]


@pytest.mark.parametrize(("status", "message"), [(500, "etcd is slow"), (403, "pods is forbidden")])
async def test_a_failing_mark_still_scales(
    cluster: Emulator,
    make_scaler: MakeScaler,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    message: str,
) -> None:
    busy = {"web-a": 0, "web-b": 0, "web-c": 1}
    web_with_pods(cluster, busy, {})
    cluster.faults.append(refuse("PATCH", PODS_PATH + "web-b", status, message))
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=reported(cfg, busy, clock()))
    await observe_until(scaler, lambda states: states["web"].ready == 3)

    await scaler.scale("web", 1)

    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 1
    assert "scaling down without marking idle pods first" in caplog.text
    assert message in caplog.text


async def test_a_hung_mark_still_scales_by_the_deadline(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "agentdash.kube")
    busy = {"web-a": 0, "web-b": 1}
    web_with_pods(cluster, busy, {})
    cluster.faults.append(hang("PATCH", PODS_PATH + "web-a"))
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=reported(cfg, busy, clock()), deadline_s=1.0)
    await observe_until(scaler, lambda states: states["web"].ready == 2)

    await scaler.scale("web", 1)  # the marks had half the deadline; the scale the rest

    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 1
    assert "no answer within" in caplog.text


async def test_a_refused_mark_is_not_asked_again_at_every_scale_down(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    busy = {"web-a": 0, "web-b": 0, "web-c": 0}
    web_with_pods(cluster, busy, {})
    cluster.faults.append(refuse("PATCH", PODS_PATH + "web-c", 403, "pods is forbidden"))
    cluster.faults.append(refuse("PATCH", PODS_PATH + "web-b", 403, "pods is forbidden"))
    cluster.faults.append(refuse("PATCH", PODS_PATH + "web-a", 403, "pods is forbidden"))
    cfg = web_fleet()
    scaler = make_scaler(cfg, busy=reported(cfg, busy, clock()))
    await observe_until(scaler, lambda states: states["web"].ready == 3)

    await scaler.scale("web", 2)
    await scaler.scale("web", 1)  # the Role lacks `patch pods`: not asked again for a while

    assert [what for what, _ in patches(cluster)] == ["web-a", "scale", "scale"]
    assert "`agentdash rbac` grants `patch pods`" in caplog.text
    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 1


async def test_the_pods_say_the_tasks_their_workers_report_in_hand(
    cluster: Emulator, make_scaler: MakeScaler, clock: FakeClock
) -> None:
    """The Pods screen and describe show what the busy reports say: on Kubernetes every pod
    read "-" and "none in flight", and describe "0 busy", whatever its worker reported."""
    busy = {"web-a": 0, "web-b": 2}
    web_with_pods(cluster, busy, {})
    cluster.objects[PODS, "agents", "web-c"] = pod("web-c", "web", phase="Running", ready=True)
    cfg = web_fleet()
    ledger = reported(cfg, busy, clock())
    scaler = make_scaler(cfg, busy=ledger)

    states = await observe_until(scaler, lambda states: len(states["web"].pods) == 3)

    tasks = {p.name: p.task for p in states["web"].pods}
    assert tasks == {"web-a": None, "web-b": "2 in hand", "web-c": None}  # web-c never said
    clock.advance(FORGET_S)  # web-b silent since: perhaps a lost report, no longer known
    ledger.report("web", "web-a", 1, clock())
    states = await observe_until(scaler, lambda states: len(states["web"].pods) == 3)
    assert {p.name: p.task for p in states["web"].pods} == {
        "web-a": "1 in hand", "web-b": None, "web-c": None
    }  # fmt: skip
