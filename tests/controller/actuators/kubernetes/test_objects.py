"""The pure readings of Kubernetes objects: which pods are a pool's, how a pod is shown, who
else scales a Deployment."""

from __future__ import annotations

from typing import Any

import pytest

from controller.actuators.kubernetes.objects import other_scaler, pod_view, selector_matches
from controller.core.model import Pod


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "pod-template-hash": "abc"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web-canary"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            {"tier": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {"app": "web"}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, {}, True),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
            },
            {"app": "web", "canary": "1"},
            False,
        ),
        ({}, {"app": "web"}, False),  # an empty selector would take the whole namespace
        (None, {"app": "web"}, False),
    ],
)
def test_a_deployments_selector_picks_its_pods(
    selector: Any, labels: dict[str, str], selected: bool
) -> None:
    assert selector_matches(selector, labels) is selected


def test_a_pod_being_deleted_shows_as_terminating_and_not_ready() -> None:
    obj = {
        "metadata": {
            "name": "web-a",
            "deletionTimestamp": "2026-01-05T10:05:00Z",
            "creationTimestamp": "2026-01-05T10:00:00Z",
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-01-05T10:00:02Z",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    assert pod_view(obj, "web", now=0.0) == Pod("web-a", "web", "Terminating", False, 1767607202.0)


def test_only_a_deployment_target_counts_as_another_scaler() -> None:
    statefulset_hpa = {
        "metadata": {"name": "db"},
        "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "web"}},
    }
    assert other_scaler("agents", "web", [statefulset_hpa], []) is None


def pending(status: dict[str, Any]) -> Pod:
    obj = {"metadata": {"name": "web-b", "creationTimestamp": "2026-01-05T10:00:00Z"}}
    return pod_view({**obj, "status": {"phase": "Pending", **status}}, "web", now=0.0)


def test_a_pod_that_cannot_be_scheduled_says_why_in_the_apis_words() -> None:
    said = "0/3 nodes are available: 3 Insufficient cpu."
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": said}  # fmt: skip
    pod = pending({"conditions": [condition]})
    assert (pod.phase, pod.ready, pod.waiting, pod.waiting_message) == (
        "Pending", False, "Unschedulable", said
    )  # fmt: skip


def test_a_containers_waiting_reason_comes_first_as_k9s_shows_it() -> None:
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "agent:v9"'}
    pod = pending(
        {
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "agent", "state": {"waiting": waiting}}],
        }
    )
    assert (pod.waiting, pod.waiting_message) == (waiting["reason"], waiting["message"])


@pytest.mark.parametrize(
    "status",
    [
        {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        {"containerStatuses": "not a list", "conditions": [None, 7, "x"]},
        {"containerStatuses": [{"state": {"waiting": "not a dict"}}, None]},
        {"containerStatuses": [{"state": {"running": {"startedAt": "2026-01-05T10:00:01Z"}}}]},
    ],
    ids=["running", "garbage lists", "garbage waiting", "running container"],
)
def test_nothing_waits_unless_the_api_says_so_in_shape(status: dict[str, Any]) -> None:
    assert pending(status).waiting is None


def test_what_the_api_says_is_kept_short() -> None:
    condition = {"type": "PodScheduled", "status": "False", "message": "x" * 100_000}
    pod = pending({"conditions": [condition]})
    assert pod.waiting == "Unschedulable"
    assert len(pod.waiting_message) == 500
