"""events_of(): the Events of a pool's Deployment or of one of its pods, read over HTTP as
`kubectl describe` reads them, for the dashboard's drill-down."""

from __future__ import annotations

from typing import Any

import pytest
from kmock import KubernetesEmulator

from controller.actuators.kubernetes.cluster_events import SHOWN
from controller.actuators.kubernetes.objects import SAID_CHARS
from controller.core.model import ClusterEvent, SourceError
from tests.support.kmock import DEPLOYMENTS, MakeScaler, deployment, refuse

EVENTS = "v1/events"
EVENTS_PATH = "/api/v1/namespaces/agents/events"


def event(name: str, kind: str, about: str, reason: str, at: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "agents"},
        "involvedObject": {"kind": kind, "name": about, "namespace": "agents"},
        "reason": reason,
        "type": "Normal",
        "message": f"{reason} of {about}",
        "source": {"component": "deployment-controller"},
        "lastTimestamp": at,
        **fields,
    }


@pytest.fixture
def web(cluster: KubernetesEmulator) -> KubernetesEmulator:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    return cluster


async def test_a_deployments_events_are_its_own_oldest_first(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    """The emulator ignores field selectors, as some servers do: another object's Events
    are left out here too."""
    for item in (
        event("b", "Deployment", "web", "ScalingReplicaSet", "2026-01-05T10:02:00Z"),
        event("a", "Deployment", "web", "AgentdashRescale", "2026-01-05T10:01:00Z"),
        event("c", "Deployment", "db", "ScalingReplicaSet", "2026-01-05T10:03:00Z"),
        event("d", "Pod", "web", "Started", "2026-01-05T10:04:00Z"),
    ):
        web.objects[EVENTS, "agents", item["metadata"]["name"]] = item
    scaler = make_scaler()

    events = await scaler.events_of("web")

    assert [(e.reason, e.last_seen) for e in events] == [
        ("AgentdashRescale", 1767607260.0),
        ("ScalingReplicaSet", 1767607320.0),
    ]
    assert events[0].source == "deployment-controller"


async def test_a_pods_events_say_why_it_waits(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    warning = event(
        "w",
        "Pod",
        "web-a",
        "FailedScheduling",
        "2026-01-05T10:05:00Z",
        type="Warning",
        message="0/3 nodes are available: 3 Insufficient cpu.",
        source={"component": "default-scheduler"},
        count=7,
    )
    web.objects[EVENTS, "agents", "w"] = warning
    scaler = make_scaler()

    assert await scaler.events_of("web", "web-a") == [
        ClusterEvent(
            last_seen=1767607500.0,
            type="Warning",
            reason="FailedScheduling",
            message="0/3 nodes are available: 3 Insufficient cpu.",
            source="default-scheduler",
            count=7,
        )
    ]
    assert await scaler.events_of("web", "web-b") == []


async def test_what_does_not_read_as_an_event_is_left_out_and_the_rest_bounded(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    at = "2026-01-05T10:00:00Z"
    broken = [
        event("no-time", "Deployment", "web", "X", "not a time"),
        event("no-reason", "Deployment", "web", "", at),
        {**event("list-reason", "Deployment", "web", "X", at), "reason": ["X"]},
        {"metadata": {"name": "bare"}, "involvedObject": "web"},
    ]
    huge = event(
        "huge", "Deployment", "web", "R" * 9000, at, message="m" * 9000, count=10**12, type=7
    )
    for item in [*broken, huge]:
        web.objects[EVENTS, "agents", item["metadata"]["name"]] = item
    many = [
        event(f"e{i:03d}", "Deployment", "web", "ScalingReplicaSet", f"2026-01-05T11:{i:02d}:00Z")
        for i in range(SHOWN + 5)
    ]
    scaler = make_scaler()
    [kept] = await scaler.events_of("web")
    assert (len(kept.reason), len(kept.message), kept.count) == (SAID_CHARS, SAID_CHARS, 10**9)
    assert kept.type == "Normal"

    for item in many:
        web.objects[EVENTS, "agents", item["metadata"]["name"]] = item
    events = await scaler.events_of("web")
    assert len(events) == SHOWN
    assert events[-1].last_seen > events[0].last_seen  # the newest kept


async def test_a_refused_read_is_a_source_error_naming_the_object(
    web: KubernetesEmulator, make_scaler: MakeScaler
) -> None:
    web.faults.append(refuse("GET", EVENTS_PATH, 403, 'events is forbidden: cannot list "events"'))
    scaler = make_scaler()
    with pytest.raises(SourceError, match=r"Events of Deployment agents/web.*forbidden"):
        await scaler.events_of("web")
