"""The scale PATCH is fenced by the resourceVersion the decision was read at: a write that
lands after anyone else changed the Deployment is refused (409), never retried, and the pool
is decided again; the scaler's own writes never fence out its next scale."""

from __future__ import annotations

import asyncio
import json

import pytest
from kmock import KubernetesEmulator, Request

from controller.core.model import Reason, ScaleConflict, ScaleDecision
from tests.support.kmock import DEPLOYMENTS, Emulator, MakeScaler, Naps, deployment

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/web/scale"
NOW = 1767607200.0


def decision(current: int, desired: int) -> ScaleDecision:
    return ScaleDecision(
        pool="web",
        tenant="acme",
        current=current,
        desired=desired,
        reasons=(Reason(rule="demand", template="lag {} -> {}", args=(desired, desired)),),
    )


@pytest.fixture
def web(cluster: KubernetesEmulator) -> KubernetesEmulator:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2, version="v0")
    return cluster


def sent(cluster: KubernetesEmulator) -> list[object]:
    """Each scale PATCH as it was sent (the emulator stamps its new version in `r.data`)."""
    return [json.loads(r.body) for r in cluster["patch"] if r.url.path == SCALE_PATH]


def replicas(cluster: KubernetesEmulator) -> int:
    return int(cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"])


async def test_the_scale_names_the_version_it_was_decided_on(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler()
    await scaler.observe()

    await scaler.scale_with_reason("web", 5, decision(2, 5), NOW)

    assert sent(web) == [{"spec": {"replicas": 5}, "metadata": {"resourceVersion": "v0"}}]
    assert replicas(web) == 5


async def test_a_scale_after_another_writer_changed_it_is_refused_once_and_not_retried(
    web: KubernetesEmulator, make_scaler: MakeScaler, naps: Naps
) -> None:
    scaler = make_scaler()
    await scaler.observe()
    # Another writer (a new leader) scales it; this scaler's watch has not seen it yet.
    web.objects[DEPLOYMENTS, "agents", "web"].patch(
        {"metadata": {"resourceVersion": "v9"}, "spec": {"replicas": 7}}
    )

    with pytest.raises(ScaleConflict, match="changed since it was read"):
        await scaler.scale_with_reason("web", 5, decision(2, 5), NOW)

    assert replicas(web) == 7  # the other writer's
    assert len(sent(web)) == 1  # asked again, it would be refused again
    assert naps.delays == []
    assert len(web["patch"]) == 1  # no annotation
    assert len(web["post"]) == 0  # no Event
    assert "web" in await scaler.observe()  # nothing wrong with the pool: decided again


async def test_a_decision_on_replicas_the_cache_no_longer_has_is_not_sent(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    scaler = make_scaler()
    await scaler.observe()

    with pytest.raises(ScaleConflict, match="has 2 replicas now, not the 4 decided on"):
        await scaler.scale_with_reason("web", 6, decision(4, 6), NOW)

    assert len(web["patch"]) == 0


async def no_watch(request: Request) -> None:
    """A watch that never delivers: the scaler knows only the list and its own answers."""
    if request.params.get("watch") == "true":
        await asyncio.Event().wait()


@pytest.mark.parametrize("annotate", [True, False])
async def test_the_scalers_own_writes_never_fence_out_its_next_scale(
    web: Emulator, make_scaler: MakeScaler, annotate: bool
) -> None:
    web.faults.append(no_watch)
    scaler = make_scaler(annotate=annotate)
    await scaler.observe()

    # Back to back: each scale and annotation moves the version on, and the next scale is
    # sent at the version the last write answered (the watch says nothing here).
    await scaler.scale_with_reason("web", 5, decision(2, 5), NOW)
    await scaler.scale_with_reason("web", 3, decision(5, 3), NOW + 1)
    await scaler.scale("web", 4)

    assert [p["spec"]["replicas"] for p in sent(web)] == [5, 3, 4]  # type: ignore[index]
    assert replicas(web) == 4
